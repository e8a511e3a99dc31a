"""Reports over real lab runs: three rounds from two vantages, with blocking that changes.

Between rounds the lab re-publishes each name with another scenario of the same service (the
hosts and their certificates stay), as a censor adds, lifts or changes a block. Every number in
the report is checked against the run documents themselves, and the page is opened in a real
browser that must make no request at all.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from censorcheck.lab import Lab, LabThread
from censorcheck.lab.scenarios import BY_NAME
from censorcheck.measure.api import measure_many
from censorcheck.measure.vantages import Vantage
from censorcheck.models import Evidence, Run, Target
from censorcheck.results.report import (
    STATUS_COLOURS,
    Column,
    ReportData,
    VantageGrid,
    blocked_now,
    collect,
    html,
    markdown,
)
from censorcheck.results.store import write_run
from censorcheck.results.warehouse import Warehouse
from censorcheck.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

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


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    folder = tmp_path_factory.mktemp("report-runs")
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
    yield Made(folder, runs, urls)


@pytest.fixture(scope="module")
def warehouse(made: Made) -> Iterator[Warehouse]:
    with Warehouse([made.folder], index=False) as wh:
        yield wh


@pytest.fixture(scope="module")
def data(warehouse: Warehouse) -> ReportData:
    return collect(warehouse)


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


# --- the data is what it was meant to be --------------------------------------------------


def test_the_lab_gave_each_round_its_verdicts(made: Made) -> None:
    """The premise of the other tests: blocking really changed between the rounds."""
    by_round = [made.runs[0:2], made.runs[2:4], made.runs[4:5]]
    for i, runs in enumerate(by_round):
        for run in runs:
            for r in run.results:
                vantage = r.vantage or run.vantage.name
                scenario = BY_NAME[ROUNDS[r.target.domain][i]]
                got = (r.verdict.status, r.verdict.outcome)
                if vantage == CENSORED.name:
                    assert got == (scenario.expect.status, scenario.expect.outcome), r.verdict
                else:
                    assert got[0] == ("down" if scenario.name == "gone" else "accessible")
    assert len(made.runs[4].vantages) == 2


def test_totals_count_runs_vantages_targets_and_statuses(made: Made, data: ReportData) -> None:
    seen = made.seen()
    totals = data.totals
    assert (totals.runs, totals.vantages, totals.targets) == (5, 2, len(ROUNDS))
    assert totals.results == len(seen) == 4 * len(ROUNDS) + 2 * len(ROUNDS)
    assert totals.by_status == dict(Counter(s.status for s in seen))
    assert data.start == utc(made.runs[0].started_at)
    assert data.end == utc(made.runs[-1].started_at)


# --- the grid -----------------------------------------------------------------------------


def test_with_few_runs_each_run_start_is_a_column(made: Made, data: ReportData) -> None:
    assert data.per_run
    assert [c.start for c in data.columns] == [utc(run.started_at) for run in made.runs]
    assert [c.runs for c in data.columns] == [1] * 5
    for g in data.grids:
        measured = {column_of(data, s.start).index for s in made.seen() if s.vantage == g.vantage}
        assert len(measured) == 3  # two runs of its own, one shared
        assert len(g.cells) == len(g.targets) * len(measured) == len(ROUNDS) * 3
        assert g.runs == 3 and g.runs_by_column == dict.fromkeys(measured, 1)
    assert (grid(data, CENSORED.name).country, grid(data, CENSORED.name).asn) == ("ZZ", 64500)
    for s in made.seen():
        cell = grid(data, s.vantage).cell(s.url, column_of(data, s.start).index)
        assert cell is not None
        assert (cell.status, cell.outcome, cell.results) == (s.status, s.outcome, 1)


def test_news_turns_red_in_the_second_round(made: Made, data: ReportData) -> None:
    """Two cells read back by hand, for whoever reads this test."""
    news, censored = made.urls["news.example.test"], grid(data, CENSORED.name)
    first = censored.cell(news, column_of(data, utc(made.runs[0].started_at)).index)
    second = censored.cell(news, column_of(data, utc(made.runs[2].started_at)).index)
    assert first is not None and (first.status, first.outcome) == ("accessible", "accessible")
    assert second is not None and (second.status, second.outcome) == ("blocked", "dns.nxdomain")
    assert censored.cell(news, column_of(data, utc(made.runs[1].started_at)).index) is None


@pytest.mark.parametrize("buckets", [1, 2, 3])
def test_in_time_buckets_a_cell_is_the_latest_result_in_it(
    made: Made, warehouse: Warehouse, buckets: int
) -> None:
    data = collect(warehouse, buckets=buckets)
    assert not data.per_run and 1 <= len(data.columns) <= buckets
    step = data.bucket_seconds
    assert step is not None
    for a, b in zip(data.columns, data.columns[1:], strict=False):
        assert (b.start - a.start).total_seconds() == step and a.end == b.start
    latest: dict[tuple[str, str, int], Seen] = {}
    count: Counter[tuple[str, str, int]] = Counter()
    runs: dict[int, set[str]] = defaultdict(set)
    for s in sorted(made.seen(), key=lambda s: s.start):
        col = column_of(data, s.start).index
        latest[s.vantage, s.url, col] = s
        count[s.vantage, s.url, col] += 1
        runs[col].add(s.run.run_id)
    assert sum(len(g.cells) for g in data.grids) == len(latest)
    for (vantage, url, col), s in latest.items():
        cell = grid(data, vantage).cell(url, col)
        assert cell is not None
        assert (cell.status, cell.outcome) == (s.status, s.outcome)
        assert cell.results == count[vantage, url, col]
    assert {c.index: c.runs for c in data.columns if c.runs} == {k: len(v) for k, v in runs.items()}


# --- blocking methods ---------------------------------------------------------------------


@pytest.mark.parametrize("buckets", [60, 2])
def test_method_counts_are_the_blocked_outcomes_per_column(
    made: Made, warehouse: Warehouse, buckets: int
) -> None:
    data = collect(warehouse, buckets=buckets)
    expected: dict[str | None, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for s in made.seen():
        if s.status == "blocked":
            col = column_of(data, s.start).index
            expected[s.vantage][col][s.outcome] += 1
            expected[None][col][s.outcome] += 1
    assert expected[None]  # something was blocked
    for vantage in (CENSORED.name, FREE.name, None):
        got = data.methods_of(vantage)
        assert got == {col: dict(c) for col, c in expected.get(vantage, {}).items()}
    overall = data.methods_of(None)
    assert (
        sum(sum(c.values()) for c in overall.values()) == 2 + 3 + 4
    )  # rounds 1, 2 and 3, all from the censored ISP
    if data.per_run:  # the last run's censored column, by hand
        last = column_of(data, utc(made.runs[4].started_at)).index
        assert overall[last] == {
            "dns.nxdomain": 1,
            "tls.sni_blocking": 1,
            "dns.bogon": 1,
            "http.blockpage": 1,
        }


# --- per target ---------------------------------------------------------------------------


def test_since_is_the_first_run_of_the_current_streak(made: Made, data: ReportData) -> None:
    history = made.history()
    latest = {(v.url, v.vantage): v for v in data.latest()}
    assert set(latest) == set(history)
    for key, results in history.items():
        last = results[-1]
        streak = 0
        for s in reversed(results):
            if (s.status, s.outcome) != (last.status, last.outcome):
                break
            streak += 1
        first = results[-streak]
        before = results[-streak - 1] if streak < len(results) else None
        v = latest[key]
        assert (v.status, v.outcome, v.confidence) == (last.status, last.outcome, last.confidence)
        assert (v.run_id, v.run_started_at) == (last.run.run_id, last.start)
        assert (v.since, v.since_run_id) == (first.start, first.run.run_id)
        assert (v.streak, v.measured) == (streak, len(results))
        assert v.previous_status == (before.status if before else None)
        assert v.previous_outcome == (before.outcome if before else None)

    def since(name: str, vantage: Vantage) -> datetime:
        return latest[made.urls[name], vantage.name].since

    starts = [utc(run.started_at) for run in made.runs]
    assert since("news.example.test", CENSORED) == starts[2]  # blocked since round 2
    assert since("video.example.test", CENSORED) == starts[4]  # the lift broke the streak
    assert since("mail.example.test", CENSORED) == starts[4]  # another method, a new streak
    assert since("blog.example.test", CENSORED) == starts[0]  # blocked all along
    assert since("shop.example.test", FREE) == starts[1]
    assert since("old.example.test", FREE) == starts[4]


def test_each_latest_verdict_carries_its_evidence(made: Made, data: ReportData) -> None:
    history = made.history()
    for detail in data.targets:
        assert [v.vantage for v in detail.verdicts] == sorted([CENSORED.name, FREE.name])
        for v in detail.verdicts:
            want = history[v.url, v.vantage][-1].evidence
            assert [(e.ref, e.fact) for e in v.evidence] == [(e.ref, e.fact) for e in want]
            if v.status == "blocked":
                assert v.evidence
    assert not data.skipped
    news = next(t for t in data.targets if t.url == made.urls["news.example.test"])
    assert (news.domain, news.category) == ("news.example.test", "NEWS")


def test_a_report_on_one_target(made: Made, warehouse: Warehouse) -> None:
    for key in ("news.example.test", made.urls["news.example.test"]):
        one = collect(warehouse, target=key)
        assert (one.totals.targets, one.totals.results, one.totals.runs) == (1, 6, 5)
        assert [t.url for t in one.targets] == [made.urls["news.example.test"]]
        assert "news.example.test" in html(one)
    nothing = collect(warehouse, target="nowhere.test")
    assert nothing.totals.results == 0 and not nothing.grids
    assert "No results." in html(nothing) and "No results." in markdown(nothing)


def test_with_too_many_targets_the_most_blocked_are_shown(
    made: Made, warehouse: Warehouse, data: ReportData
) -> None:
    few = collect(warehouse, max_targets=2)
    # Blocked now from one vantage each: blog (3 blocked results in all), then mail, news and
    # video (2 each), in URL order.
    shown = [made.urls["blog.example.test"], made.urls["mail.example.test"]]
    assert [t.url for t in few.targets] == shown
    assert all(g.targets == sorted(shown) for g in few.grids)
    assert few.totals == data.totals and few.methods == data.methods
    assert few.columns == data.columns
    for g in few.grids:
        assert g.runs_by_column == grid(data, g.vantage).runs_by_column
        assert g.cells == [c for c in grid(data, g.vantage).cells if c.url in shown]
    assert "2 of 6 targets shown" in html(few)
    assert "Among the 2 targets blocked most (of 6)." in markdown(few)


# --- Markdown -----------------------------------------------------------------------------

_ROW = re.compile(r"^\| `(?P<url>[^`]+)` \| (?P<vantage>[^|]+) \| `(?P<method>[^`]+)` \| "
                  r"(?P<since>[^|]+) \| (?P<confidence>\d+)% \|$")  # fmt: skip


def test_markdown_lists_exactly_the_blocked_targets_of_the_latest_runs(
    made: Made, data: ReportData
) -> None:
    text = markdown(data)
    rows = [m for line in text.splitlines() if (m := _ROW.match(line))]
    expected = {
        key: results[-1]
        for key, results in made.history().items()
        if results[-1].status == "blocked"
    }
    assert {(m["url"], m["vantage"]) for m in rows} == set(expected)
    assert len(rows) == len(expected) == 4  # news, video, mail and blog, from the censored ISP
    latest = {(v.url, v.vantage): v for v in data.latest()}
    for m in rows:
        s = expected[m["url"], m["vantage"]]
        assert m["method"] == s.outcome
        assert int(m["confidence"]) == round(s.confidence * 100)
        assert m["since"] == latest[m["url"], m["vantage"]].since.strftime("%Y-%m-%d %H:%M UTC")
    assert len(blocked_now(data)) == 4
    assert "**5 runs** from **2 vantages**" in text
    assert "**4 of 12** (target, vantage) pairs blocked" in text
    assert "Methodology: how a verdict is reached" in text
    assert "## Changes" in text


# --- HTML ---------------------------------------------------------------------------------


def test_the_page_is_self_contained(data: ReportData) -> None:
    page = html(data)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in page
    for fetches in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"):
        assert fetches not in page.lower(), fetches
    for g in data.grids:
        svg = re.search(rf'<svg class="grid" data-vantage="{g.vantage}".*?</svg>', page, re.S)
        assert svg is not None
        assert svg[0].count('<rect class="cell ') == len(g.cells)
        blocked = sum(c.status == "blocked" for c in g.cells)
        assert svg[0].count('<rect class="cell status-blocked"') == blocked
    assert page.count('<section class="target"') == len(ROUNDS)


def test_hostile_text_is_escaped(made: Made, tmp_path: Path) -> None:
    """Target URLs, reasons, evidence and vantage names come from the network, or from
    whoever wrote the document: a copy of a real run with each of them made hostile."""
    run = made.runs[2]
    evil_reason = "<script>alert(1)</script>"
    evil_fact = '<img src=x onerror="alert(2)">'
    evil_url = made.urls["news.example.test"] + "?q=<script>alert(3)</script>"
    evil_vantage = 'isp"><svg onload=alert(4)>'
    results = []
    for r in run.results:
        if r.target.url == made.urls["news.example.test"]:
            verdict = r.verdict.model_copy(
                update={
                    "reason": evil_reason,
                    "evidence": [*r.verdict.evidence, Evidence(ref="/dns/0", fact=evil_fact)],
                }
            )
            target = r.target.model_copy(update={"url": evil_url})
            r = r.model_copy(update={"verdict": verdict, "target": target})
        results.append(r.model_copy(update={"vantage": evil_vantage}))
    doctored = run.model_copy(
        update={
            "run_id": str(uuid.uuid4()),
            "results": results,
            "vantage": run.vantage.model_copy(update={"name": evil_vantage}),
            "vantages": [v.model_copy(update={"name": evil_vantage}) for v in run.vantages],
        }
    )
    write_run(doctored, tmp_path / "doctored.json")
    with Warehouse([tmp_path], index=False) as wh:
        data = collect(wh)
    (news,) = [t for t in data.targets if t.url == evil_url]
    assert news.verdicts[0].reason == evil_reason
    assert news.verdicts[0].evidence[-1].fact == evil_fact
    page = html(data)
    for evil in (evil_reason, evil_fact, evil_url, evil_vantage, "<svg onload", "<script"):
        assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "?q=&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert 'data-vantage="isp&quot;&gt;&lt;svg onload=alert(4)&gt;"' in page
    text = markdown(data)
    assert "<svg" not in text
    assert 'isp"&gt;&lt;svg onload=alert(4)&gt;' in text
    # A URL stays in a code span, where Markdown shows it as text and never as a link or tag.
    assert f"`{evil_url}`" in text


# --- in a real browser --------------------------------------------------------------------


def _rgb(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_the_page_in_chromium_draws_the_grid_and_requests_nothing(
    data: ReportData, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "report.html"
    page_file.write_text(html(data), encoding="utf-8")
    url = page_file.as_uri()
    artefacts = ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shot = artefacts / "report.png"
    shot.unlink(missing_ok=True)
    requests: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            grids = page.locator("svg.grid")
            assert grids.count() == len(data.grids)
            for g in data.grids:
                svg = page.locator(f'svg.grid[data-vantage="{g.vantage}"]')
                box = svg.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, box
                assert svg.locator("rect.cell").count() == len(g.cells)
            fills = page.eval_on_selector_all(
                "svg.grid rect.cell.status-blocked", "els => els.map(e => getComputedStyle(e).fill)"
            )
            assert len(fills) == sum(c.status == "blocked" for g in data.grids for c in g.cells)
            assert fills and set(fills) == {_rgb(STATUS_COLOURS["blocked"])}
            green = page.eval_on_selector(
                "svg.grid rect.cell.status-accessible", "e => getComputedStyle(e).fill"
            )
            assert green == _rgb(STATUS_COLOURS["accessible"])
            bars = page.locator("svg.methods rect.bar").count()
            assert bars > 0
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [url]
    assert shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
