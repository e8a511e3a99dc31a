"""Lab scenarios with our control server as an OONI test helper: ``--control ooni:URL`` from the
censored vantage, the server's ``/ooni/`` endpoint as the helper, real processes on both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.models import Run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags
from tests.test_scenarios_control import Server, control_server  # noqa: F401 - a fixture

pytest.importorskip("fastapi")

REAL_NETWORK = True  # the namespace lab where the test run allows it (see conftest's lab)

# Rows whose verdict the helper must give as our own server does.
ROWS = {
    "tls-sni-reset": ("blocked", "tls"),
    "static": ("accessible", None),
    "dns-nxdomain": ("blocked", "dns"),
}


@pytest.fixture(scope="module")
def ooni_run(lab: Lab, control_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Run:  # noqa: F811
    out = tmp_path_factory.mktemp("ooni") / "run.json"
    urls = [lab.topology.url(f"{name}.lab.test") for name in ROWS]
    result = run_cli(
        "run",
        *urls,
        *lab_flags(lab, True),
        "--control",
        f"ooni:{control_server.url}/ooni/",
        "--output",
        str(out),
        env={"CENSORCHECK_CONTROL_TOKEN": control_server.token},
    )
    assert result.code == 1, result.stderr  # done, and something is blocked
    return Run.model_validate_json(out.read_text(encoding="utf-8"))


def test_the_helper_gives_the_verdicts(ooni_run: Run) -> None:
    got = {
        r.target.domain.removesuffix(".lab.test"): (r.verdict.status, r.verdict.blocking)
        for r in ooni_run.results
    }
    assert got == ROWS, [r.verdict.reason for r in ooni_run.results]
    assert {r.control.source for r in ooni_run.results} == {"ooni"}


def test_the_run_says_which_control_it_used(ooni_run: Run, control_server: Server) -> None:  # noqa: F811
    status = ooni_run.vantage.control_server
    assert status is not None and status.alive
    assert (status.protocol, status.url) == ("ooni", f"{control_server.url}/ooni/")
    assert control_server.token not in ooni_run.model_dump_json()


def test_ooni_without_a_helper_url_is_one_line(tmp_path: Path) -> None:
    result = run_cli("run", "https://site.example/", "--control", "ooni", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "helper URL" in result.stderr
