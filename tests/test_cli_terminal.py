"""The real CLI where people read it: an 80-column terminal (a pty), a pipe, a long list, a
service manager's SIGTERM."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from censorcheck.cli.common import summary_table
from censorcheck.cli.progress import counts_text, run_progress
from censorcheck.lab import Lab
from censorcheck.measure.handover import Done
from censorcheck.models import Result, Run
from censorcheck.results.store import journal_path, read_journal
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags
from tests.test_store import result as a_result
from tests.test_store import run_of

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# A path long enough to fold on any terminal, with no word break to wrap at.
LONG_PATH = "reports/" + "-".join(f"section{i:02d}" for i in range(14)) + "/index.html"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "NO_COLOR": "1", "TERM": "xterm"}


def in_terminal(
    args: list[str], columns: int = 80, stderr_too: bool = False
) -> tuple[int, str, str]:
    """``censorcheck ARGS`` with stdin and stdout (and with ``stderr_too``, stderr) on a pty of
    ``columns`` columns; the exit code, what the terminal showed (escape sequences removed) and
    stderr when it was not the terminal."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "censorcheck", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower if stderr_too else subprocess.PIPE,
        env=_environment(),
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child has closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    err = ""
    if proc.stderr is not None:
        with proc.stderr:
            err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    return code, _ESCAPES.sub("", shown.decode()).replace("\r", ""), err


def column(text: str, index: int) -> str:
    """Every piece of table column ``index`` (0: first), run together without whitespace."""
    rows = [line.split("│") for line in text.splitlines() if line.count("│") >= 2]
    pieces = [cells[index + 1] for cells in rows if len(cells) > index + 2]
    return "".join("".join(pieces).split())


def squeezed(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def long_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Run]:
    """The arguments of a run with a long URL and a long reason, and its document."""
    folder = tmp_path_factory.mktemp("long")
    urls = [lab.topology.url("tls-sni-reset.lab.test") + LONG_PATH]
    args = ["run", *urls, *lab_flags(lab, True), "--fail-on", "never", "--results-dir"]
    out = run_cli(*args, str(folder), "-o", str(folder / "run.json"), "-q")
    assert out.code == 0, out.stderr
    run = Run.model_validate_json((folder / "run.json").read_text(encoding="utf-8"))
    return [*args, str(folder)], run


def test_80_column_terminal_keeps_every_character(long_run: tuple[list[str], Run]) -> None:
    args, run = long_run
    code, shown, err = in_terminal([*args, "-o", "/dev/null"], columns=80)
    assert code == 0, err
    assert max(len(line) for line in shown.splitlines()) <= 80
    (result,) = run.results
    assert len(result.verdict.reason) > 80 and len(result.target.url) > 80
    assert squeezed(result.target.url) in column(shown, 0)
    assert squeezed(result.verdict.reason) in column(shown, 4)


def test_piped_output_keeps_every_character(long_run: tuple[list[str], Run]) -> None:
    args, run = long_run
    piped = run_cli(*args, "-o", "/dev/null", env={"COLUMNS": ""})
    assert piped.code == 0, piped.stderr
    (result,) = run.results
    assert squeezed(result.target.url) in column(piped.stdout, 0)
    assert squeezed(result.verdict.reason) in column(piped.stdout, 4)
    tsv = run_cli(*args, "-o", "/dev/null", "--format", "tsv")
    header, row = tsv.stdout.splitlines()
    assert header.split("\t")[0] == "url"
    assert row.split("\t")[0] == result.target.url
    assert row.split("\t")[-1] == result.verdict.reason


def test_history_dates_stay_whole_on_80_columns() -> None:
    from censorcheck.cli.analyse import history_table
    from censorcheck.results.history import Period

    period = Period(
        url="https://" + "long-name." * 6 + "example/", domain="x", vantage="home " * 4,
        status="blocked", outcome="tls.sni_blocking", first_seen="2026-11-20T10:00:00Z",
        last_seen="2026-11-24T10:05:00Z", runs=12, first_run="a", last_run="b",
        confidence_min=0.9, confidence_max=0.9, current=True,
    )  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80).print(history_table([period], "history"))
    assert max(len(line) for line in out.getvalue().splitlines()) <= 80
    # Not cropped: every row still ends with its border.
    assert all(line.endswith("│") for line in out.getvalue().splitlines() if "│" in line)
    dates = column(out.getvalue(), 4) + column(out.getvalue(), 5)
    assert dates == "2026-11-2010:002026-11-2410:05"
    assert "2026-11-20 " in out.getvalue() and " 10:05 " in out.getvalue()


