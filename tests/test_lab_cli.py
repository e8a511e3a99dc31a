"""`censorcheck lab` as a user meets it: it prints commands that work as printed."""

from __future__ import annotations

import errno
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from censorcheck.lab import random_routable_network
from censorcheck.lab.netns import cannot_unshare, unavailable
from censorcheck.models import Run
from tests.conftest import CLIResult

VIEWS = ("censored view:", "free view:", "with control:", "side by side:")
CANNOT_UNSHARE = cannot_unshare()
NO_NAMESPACE = CANNOT_UNSHARE is not None and unavailable(nft=False) is not None


@contextmanager
def _lab(tmp_path: Path, *options: str) -> Iterator[dict[str, str]]:
    """``censorcheck lab OPTIONS`` running; its printed commands by view. Stopped with Ctrl-C,
    as a user stops it, which must end it cleanly."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "censorcheck", "lab", *options, "--workdir", str(tmp_path / "lab")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(lines) < len(VIEWS) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            for view in VIEWS:
                if line.startswith(view):
                    lines[view] = line.split(":", 1)[1].strip()
        assert len(lines) == len(VIEWS), proc.stderr.read() if proc.stderr else ""
        yield lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)  # also closes the pipes
        except subprocess.TimeoutExpired:
            proc.kill()  # a lab that ignored Ctrl-C must not outlive the test
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    # One line says which lab ran.
    assert [line for line in err.splitlines() if line.startswith("lab: ")], err


def _unused_routable_network() -> str:
    """A public-looking /24 that no other lab of this namespace (a parallel test worker's) holds
    now: a fixed --network is not retried elsewhere when taken."""
    while True:
        network = random_routable_network()
        with socket.socket() as sock:
            try:
                sock.bind((network.replace(".0/24", ".2"), 0))
            except OSError:
                return network


def _as_printed(command: str, *extra: str) -> CLIResult:
    """Run a printed command as printed (``nsenter`` and all, when it has it), with this
    interpreter's censorcheck."""
    words = shlex.split(command)
    at = words.index("censorcheck")
    argv = [*words[:at], sys.executable, "-m", "censorcheck", *words[at + 1 :], *extra]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    return CLIResult(done.returncode, done.stdout, done.stderr)


def _censored_view(command: str, tmp_path: Path) -> Run:
    out = tmp_path / "run.json"
    done = _as_printed(command, "--output", str(out), "--quiet", "--timeout", "2")
    assert done.code == 1, done.stderr  # the lab's censor blocks things
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert run.summary.by_status["blocked"] >= 10
    return run


@pytest.mark.skipif(NO_NAMESPACE, reason="no network namespace here (the loopback test runs)")
def test_lab_prints_working_commands(tmp_path: Path) -> None:
    with _lab(tmp_path, "--network", _unused_routable_network()) as lines:
        args = shlex.split(lines["censored view:"])
        assert args[args.index("censorcheck") + 1] == "run"
        run = _censored_view(lines["censored view:"], tmp_path)
        # A real network: no flag names the lab.
        assert "--treat-as-public" not in args and "--port-map" not in args
        assert run.settings["treat_as_public"] == []
        free = _as_printed(lines["free view:"], "-o", "-", "-q", "--timeout", "2")
        assert free.code == 0
        assert "blocked" not in Run.model_validate_json(free.stdout).summary.by_status
        # The control server started with the lab tells an unknown notice from the site.
        control = _as_printed(lines["with control:"], "-o", "-", "-q", "--timeout", "2")
        assert control.code == 1, control.stderr
        verdicts = {
            r.target.domain: r.verdict for r in Run.model_validate_json(control.stdout).results
        }
        assert verdicts["http-generic-blockpage.lab.test"].outcome == "http.diff"
        assert (tmp_path / "lab" / "control.args").is_file()
        # One command, both views, through the lab's SOCKS5 proxy.
        grid = _as_printed(lines["side by side:"], "-o", "-", "-q", "--timeout", "2")
        assert grid.code == 1, grid.stderr
        assert [v.name for v in Run.model_validate_json(grid.stdout).vantages] == [
            "lab-censored",
            "lab-proxy",
        ]


@pytest.mark.skipif(CANNOT_UNSHARE is not None, reason=str(CANNOT_UNSHARE))
def test_a_lab_in_a_new_namespace_prints_commands_that_enter_it(tmp_path: Path) -> None:
    """What a user outside any namespace gets: the lab executes itself in a new one, and its
    commands enter it with nsenter. Its addresses exist nowhere else."""
    with _lab(tmp_path, "--namespace", "new") as lines:
        words = shlex.split(lines["censored view:"])
        assert words[0] == "nsenter"
        assert (tmp_path / "lab" / "enter.args").read_text().split() == words[
            : words.index("censorcheck")
        ]
        run = _censored_view(lines["censored view:"], tmp_path)
        assert run.settings["treat_as_public"] == []
        vantage = words[words.index("--source-address") + 1]
        with socket.socket() as sock, pytest.raises(OSError) as caught:
            sock.bind((vantage, 0))
        assert caught.value.errno == errno.EADDRNOTAVAIL


def test_the_loopback_lab_is_the_fallback(tmp_path: Path) -> None:
    with _lab(tmp_path, "--namespace", "off") as lines:
        words = shlex.split(lines["censored view:"])
        assert words[:2] == ["censorcheck", "run"] and "--treat-as-public" in words
        _censored_view(lines["censored view:"], tmp_path)


def test_every_file_holding_the_control_token_is_the_owners_only(tmp_path: Path) -> None:
    with _lab(tmp_path, "--namespace", "off"):
        folder = tmp_path / "lab"
        token = (folder / "control-token.txt").read_text(encoding="utf-8").strip()
        holding = {p.name: p.stat().st_mode & 0o777 for p in folder.rglob("*")
                   if p.is_file() and token.encode() in p.read_bytes()}  # fmt: skip
    assert {"control-token.txt", "control.args"} <= set(holding)
    assert holding == dict.fromkeys(holding, 0o600)
