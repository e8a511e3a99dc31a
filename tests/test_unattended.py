"""Unattended runs never lose data: resume after SIGKILL, a full or unusable results folder, the
lock that keeps two runs apart, pruning, and the --repeat loop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.results.store import journal_path, read_header, read_journal
from tests.conftest import CLIResult, run_cli
from tests.test_cli import one_line_error
from tests.test_scenarios import lab_flags

FAST = ["static.lab.test", "dns-nxdomain.lab.test", "tls-sni-reset.lab.test"]
LATER = ["static-http.lab.test", "dns-refused.lab.test", "gone.lab.test"]


def after_header(stderr: str) -> str:
    """What a run printed after its header: the line naming its control, printed first."""
    first, _, rest = stderr.partition("\n")
    assert first.startswith("control: "), stderr
    return rest


def censorcheck(*args: str) -> list[str]:
    return [sys.executable, "-m", "censorcheck", *args]


def wait_for(predicate: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def journalled(journal: Path) -> int:
    """Complete result lines in a journal (its header line not counted)."""
    return max(0, journal.read_text(encoding="utf-8").count("\n") - 1) if journal.exists() else 0


def test_resume_finishes_a_killed_run_measuring_each_target_once(lab: Lab, tmp_path: Path) -> None:
    names = [*FAST, "tarpit.lab.test", *LATER]
    urls = [lab.topology.url(n) for n in names]
    out = tmp_path / "res" / "run.json"
    journal = journal_path(out)
    # One at a time, so the kill lands while the tarpit is in flight and three are journalled.
    cmd = censorcheck("run", *urls, *lab_flags(lab, True), "--timeout", "2", "--concurrency", "1",
                      "-o", str(out), "-q")  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: journalled(journal) >= 3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not out.exists()
    header = read_header(journal)
    before = {r.target.url: r for r in read_journal(journal)}
    assert list(before) == urls[:3]

    result = run_cli("run", "--resume", "-q", "--results-dir", str(out.parent))  # newest journal
    assert result.code == 1, result.stderr  # blocked targets, default --fail-on
    assert "3 targets done, 4 to measure" in result.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert [r.target.url for r in run.results] == urls  # every target, once, in list order
    assert (run.run_id, run.started_at) == (header.run_id, header.started_at)
    for r in run.results[:3]:
        assert r == before[r.target.url]  # kept, not measured again
    assert run.summary.total == len(urls)
    assert not journal.exists()


def test_unusable_results_folder_is_one_line_exit_4(lab: Lab, tmp_path: Path) -> None:
    """A path under a regular file cannot be created, even by root."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    url = lab.topology.url("static.lab.test")
    result = run_cli("run", url, *lab_flags(lab, True), "--results-dir", str(blocker / "res"))
    assert result.code == 4
    line = one_line_error(result.stderr)
    assert "not-a-folder" in line and "Not a directory" in line


def _limited(limit: int, *args: str) -> CLIResult:
    """censorcheck with a file-size limit: writes past ``limit`` bytes fail as on a full disk."""
    code = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "os.execv(sys.executable, [sys.executable, '-m', 'censorcheck', *sys.argv[1:]])"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=60)  # fmt: skip
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def test_full_disk_loses_nothing_journalled(lab: Lab, tmp_path: Path) -> None:
    urls = [lab.topology.url(n) for n in FAST]
    flags = [*lab_flags(lab, True), "-q", "--fail-on", "never"]
    # Sizes of an unhindered run: the limit lets the journal through but not the document.
    free = tmp_path / "free" / "run.json"
    assert run_cli("run", *urls, *flags, "-o", str(free)).code == 0
    document = free.stat().st_size
    done = Run.model_validate_json(free.read_text(encoding="utf-8"))
    lines = sum(len(r.model_dump_json()) + 1 for r in done.results) + 1500  # + header
    assert lines < document - 3000
    out = tmp_path / "full" / "run.json"
    result = _limited((lines + document) // 2, "run", *urls, *flags, "-o", str(out))
    assert result.code == 4, result.stderr
    line = one_line_error(after_header(result.stderr))
    assert "File too large" in line and "--resume" in line
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".run")] == []  # no temp
    kept = read_journal(journal_path(out))
    assert sorted(r.target.url for r in kept) == sorted(urls)
    # With room again, --resume writes the document without measuring anything again.
    result = run_cli("run", "--resume", str(out), *flags[-3:])
    assert result.code == 0, result.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert {r.target.url: r for r in run.results} == {r.target.url: r for r in kept}


class Gate:
    """A plain-HTTP server that holds every request until the test opens it, so a run that
    fetches from it stays in flight exactly as long as the test needs (no race with a timeout)."""

    def __init__(self, address: str) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self._server = socket.create_server((address, 0))
        self.url = f"http://{address}:{self._server.getsockname()[1]}/"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            # One thread per connection: the probe's bare TCP connect, which sends nothing,
            # must not hold up the request that follows it.
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            if not conn.recv(65536):
                return
            self.entered.set()
            self.opened.wait()
            body = b"<html><title>gate</title>open</html>"
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close"
                             b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip

    def close(self) -> None:
        self.opened.set()
        # Closing alone does not wake a thread blocked in accept(); shutting down does.
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=10)