def test_summary_shows_the_counts_and_only_what_is_not_accessible() -> None:
    blocked = a_result("blocked.example")
    verdict = blocked.verdict.model_copy(update={"status": "blocked", "outcome": "dns.nxdomain"})
    run = run_of([a_result("fine.example"), blocked.model_copy(update={"verdict": verdict})])
    run = run.model_copy(
        update={
            "summary": run.summary.model_copy(update={"by_status": {"accessible": 1, "blocked": 1}})
        }
    )
    out = io.StringIO()
    Console(file=out, width=100).print(summary_table(run, problems_only=True))
    assert "blocked.example" in out.getvalue() and "fine.example" not in out.getvalue()
    assert "accessible 1, blocked 1" in out.getvalue()


def test_progress_bar_shows_time_left_and_counts_by_status() -> None:
    out = io.StringIO()
    terminal = Console(file=out, width=160, force_terminal=True, color_system=None)
    progress, on_done = run_progress(3, quiet=False, console=terminal)
    with progress:
        on_done(Done(0, 0, "a.example", "accessible", "{}"))
        on_done(Done(0, 1, "b.example", "blocked", "{}"))
        progress.refresh()
    shown = _ESCAPES.sub("", out.getvalue())
    assert "blocked 1 · accessible 1" in shown
    assert "eta" in shown and "2/3" in shown
    assert counts_text(Counter({"down": 2, "blocked": 1})) == "blocked 1 · down 2"


def test_sigterm_keeps_the_journal_and_says_how_to_resume(lab: Lab, tmp_path: Path) -> None:
    fast = [lab.topology.url("static.lab.test")]
    slow = [lab.topology.url("tarpit.lab.test")]
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "censorcheck", "run", *fast, *slow, *lab_flags(lab, True)]
    cmd += ["--timeout", "30", "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = journal_path(out)
    try:
        deadline = time.monotonic() + 30
        # The event: the journal's header and the fast target's record are on disk.
        while time.monotonic() < deadline and proc.poll() is None:
            lines = journal.read_text(encoding="utf-8").count("\n") if journal.exists() else 0
            if lines >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    # The run header said which control is used; then the one line of the stop.
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(journal) in lines[0] and "censorcheck run --resume" in lines[0]
    assert [r.target.domain for r in read_journal(journal)] == ["static.lab.test"]


def test_a_source_address_this_machine_lacks_is_named(lab: Lab, tmp_path: Path) -> None:
    flags = lab_flags(lab, True)
    where = flags.index("--source-address")
    flags[where + 1] = "192.0.2.77"  # TEST-NET-1: on no interface of the namespace
    result = run_cli("run", "static.lab.test", *flags, "-o", str(tmp_path / "o.json"))
    assert result.code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --source-address 192.0.2.77: ")
    assert "no such address" in lines[0]


def test_run_tables_show_markup_from_the_network_literally() -> None:
    markup = "[bold]x[/bold] :x: [link=https://e.test]y[/link]"
    one = a_result("page.example")
    verdict = one.verdict.model_copy(update={"status": "blocked", "reason": f"title {markup}"})
    target = one.target.model_copy(update={"url": f"https://page.example/{markup}"})
    run = run_of([one.model_copy(update={"verdict": verdict, "target": target})])
    out = io.StringIO()
    Console(file=out, width=200, emoji=True).print(summary_table(run))
    assert squeezed(markup) in column(out.getvalue(), 0)
    assert squeezed(markup) in column(out.getvalue(), 4)


def test_summary_of_a_grid_keeps_every_vantage_of_a_target_with_a_problem() -> None:
    from censorcheck.models import VantageInfo

    def seen(domain: str, vantage: str, status: str) -> Result:
        one = a_result(domain)
        verdict = one.verdict.model_copy(update={"status": status})
        return one.model_copy(update={"vantage": vantage, "verdict": verdict})

    results = [seen("hit.example", "free", "accessible"), seen("hit.example", "isp", "blocked")]
    results += [seen("fine.example", name, "accessible") for name in ("free", "isp")]
    run = run_of(results).model_copy(
        update={"vantages": [VantageInfo(name=n, ipv6=False) for n in ("free", "isp")]}
    )
    out = io.StringIO()
    Console(file=out, width=120).print(summary_table(run, problems_only=True))
    shown = out.getvalue()
    assert "hit.example" in shown and "fine.example" not in shown
    assert "not measured" not in shown and "accessible" in shown and "blocked" in shown
