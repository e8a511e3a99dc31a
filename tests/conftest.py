"""Shared fixtures: a running lab, and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from censorcheck.lab import Lab, LabThread
from censorcheck.lab.netns import unavailable

# Property tests (tests/fuzz) take their number of examples from a profile: "bounded" for every
# run of the suite, reproducible from one run to the next; "fuzz" (make fuzz, or pytest
# --hypothesis-profile=fuzz) for ten thousand fresh inputs per parser. Inputs are large on
# purpose and the machine may be loaded, so no per-example deadline: a hang is caught by the
# tests' own time limit instead.
_UNHURRIED = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("bounded", max_examples=25, derandomize=True, **_UNHURRIED)
settings.register_profile("fuzz", max_examples=10_000, **_UNHURRIED)
settings.load_profile("bounded")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The results index and other caches go to a folder of the test session, not the user's
    (the CLI subprocesses inherit the variable)."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def loopback_lab() -> Iterator[Lab]:
    """The default lab (every scenario and the demo names) on a random /24 of 127.0.0.0/8."""
    with LabThread() as running:
        yield running


@pytest.fixture(scope="session")
def net_lab() -> Iterator[Lab]:
    """The default lab as a real network: public-looking addresses on the real ports, in the
    network namespace of the test run (``make test`` runs pytest in one), so a run needs no
    lab-only flag. Where that namespace is missing, or with ``CENSORCHECK_TEST_LAB=loopback``,
    the loopback lab, the fallback."""
    routable = unavailable(nft=False) is None
    if os.environ.get("CENSORCHECK_TEST_LAB") == "loopback":
        routable = False
    with LabThread(routable=routable) as running:
        yield running


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Lab:
    """The lab of a test module: the real network (``net_lab``) for a module that sets
    ``REAL_NETWORK = True``, the loopback lab for the others."""
    real = getattr(request.module, "REAL_NETWORK", False)
    running: Lab = request.getfixturevalue("net_lab" if real else "loopback_lab")
    return running


@dataclass
class CLIResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> CLIResult:
    """``censorcheck ARGS`` as a user runs it: a separate process, no terminal (``env`` is added
    to the environment)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "censorcheck", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)
