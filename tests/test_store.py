"""The run document is written whole or not at all; the journal survives partial lines."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from censorcheck.errors import StoreError
from censorcheck.models import Control, Result, Run, Summary, Target, Tool, VantageInfo, Verdict
from censorcheck.store import Journal, default_output, read_journal, write_run


def result(domain: str) -> Result:
    return Result(
        target=Target(url=f"https://{domain}/", domain=domain),
        started_at="2026-11-24T10:00:00.000Z",
        t=0.1,
        control=Control(),
        verdict=Verdict(status="accessible", outcome="accessible", confidence=0.9, reason="ok."),
    )


def run_of(results: list[Result]) -> Run:
    return Run(
        run_id="r1",
        started_at="2026-11-24T10:00:00.000Z",
        finished_at="2026-11-24T10:00:01.000Z",
        tool=Tool(version="0"),
        vantage=VantageInfo(name="v", ipv6=False),
        settings={},
        results=results,
        summary=Summary(total=len(results), by_status={}, by_blocking={}),
    )


def test_default_output_name() -> None:
    path = default_output(Path("results"), "2026-11-24T10:00:00.123Z", "kz/home 1")
    assert path == Path("results/2026-11-24T10-00-00Z-kz_home_1.json")


def test_write_run_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_run(run_of([result("a.example")]), path)
    write_run(run_of([result("b.example")]), path)
    assert Run.model_validate_json(path.read_text()).results[0].target.domain == "b.example"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temp files left


def test_unwritable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        write_run(run_of([]), blocker / "run.json")  # a file where a folder should be


def test_journal_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path).open()
    journal.append(result("a.example"))
    journal.append(result("b.example"))
    journal.close()
    with path.open("a") as f:
        f.write(result("c.example").model_dump_json()[:40])  # killed mid-write
    assert [r.target.domain for r in read_journal(path)] == ["a.example", "b.example"]