def test_overlapping_runs_never_interleave(lab: Lab, tmp_path: Path) -> None:
    res = tmp_path / "res"
    gate = Gate(str(lab.topology.network.network_address + 250))  # an unused lab host
    slow = censorcheck("run", gate.url, *lab_flags(lab, True), "--timeout", "60", "-q",
                       "--results-dir", str(res))  # fmt: skip
    first = subprocess.Popen(slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second: subprocess.Popen[str] | None = None
    try:
        assert gate.entered.wait(60), "the first run never reached the gate"
        # The first run now holds the lock and waits on the gate until the test opens it.
        fast = [lab.topology.url("static.lab.test"), *lab_flags(lab, True), "-q"]
        skipped = run_cli("run", *fast, "--results-dir", str(res), "--lock", "skip")
        assert skipped.code == 0, skipped.stderr
        assert "skipped: another run holds" in skipped.stderr
        assert first.poll() is None  # the gate is closed: the first run cannot have finished
        waiting = censorcheck("run", *fast, "--results-dir", str(res), "--lock", "wait")
        second = subprocess.Popen(
            waiting, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert second.stderr is not None
        line = second.stderr.readline()
        assert f"waiting for pid {first.pid} to finish" in line, line
        gate.opened.set()
        assert first.wait(timeout=60) == 0
        rest = second.communicate(timeout=60)[1]
        assert second.returncode == 0, rest
    finally:
        gate.close()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    runs = sorted(
        (Run.model_validate_json(p.read_text(encoding="utf-8")) for p in res.glob("*.json")),
        key=lambda r: r.started_at,
    )
    assert [len(r.results) for r in runs] == [1, 1]  # the skipped run wrote nothing
    assert runs[0].results[0].target.url == gate.url
    assert runs[1].started_at >= runs[0].finished_at  # the second began after the first ended


def test_keep_prunes_old_result_files(lab: Lab, tmp_path: Path) -> None:
    res = tmp_path / "res"
    res.mkdir()
    old = res / "2020-01-01T00-00-00Z-local.json"
    mine = res / "notes.json"  # not named like a result: never touched
    stale_journal = res / "2020-01-01T00-00-00Z-x.json.journal.jsonl"  # a run still to finish
    for path in (old, mine, stale_journal):
        path.write_text("{}", encoding="utf-8")
    url = lab.topology.url("static.lab.test")
    result = run_cli("run", url, *lab_flags(lab, True), "-q", "--results-dir", str(res),
                     "--keep", "30")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "pruned 1 result files older than 30 days" in result.stderr
    assert not old.exists() and mine.exists() and stale_journal.exists()
    assert len(list(res.glob("20*Z-local.json"))) == 1  # today's run stays


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_repeat_runs_again_until_interrupted(lab: Lab, tmp_path: Path, stop: int) -> None:
    res = tmp_path / "res"
    cmd = censorcheck("run", lab.topology.url("static.lab.test"), *lab_flags(lab, True), "-q",
                      "--results-dir", str(res), "--repeat", "1s")  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        waits = 0
        while waits < 2:  # "next run in ..." is printed as the loop goes to sleep
            line = proc.stderr.readline()
            assert line, "the loop ended by itself"
            waits += line.startswith("next run in")
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    documents = list(res.glob("*.json"))
    assert len(documents) == 2
    for path in documents:
        json.loads(path.read_text(encoding="utf-8"))  # whole documents only


def test_ctrl_c_mid_run_keeps_the_journal(lab: Lab, tmp_path: Path) -> None:
    urls = [lab.topology.url(n) for n in (*FAST, "tarpit.lab.test")]
    out = tmp_path / "run.json"
    cmd = censorcheck("run", *urls, *lab_flags(lab, True), "--timeout", "20", "-o", str(out), "-q")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: journalled(journal_path(out)) >= 3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    line = one_line_error(after_header(err))
    assert "interrupted" in line and "--resume" in line
    assert len(read_journal(journal_path(out))) == 3


def test_resume_and_targets_are_usage_errors(tmp_path: Path) -> None:
    nothing = run_cli("run", "--results-dir", str(tmp_path))
    assert nothing.code == 2 and "no targets" in one_line_error(nothing.stderr)
    empty = run_cli("run", "--resume", "--results-dir", str(tmp_path))
    assert empty.code == 2 and "no interrupted run" in one_line_error(empty.stderr)
    both = run_cli("run", "--resume", "--repeat", "1h")
    assert both.code == 2 and "--repeat" in one_line_error(both.stderr)
