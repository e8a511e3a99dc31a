"""Runs that survive a kill, a reboot or a power cut, and can be finished later.

A run with a document path journals every finished target at once (``store.Journal``), after a
header naming the run. ``resume`` reads such a journal back; ``complete`` measures only what is
missing and writes one document in which every target appears exactly once, under the original
``run_id`` and ``started_at``. Nothing here prints.
"""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from censorcheck.errors import CensorcheckError, StoreError, first_error
from censorcheck.measure.api import OnResult, measure_many, utc_now
from censorcheck.measure.controls import OnControl
from censorcheck.measure.verdict.baseline import settle
from censorcheck.models import Result, Run, Summary, Target
from censorcheck.results.store import (
    Journal,
    JournalHeader,
    Repair,
    VantagePlan,
    journal_path,
    output_of_journal,
    read_header,
    read_journal,
    repair_journal,
    write_run,
)
from censorcheck.settings import Settings


@dataclass(frozen=True)
class Pending:
    """A run to do or to finish: who it is, where it goes, what is already measured."""

    header: JournalHeader
    path: Path | None  # the run document; None when it goes to stdout only (no journal)
    done: tuple[Result, ...] = ()
    # The control token travels beside the journal, never in it: a file on disk must not hold a
    # secret that lets anyone spend the server operator's measurements.
    control_token: str | None = None
    repaired: Repair | None = None  # a torn tail cut off the journal when it was read back

    def _with_token(self, settings: Settings) -> Settings:
        if self.control_token is None:
            return settings
        return settings.model_copy(update={"control_token": self.control_token})

    @property
    def settings(self) -> Settings:
        """The settings to measure with: the journal's, with the control token put back."""
        return self._with_token(self.header.settings)

    def vantages(self) -> list[VantagePlan]:
        """Every vantage of the run (one, for a run that named none)."""
        plans = self.header.vantages or [VantagePlan(settings=self.header.settings)]
        return [p.model_copy(update={"settings": self._with_token(p.settings)}) for p in plans]

    def todo_of(self, vantage: str) -> list[Target]:
        """The targets that have no result from ``vantage`` yet, in list order."""
        measured = {r.target.url for r in self.done if _vantage_of(r, self.header) == vantage}
        return [t for t in self.header.targets if t.url not in measured]

    @property
    def todo(self) -> list[Target]:
        """Every (vantage, target) measurement still to make, as targets in list order."""
        return [t for p in self.vantages() for t in self.todo_of(p.settings.vantage)]


def _vantage_of(result: Result, header: JournalHeader) -> str:
    # Results journaled before schema 1.3 name no vantage: they are the run's only one.
    return result.vantage or header.settings.vantage


def _absolute(settings: Settings) -> Settings:
    """Local paths made absolute so a resume works from anywhere; no secret."""
    return settings.model_copy(
        update={
            "ca_bundle": settings.ca_bundle.absolute() if settings.ca_bundle else None,
            "fingerprints": [p.absolute() for p in settings.fingerprints],
            "control_token": None,
        }
    )


def start(
    targets: Sequence[Target],
    settings: Settings,
    path: Path | None,
    started_at: str | None = None,
    vantages: Sequence[VantagePlan] = (),
    control_vantage: Settings | None = None,
) -> Pending:
    """A new run, from ``settings``' vantage or from each of ``vantages``."""
    plans = [p.model_copy(update={"settings": _absolute(p.settings)}) for p in vantages]
    header = JournalHeader(
        run_id=str(uuid.uuid4()),
        started_at=started_at or utc_now(),
        settings=plans[0].settings if plans else _absolute(settings),
        targets=list(targets),
        # Kept for one vantage too: its plan carries what the user said of the network
        # (country, ASN), which the document and every export must not lose.
        vantages=plans,
        control_vantage=_absolute(control_vantage) if control_vantage else None,
    )
    return Pending(header, path, control_token=settings.control_token)


def resume(journal: Path, control_token: str | None = None) -> Pending:
    """The interrupted run a journal belongs to, with the results it kept (each target once).

    A torn last record is cut off first (kept beside the journal, named in ``repaired``), so
    the results appended next start on a line of their own.
    """
    try:
        repaired = repair_journal(journal)
    except OSError as exc:
        raise StoreError(f"cannot repair the journal {journal}: {exc.strerror or exc}") from exc
    header = read_header(journal)
    wanted = {t.url for t in header.targets}
    done: dict[tuple[str, str], Result] = {}
    try:
        kept = read_journal(journal)
    except ValidationError as exc:
        # pydantic's own text spans several lines; the CLI shows one.
        detail = first_error(exc, "/")
        raise StoreError(
            f"cannot read the journal {journal}: a result is invalid ({detail})"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the journal {journal}: {exc}") from exc
    for result in kept:
        if result.target.url in wanted:
            done.setdefault((_vantage_of(result, header), result.target.url), result)
    path = output_of_journal(journal)
    return Pending(header, path, tuple(done.values()), control_token, repaired)


def merge(run: Run, pending: Pending, fresh: Sequence[Result]) -> Run:
    """One document for the whole run: earlier and new results in list order (vantage by
    vantage), original identity. ``fresh`` are the new results as each target was judged (as
    journaled), before ``run`` settled them against a baseline of its own part of the run."""
    header = pending.header
    found = {(_vantage_of(r, header), r.target.url): r for r in (*pending.done, *fresh)}
    results = [
        found[key]
        for plan in pending.vantages()
        for t in header.targets
        if (key := (plan.settings.vantage, t.url)) in found
    ]
    # Run-level baseline (issue 14), over the whole run, the part measured before a resume too.
    results, baselines = settle(results)
    return run.model_copy(
        update={
            "run_id": pending.header.run_id,
            "started_at": pending.header.started_at,
            "results": results,
            "summary": Summary.of(results),
            "baselines": baselines,
        }
    )


def complete(
    pending: Pending, on_result: OnResult | None = None, on_control: OnControl | None = None
) -> Run:
    """Measure what is missing, journal each result as it comes, write the whole document."""
    journal = Journal(journal_path(pending.path)).open(pending.header) if pending.path else None
    recorded = 0
    fresh: list[Result] = []  # as judged target by target: the run's baseline settles them

    def record(result: Result) -> None:
        nonlocal recorded
        fresh.append(result)
        if journal is not None:
            journal.append(result)
            recorded += 1
        if on_result is not None:
            on_result(result)

    try:
        plans = [
            (p.settings, p.about, pending.todo_of(p.settings.vantage)) for p in pending.vantages()
        ]
        control = pending.header.control_vantage
        run = merge(measure_many(plans, record, None, control, on_control), pending, fresh)
        if pending.path is not None:
            write_run(run, pending.path)
    except StoreError as exc:
        if journal is None:
            raise
        raise StoreError(f"{exc}; {kept(journal.path)}") from exc
    except CensorcheckError:
        # Refused before measuring anything (no resolver answered): there is nothing to resume.
        if journal is not None and not recorded and not pending.done:
            journal.close(remove=True)
        raise
    finally:
        if journal is not None:
            journal.close()
    if journal is not None:
        journal.close(remove=True)
    return run


def kept(journal: Path) -> str:
    """Where the finished targets are, and the command that finishes the run."""
    return (
        f"the finished targets are kept in {journal} "
        f"(finish with: censorcheck run --resume {shlex.quote(str(journal))})"
    )
