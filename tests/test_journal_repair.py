"""A journal torn by a full disk or a power cut is repaired, never stranded: the torn tail is cut
off into ``<journal>.torn`` before anything is appended, and a later ``--resume`` still reads it."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.results.store import journal_path, read_journal, repair_journal, torn_path
from tests.conftest import CLIResult, run_cli
from tests.test_cli import one_line_error
from tests.test_scenarios import lab_flags
from tests.test_unattended import FAST, LATER, after_header, censorcheck, journalled, wait_for


def _killed_when(cmd: list[str], journal: Path, lines: int, stderr: Path) -> None:
    with stderr.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_for(lambda: journalled(journal) >= lines)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()


def test_kill_torn_record_kill_then_resume_has_every_target_once(lab: Lab, tmp_path: Path) -> None:
    names = [*FAST, "tarpit.lab.test", *LATER]
    urls = [lab.topology.url(n) for n in names]
    out = tmp_path / "res" / "run.json"
    journal = journal_path(out)
    first = censorcheck("run", *urls, *lab_flags(lab, True), "--timeout", "2",
                        "--concurrency", "1", "-o", str(out), "-q")  # fmt: skip
    _killed_when(first, journal, 3, tmp_path / "first.err")
    # A full disk part way through a record: its first half, and no newline.
    record = journal.read_bytes().splitlines(keepends=True)[-1]
    torn = record[: len(record) // 2]
    with journal.open("ab") as f:
        f.write(torn)

    resume = censorcheck("run", "--resume", str(journal), "-q")
    _killed_when(resume, journal, 5, tmp_path / "resume.err")
    warnings = (tmp_path / "resume.err").read_text(encoding="utf-8").splitlines()
    assert [w for w in warnings if w.startswith("warning:")] == [
        f"warning: {journal} ended in a torn record (a full disk or a power cut); "
        f"its {len(torn)} bytes were moved to {torn_path(journal)}"
    ]
    assert torn_path(journal).read_bytes() == torn  # kept, not discarded
    assert journal.read_bytes().endswith(b"\n")

    result = run_cli("run", "--resume", str(journal), "-q")
    assert result.code == 1, result.stderr  # blocked targets, default --fail-on
    assert "warning" not in result.stderr  # the second resume found nothing torn
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert [r.target.url for r in run.results] == urls  # every target, exactly once
    assert torn_path(journal).read_bytes() == torn


# Writes a journal (header and three records) once per byte limit given, under a file-size limit
# the kernel enforces as a full disk does: a short write up to the limit, then an error.
_WRITER = """
import json, resource, sys
from pathlib import Path
from censorcheck.errors import StoreError
from censorcheck.results.store import Journal, JournalHeader
from censorcheck.settings import Settings
from tests.test_store import result

folder, limits = Path(sys.argv[1]), [int(n) for n in sys.argv[2:]]
domains = ["a.example", "b.example", "c.example"]
header = JournalHeader(run_id="r", started_at="2026-11-24T10:00:00.000Z", settings=Settings(),
                       targets=[result(d).target for d in domains])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
