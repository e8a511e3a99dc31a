"""The run document written a result at a time: the bytes ``write_run`` writes, the summary
counted on the way, and a pass over every result before any is written."""

from __future__ import annotations

import io
from pathlib import Path

from censorcheck.measure import durable
from censorcheck.models import Result, Run, Summary, Verdict
from censorcheck.results.document import write_document
from censorcheck.results.store import JournalHeader, VantagePlan, read_run, write_run
from censorcheck.settings import Settings
from tests.test_store import result, run_of


def varied() -> list[Result]:
    """Results that exercise the summary: statuses, a blocking layer, vantages, QUIC, text
    that JSON escapes."""
    blocked = Verdict(status="blocked", outcome="dns.nxdomain", confidence=0.8,
                      reason="NXDOMAIN \"here\"\n, ici: ещё", blocking="dns")  # fmt: skip
    quic = Verdict(status="down", outcome="quic.timeout", confidence=0.5, reason="no answer.")
    return [
        result("a.example").model_copy(update={"vantage": "home"}),
        result("b.example").model_copy(update={"vantage": "home", "verdict": blocked}),
        result("c.example").model_copy(update={"vantage": "mobile", "quic_verdict": quic}),
        result("d.example"),
    ]


def test_streamed_document_is_the_bytes_write_run_writes(tmp_path: Path) -> None:
    for results in ([], varied()[:1], varied()):
        whole = run_of(results).model_copy(update={"summary": Summary.of(results)})
        write_run(whole, tmp_path / "whole.json")
        head = write_document(run_of([]), lambda r=results: iter(r), tmp_path / "streamed.json")
        assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
        assert head.summary == Summary.of(results) and head.results == []
        assert read_run(tmp_path / "streamed.json") == whole
        stream = io.StringIO()
        write_document(run_of([]), lambda r=results: iter(r), stream)
        assert stream.getvalue().encode() == (tmp_path / "whole.json").read_bytes()


class Baseline:
    """A finisher as a run-level judgment would be: counts every result, then marks each."""

    def __init__(self) -> None:
        self.seen = 0

    def accumulate(self, result: Result) -> None:
        self.seen += 1

    def head(self, run: Run) -> Run:
        return run.model_copy(update={"settings": {"seen": self.seen}})

    def finish(self, result: Result) -> Result:
        reason = f"{result.verdict.reason} (1 of {self.seen})"
        return result.model_copy(
            update={"verdict": result.verdict.model_copy(update={"reason": reason})}
        )


def test_a_finisher_sees_every_result_before_it_changes_the_first(tmp_path: Path) -> None:
    written: list[Result] = []
    out = tmp_path / "run.json"
    head = write_document(run_of([]), lambda: iter(varied()), out, Baseline(), written.append)
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert [r.verdict.reason.endswith("(1 of 4)") for r in run.results] == [True] * 4
    assert run.settings == head.settings == {"seen": 4}  # the head, after the first pass
    assert run.results == written
    assert head.summary == run.summary == Summary.of(written)


def test_a_finisher_accumulated_beforehand_reads_the_results_once(tmp_path: Path) -> None:
    """The caller may make the first pass itself (a run makes it over the journal's records):
    the results are then read once, and the document is the one two passes write."""
    calls = 0

    def results() -> list[Result]:
        nonlocal calls
        calls += 1
        return varied()

    write_document(run_of([]), lambda: iter(varied()), tmp_path / "two.json", Baseline())
    ready = Baseline()
    for r in varied():
        ready.accumulate(r)
    write_document(run_of([]), results, tmp_path / "one.json", ready, accumulated=True)
    assert calls == 1
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


def test_a_pending_run_keeps_its_targets_compact_and_whole(tmp_path: Path) -> None:
    targets = [r.target.model_copy(update={"category": "news", "note": "ёж"}) for r in varied()]
    vantages = [VantagePlan(settings=Settings(vantage="a")), VantagePlan(settings=Settings())]
    pending = durable.start(targets, Settings(vantage="a"), tmp_path / "run.json", None, vantages)
    line = pending.header_line()
    assert line.startswith('{"kind":"censorcheck.journal"')  # how readers find the header
    assert JournalHeader.model_validate_json(line) == pending.header
    assert pending.header.targets == targets and list(pending.targets) == targets
    assert pending.to_measure == 8 and pending.done == 0
