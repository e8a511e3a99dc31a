"""The throttled outcome everywhere an analyst looks: a schema 1.6 document (rules 6, where the
throttled page was an inconclusive timeout) re-judged by `reanalyze`, then `diff`, `--fail-on`'s
check and the report, all through the real CLI or the same library calls."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from censorcheck.measure import durable
from censorcheck.measure.verdict.baseline import Settling, settle
from censorcheck.models import Run, Summary, Tool, VantageInfo
from censorcheck.results.document import write_document
from censorcheck.results.store import Journal, JournalHeader, read_run
from censorcheck.settings import Settings
from censorcheck.unattended.check import Cases
from tests.conftest import run_cli
from tests.verdict.test_baseline_rules import FAST_CONTROL, TRICKLE, KiB, _fetch, result_of


def _rules_6_document(path: Path) -> Path:
    """Four pages at the vantage's usual speed and one that trickled until the timeout, as a
    1.6 document wrote them: each judged on its own, no baselines."""
    results = [result_of(_fetch(512 * KiB, 0.1, cut=False), FAST_CONTROL) for _ in range(4)]
    results = [
        r.model_copy(update={"target": r.target.model_copy(update={"url": f"{r.target.url}{i}"})})
        for i, r in enumerate(results)
    ]
    results.append(result_of(TRICKLE, FAST_CONTROL))
    run = Run(run_id="r1", started_at="2026-12-06T00:00:00.000Z",
              finished_at="2026-12-06T00:00:09.000Z", tool=Tool(version="0"),
              vantage=VantageInfo(name="home", ipv6=False), settings={}, rules_version="6",
              results=results, summary=Summary.of(results))  # fmt: skip
    doc = json.loads(run.model_dump_json())
    doc["schema_version"] = "1.6"
    del doc["baselines"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_rules_6_document_loads_and_reanalyze_finds_the_throttling(tmp_path: Path) -> None:
    old = _rules_6_document(tmp_path / "old.json")
    before = Run.model_validate_json(old.read_text(encoding="utf-8"))
    assert before.baselines == []
    assert before.results[-1].verdict.outcome == "http.timeout"
    new = tmp_path / "new.json"
    done = run_cli("reanalyze", str(old), "--output", str(new))
    assert done.code == 0, done.stderr
    after = Run.model_validate_json(new.read_text(encoding="utf-8"))
    (baseline,) = after.baselines
    assert (baseline.vantage, baseline.throughput_samples) == ("home", 4)
    throttled = after.results[-1].verdict
    assert (throttled.status, throttled.blocking, throttled.outcome) == (
        "blocked",
        "tls",
        "tls.throttled",
    )
    assert after.summary.by_status["blocked"] == 1

    # --fail-on blocked (the default without --check) fails on it.
    cases = Cases(None, False)
    for result in after.results:
        cases.add(result)
    assert cases.exit_code == 1
    assert [f.url for f in cases.failed] == ["https://site.example/"]

    # diff calls it newly blocked, and exits 1 for it.
    diffed = run_cli("diff", str(old), str(new), "--json")
    assert diffed.code == 1, diffed.stderr
    report = json.loads(diffed.stdout)
    assert report["counts"]["newly_blocked"] == 1
    assert "tls.throttled" in diffed.stdout

    # The report shows it among the blocked.
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "new.json").write_text(new.read_text(encoding="utf-8"), encoding="utf-8")
    shown = run_cli("report", str(folder), "--markdown", "--no-index")
    assert shown.code == 0, shown.stderr
    assert "tls.throttled" in shown.stdout


def test_a_resumed_run_weighs_its_new_results_against_the_whole_run(tmp_path: Path) -> None:
    """The document of a resumed run is written from its journal: the trickling page measured
    after the interruption is judged against the four journaled before it, not against an
    empty baseline of its own half of the run."""
    done = [result_of(_fetch(512 * KiB, 0.1, cut=False), FAST_CONTROL) for _ in range(4)]
    done = [
        r.model_copy(update={"target": r.target.model_copy(update={"url": f"{r.target.url}{i}"})})
        for i, r in enumerate(done)
    ]
    slow = result_of(TRICKLE, FAST_CONTROL)
    # Measured on its own, the second half has no page to compare with, so no claim.
    own, _ = settle([slow])
    assert own[0].verdict.outcome == "tls.throttled" and own[0].verdict.status == "inconclusive"
    targets = [r.target for r in (*done, slow)]
    header = JournalHeader(run_id="r1", started_at="2026-12-06T00:00:00.000Z",
                           settings=Settings(vantage="home"), targets=targets)  # fmt: skip
    path = tmp_path / "run.journal.jsonl"
    journal = Journal(path).open(header)
    for result in done:  # before the interruption
        journal.append(result)
    journal.close()
    pending = durable.resume(path)
    assert pending.done == 4
    journal = Journal(path).open()
    pending.offsets[0][4] = journal.append(slow)  # measured after the resume, as judged
    journal.close()
    head = Run(run_id="r1", started_at="2026-12-06T00:00:00.000Z",
               finished_at="2026-12-06T00:01:05.000Z", tool=Tool(version="0"),
               vantage=VantageInfo(name="home", ipv6=False), settings={}, results=[],
               summary=Summary.of([]))  # fmt: skip
    out = tmp_path / "run.json"
    write_document(head, lambda: durable._results(pending, path), out, Settling())
    whole = read_run(out)
    assert [r.target.url for r in whole.results] == [t.url for t in header.targets]
    assert whole.baselines[0].throughput_samples == 4
    verdict = whole.results[-1].verdict
    assert (verdict.status, verdict.outcome) == ("blocked", "tls.throttled")
    assert whole.summary.by_status == {"accessible": 4, "blocked": 1}


def test_the_baseline_read_from_the_journal_records_writes_the_same_document(
    tmp_path: Path,
) -> None:
    """A run accumulates its baseline from the journal's records, not from the results: the
    document is the one the two passes over the results write, throttled page included."""
    pages = [result_of(_fetch(512 * KiB, 0.1 * (i + 1), cut=False), FAST_CONTROL)
             for i in range(4)]  # fmt: skip
    small = result_of(_fetch(16 * KiB, 0.01, cut=False), FAST_CONTROL)
    results = [*pages, small, result_of(TRICKLE, FAST_CONTROL)]
    results = [
        r.model_copy(update={"target": r.target.model_copy(update={"url": f"{r.target.url}{i}"})})
        for i, r in enumerate(results)
    ]
    header = JournalHeader(run_id="r1", started_at="2026-12-06T00:00:00.000Z",
                           settings=Settings(vantage="home"),
                           targets=[r.target for r in results])  # fmt: skip
    path = tmp_path / "run.journal.jsonl"
    journal = Journal(path).open(header)
    for result in results:
        journal.append(result)
    journal.close()
    pending = durable.resume(path)
    head = Run(run_id="r1", started_at="2026-12-06T00:00:00.000Z",
               finished_at="2026-12-06T00:01:05.000Z", tool=Tool(version="0"),
               vantage=VantageInfo(name="home", ipv6=False), settings={}, results=[],
               summary=Summary.of([]))  # fmt: skip
    read = functools.partial(durable._results, pending, path)
    write_document(head, read, tmp_path / "two.json", Settling())
    settled = durable._baseline(pending, path)
    write_document(head, read, tmp_path / "one.json", settled, accumulated=True)
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
    whole = read_run(tmp_path / "one.json")
    assert [(b.vantage, b.throughput_samples) for b in whole.baselines] == [("home", 4)]
    assert whole.results[-1].verdict.outcome == "tls.throttled"
