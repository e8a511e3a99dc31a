"""The run document is written whole or not at all; the journal survives partial lines."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from censorcheck.errors import ConfigError, StoreError
from censorcheck.models import Control, Result, Run, Summary, Target, Tool, VantageInfo, Verdict
from censorcheck.results.store import (
    Journal,
    JournalHeader,
    default_output,
    journal_path,
    newest_journal,
    output_of_journal,
    prune,
    read_header,
    read_journal,
    unused_output,
    write_run,
    write_text,
)
from censorcheck.settings import Settings


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


def test_journal_header_is_skipped_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "run.json.journal.jsonl"
    header = JournalHeader(
        run_id="r1",
        started_at="2026-11-24T10:00:00.000Z",
        settings=Settings(vantage="home"),
        targets=[result("a.example").target, result("b.example").target],
    )
    journal = Journal(path).open(header)
    journal.append(result("a.example"))
    journal.close()
    Journal(path).open(header).close()  # reopening (a resume) does not write a second header
    assert [r.target.domain for r in read_journal(path)] == ["a.example"]
    assert read_header(path) == header
    assert output_of_journal(path) == tmp_path / "run.json"


def test_journal_without_header_cannot_be_resumed(tmp_path: Path) -> None:
    path = tmp_path / "old.json.journal.jsonl"
    path.write_text(result("a.example").model_dump_json() + "\n", encoding="utf-8")
    with pytest.raises(StoreError, match="no header"):
        read_header(path)


def test_newest_journal_and_unused_output(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no interrupted run"):
        newest_journal(tmp_path)
    first = tmp_path / "2026-11-24T10-00-00Z-v.json"
    journal_path(first).write_text("", encoding="utf-8")
    second = journal_path(tmp_path / "2026-11-24T11-00-00Z-v.json")
    second.write_text("", encoding="utf-8")
    os.utime(journal_path(first), (1, 1))
    assert newest_journal(tmp_path) == second
    assert unused_output(first) == tmp_path / "2026-11-24T10-00-00Z-v-2.json"
    assert unused_output(tmp_path / "free.json") == tmp_path / "free.json"


def test_prune_by_the_time_in_the_name(tmp_path: Path) -> None:
    names = ["2026-11-01T00-00-00Z-v.json", "2026-11-20T00-00-00Z-v-2.json", "other.json"]
    for name in names:
        (tmp_path / name).write_text("{}", encoding="utf-8")
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    assert [p.name for p in prune(tmp_path, 7, now)] == [names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


def test_a_link_is_followed_and_a_device_written_in_place(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text("through the link\n", link)
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "through the link\n"
    # Renaming over a device would replace the node with a file (as root) or fail (otherwise).
    write_text("to nowhere\n", Path(os.devnull))
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
