"""Real lab runs for the report tests: three rounds from two vantages, with blocking that changes.

Between rounds the lab re-publishes each name with another scenario of the same service (the
hosts and their certificates stay), as a censor adds, lifts or changes a block.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from censorcheck.lab import Lab, LabThread
from censorcheck.lab.scenarios import BY_NAME
from censorcheck.measure.api import measure_many
from censorcheck.measure.vantages import Vantage
from censorcheck.models import Evidence, Run, Target
from censorcheck.results.report import Column, ReportData, VantageGrid
from censorcheck.results.store import write_run
from censorcheck.settings import Settings

# Each name's scenario in each of the three rounds. All of them serve the static site, so only
# what the censor does changes from round to round.
ROUNDS: dict[str, tuple[str, str, str]] = {
    "news.example.test": ("static", "dns-nxdomain", "dns-nxdomain"),  # blocked from round 2
    "video.example.test": ("tls-sni-reset", "static", "tls-sni-reset"),  # lifted, then again
    "mail.example.test": ("static", "tls-mitm", "dns-zero"),  # blocked, then another method
    "shop.example.test": ("static", "static", "static"),
    "old.example.test": ("static", "static", "gone"),  # down for everyone in round 3
    "blog.example.test": ("http-blockpage", "http-blockpage", "http-blockpage"),
}
CENSORED = Vantage(name="isp-censored", country="ZZ", asn=64500, network_type="home")
FREE = Vantage(name="free-net", country="ZZ", asn=64501, network_type="datacenter")


@dataclass(frozen=True)
class Seen:
    """One result of the run documents, as the report must see it."""

    run: Run
    start: datetime
    vantage: str
    url: str
    status: str
    outcome: str
    confidence: float
    evidence: list[Evidence]


@dataclass
class Made:
    folder: Path
    runs: list[Run]  # in the order made, which is the order of their start
    urls: dict[str, str]  # name → URL

    def seen(self) -> list[Seen]:
        return [
            Seen(
                run,
                utc(run.started_at),
                r.vantage or run.vantage.name,
                r.target.url,
                r.verdict.status,
                r.verdict.outcome,
                r.verdict.confidence,
                r.verdict.evidence,
            )
            for run in self.runs
            for r in run.results
        ]

    def history(self) -> dict[tuple[str, str], list[Seen]]:
        """(url, vantage) → its results, oldest first."""
        found: dict[tuple[str, str], list[Seen]] = defaultdict(list)
        for seen in sorted(self.seen(), key=lambda s: s.start):
            found[seen.url, seen.vantage].append(seen)
        return dict(found)


def utc(text: str) -> datetime:
    """A document's timestamp as the warehouse gives it: naive UTC."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at.astimezone(timezone.utc).replace(tzinfo=None)


def _settings(lab: Lab, about: Vantage) -> Settings:
    return lab.settings(about is CENSORED, vantage=about.name)


def make_runs(folder: Path) -> Made:
    """Measure the three rounds in the lab and write their run documents to ``folder``."""
    entries = [(name, BY_NAME[rounds[0]]) for name, rounds in ROUNDS.items()]
    with LabThread(entries=entries, control=False) as lab:
        urls = {name: lab.topology.url(name) for name in ROUNDS}
        targets = [
            Target(
                url=urls[name], domain=name, category="NEWS" if name.startswith("news") else None
            )
            for name in ROUNDS
        ]
        runs: list[Run] = []
        for i in range(3):
            for name, rounds in ROUNDS.items():
                lab.topology.add(name, BY_NAME[rounds[i]])
            if i < 2:
                # One document per vantage, one after the other.
                for about in (CENSORED, FREE):
                    runs.append(measure_many([(_settings(lab, about), about, targets)]))
            else:
                # One document holding both vantages, measured at once.
                plans = [(_settings(lab, about), about, targets) for about in (CENSORED, FREE)]
                runs.append(measure_many(plans))
    for n, run in enumerate(runs):
        write_run(run, folder / f"run-{n}.json")
    return Made(folder, runs, urls)


def grid(data: ReportData, vantage: str) -> VantageGrid:
    (found,) = [g for g in data.grids if g.vantage == vantage]
    return found


def column_of(data: ReportData, at: datetime) -> Column:
    """The column a run that started at ``at`` falls in."""
    if data.per_run:
        (col,) = [c for c in data.columns if c.start == at]
    else:
        (col,) = [c for c in data.columns if c.start <= at < c.end]
    return col