for limit in limits:
    journal = Journal(folder / f"{limit}.journal.jsonl")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    error = None
    try:
        journal.open(header)
        for d in domains:
            journal.append(result(d))
    except StoreError as exc:
        error = str(exc)
    finally:
        journal.close()
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print(json.dumps([limit, error]))
"""


def _write_limited(folder: Path, limits: list[int]) -> dict[int, str | None]:
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(folder), *map(str, limits)],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return {limit: error for limit, error in map(json.loads, proc.stdout.splitlines())}


def test_a_full_disk_at_every_byte_leaves_whole_records_and_keeps_the_rest(tmp_path: Path) -> None:
    whole_size = 1 << 20
    assert _write_limited(tmp_path, [whole_size]) == {whole_size: None}
    whole = (tmp_path / f"{whole_size}.journal.jsonl").read_bytes()
    ends = [i + 1 for i, byte in enumerate(whole) if byte == ord("\n")]  # record boundaries
    assert len(ends) == 4  # the header and three records
    limits = list(range(len(whole)))  # every record boundary and every byte inside a record
    errors = _write_limited(tmp_path, limits)
    for limit in limits:
        error = errors[limit]
        assert error is not None and "\n" not in error and "cannot write the journal" in error
        path = tmp_path / f"{limit}.journal.jsonl"
        assert path.read_bytes() == whole[:limit]  # the disk took exactly what fitted
        boundary = max((e for e in ends if e <= limit), default=0)
        repair = repair_journal(path)
        assert path.read_bytes() == whole[:boundary]
        if boundary == limit:
            assert repair is None and not torn_path(path).exists()
        else:
            assert repair is not None and repair.cut == limit - boundary
            assert torn_path(path).read_bytes() == whole[boundary:limit]
        assert len(read_journal(path)) == (ends.index(boundary) if boundary else 0)  # not header


def test_a_second_torn_tail_is_added_to_the_first(tmp_path: Path) -> None:
    path = tmp_path / "run.json.journal.jsonl"
    path.write_bytes(b'{"a":1}\n{"b"')
    assert repair_journal(path) == (4, torn_path(path))
    path.write_bytes(path.read_bytes() + b'{"c":')
    assert repair_journal(path) == (5, torn_path(path))
    assert path.read_bytes() == b'{"a":1}\n'
    assert torn_path(path).read_bytes() == b'{"b"{"c":'
    assert repair_journal(path) is None


# sh -c _ON_TMPFS sh SIZE DISK SAVE CMD...: a tmpfs of SIZE on DISK in a mount namespace of its
# own; CMD runs, then what it left on the disk is copied to SAVE (the tmpfs dies with it).
_ON_TMPFS = (
    'd="$2" s="$3"; mount -t tmpfs -o size="$1" tmpfs "$d" && shift 3 && "$@"; c=$?; '
    'cp -a "$d"/. "$s"; exit $c'
)


@functools.cache
def _tmpfs_unavailable() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare"
    probe = ["unshare", "--mount", "--map-root-user", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]
    done = subprocess.run(probe, capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.strip()}"


def _on_full_disk(pages: int, disk: Path, save: Path, *args: str) -> CLIResult:
    disk.mkdir()
    save.mkdir()
    size = f"{pages * 4}k"
    cmd = ["unshare", "--mount", "--map-root-user", "sh", "-c", _ON_TMPFS, "sh", size, str(disk),
           str(save), sys.executable, "-m", "censorcheck", *args]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def test_a_full_disk_at_any_point_of_a_run_is_one_line_and_exit_4(lab: Lab, tmp_path: Path) -> None:
    """Before the header, inside a record with others in flight, at the document: one line,
    exit 4, no traceback from the other targets; and the run still finishes with --resume."""
    if (why := _tmpfs_unavailable()) is not None:
        pytest.skip(why)
    urls = [lab.topology.url(n) for n in [*FAST, *LATER]]
    flags = [*lab_flags(lab, True), "-q", "--fail-on", "never"]
    seen = set()
    for pages in [1, 2, 4, 6, 12]:  # 4 KiB each; the lock file takes the first
        disk, save = tmp_path / f"disk{pages}", tmp_path / f"save{pages}"
        result = _on_full_disk(pages, disk, save, "run", *urls, *flags, "--results-dir", str(disk))
        assert result.code == 4, result.stderr
        (journal,) = save.glob("*.journal.jsonl")
        if journal.stat().st_size == 0:  # not even the journal's header fitted
            seen.add("header")
            line = one_line_error(result.stderr)
        else:
            line = one_line_error(after_header(result.stderr))
            if "cannot write the journal" not in line:
                seen.add("document")
            elif not journal.read_bytes().endswith(b"\n"):
                seen.add("mid-record")
        assert "No space left on device" in line, line
        if journal.stat().st_size == 0:
            continue
        finish = run_cli("run", "--resume", str(journal), "-q", "--fail-on", "never")
        assert finish.code == 0, finish.stderr
        (document,) = save.glob("*.json")
        run = Run.model_validate_json(document.read_text(encoding="utf-8"))
        assert sorted(r.target.url for r in run.results) == sorted(urls)  # each exactly once
    assert seen == {"header", "mid-record", "document"}
