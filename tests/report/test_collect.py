"""Reports over real lab runs (see ``runs``): every number the report collects is checked
against the run documents themselves."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import pytest

from censorcheck.lab.scenarios import BY_NAME
from censorcheck.measure.vantages import Vantage
from censorcheck.results.report import ReportData, collect, html, markdown
from censorcheck.results.warehouse import Warehouse
from tests.report.runs import CENSORED, FREE, ROUNDS, Made, Seen, column_of, grid, utc

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
