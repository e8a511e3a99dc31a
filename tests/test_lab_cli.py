"""`censorcheck lab` as a user meets it: it prints commands that work as printed."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from censorcheck.lab import random_network
from censorcheck.models import Run
from tests.conftest import run_cli


def test_lab_prints_working_commands(tmp_path: Path) -> None:
    network = random_network()
    proc = subprocess.Popen(
        [sys.executable, "-m", "censorcheck", "lab", "--network", network,
         "--workdir", str(tmp_path / "lab")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 30
        views = ("censored view:", "free view:", "with control:", "side by side:")
        while len(lines) < len(views) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            for view in views:
                if line.startswith(view):
                    lines[view] = line.split(":", 1)[1].strip()
        assert len(lines) == len(views), proc.stderr.read() if proc.stderr else ""
        args = shlex.split(lines["censored view:"])
        assert args[:2] == ["censorcheck", "run"]
        out = tmp_path / "run.json"
        result = run_cli(*args[1:], "--output", str(out), "--quiet", "--timeout", "2")
        assert result.code == 1, result.stderr  # the lab's censor blocks things
        run = Run.model_validate_json(out.read_text(encoding="utf-8"))
        assert run.summary.by_status["blocked"] >= 10
        free = run_cli(*shlex.split(lines["free view:"])[1:], "-o", "-", "-q", "--timeout", "2")
        assert free.code == 0
        assert "blocked" not in Run.model_validate_json(free.stdout).summary.by_status
        # The control server started with the lab tells an unknown notice from the site.
        control = run_cli(
            *shlex.split(lines["with control:"])[1:], "-o", "-", "-q", "--timeout", "2"
        )
        assert control.code == 1, control.stderr
        verdicts = {
            r.target.domain: r.verdict for r in Run.model_validate_json(control.stdout).results
        }
        assert verdicts["http-generic-blockpage.lab.test"].outcome == "http.diff"
        assert (tmp_path / "lab" / "control.args").is_file()
        # One command, both views, through the lab's SOCKS5 proxy.
        grid = run_cli(*shlex.split(lines["side by side:"])[1:], "-o", "-", "-q", "--timeout", "2")
        assert grid.code == 1, grid.stderr
        assert [v.name for v in Run.model_validate_json(grid.stdout).vantages] == [
            "lab-censored",
            "lab-proxy",
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)  # also closes the pipes
        except subprocess.TimeoutExpired:
            proc.kill()  # a lab that ignored Ctrl-C must not outlive the test
            proc.communicate()
            raise
    assert proc.returncode == 0, err
