"""Every lab scenario with our control server as an OONI test helper: ``--control ooni:URL`` from
the censored vantage in one CLI run, the server's ``/ooni/`` endpoint as the helper, real
processes on both sides. The helper's answer carries less than our own protocol (no body, no
address the page came from), so a row may expect less here (``expect_ooni``), never more."""

from __future__ import annotations

from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.lab.scenarios import SCENARIOS
from censorcheck.models import Run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags, misses
from tests.test_scenarios_control import Server, control_server  # noqa: F401 - a fixture

pytest.importorskip("fastapi")


REAL_NETWORK = True  # the namespace lab where the test run allows it (see conftest's lab)


def _ooni_run(lab: Lab, server: Server, censored: bool, out: Path) -> tuple[int, Run, str]:
    targets = out.with_name("targets.txt")
    targets.write_text("\n".join(lab.topology.target_urls()) + "\n", encoding="utf-8")
    flags = [*lab_flags(lab, censored), "--control", f"ooni:{server.url}/ooni/"]
    result = run_cli(
        "run", str(targets), *flags, "--output", str(out),
        env={"CENSORCHECK_CONTROL_TOKEN": server.token},
    )  # fmt: skip
    assert out.exists(), result.stderr
    return result.code, Run.model_validate_json(out.read_text(encoding="utf-8")), result.stderr


@pytest.fixture(scope="module")
def ooni_run(lab: Lab, control_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Run:  # noqa: F811
    out = tmp_path_factory.mktemp("ooni") / "run.json"
    code, run, stderr = _ooni_run(lab, control_server, True, out)
    assert code == 1, stderr  # done, and something is blocked
    host = lab_host(control_server.url)
    assert f"control: OONI test helpers ({host}); they learn the URLs tested" in stderr
    return run


def lab_host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]


def test_every_scenario_gets_its_verdict_from_the_helper(lab: Lab, ooni_run: Run) -> None:
    """The QUIC verdicts too: the helper reports its QUIC handshakes (x_quic_enabled)."""
    wrong = misses(lab, ooni_run, control=True, ooni=True)
    assert not wrong, "\n".join(wrong)
    assert len(ooni_run.results) == len(lab.topology.names)
    assert {r.control.source for r in ooni_run.results if r.control} == {"ooni"}


def test_the_helper_never_claims_more_than_our_own_server() -> None:
    """A row expects less from the helper only with a reason: never accessible where our server
    was needed to vouch, never blocked where our server itself does not say so."""
    rows = [s for s in SCENARIOS if s.expect_ooni is not None]
    assert rows, "no row differs: then the column is dead"
    for row in rows:
        ours, theirs = row.expected(control=True), row.expected(control=True, ooni=True)
        assert theirs != ours and row.ooni_reason, row.name
        assert theirs.status != "accessible" or ours.status == "accessible", row.name
        assert theirs.status != "blocked" or ours.status == "blocked", row.name
    assert all(s.ooni_reason == "" for s in SCENARIOS if s.expect_ooni is None)


def test_the_run_says_which_control_it_used(ooni_run: Run, control_server: Server) -> None:  # noqa: F811
    status = ooni_run.vantage.control_server
    assert status is not None and status.alive
    assert (status.protocol, status.url) == ("ooni", f"{control_server.url}/ooni/")
    assert control_server.token not in ooni_run.model_dump_json()


def test_free_vantage_with_the_helper_sees_no_blocking(
    lab: Lab,
    control_server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    code, run, stderr = _ooni_run(lab, control_server, False, tmp_path / "free.json")
    assert code == 0, stderr
    statuses = {r.target.domain: r.verdict.status for r in run.results}
    assert "blocked" not in statuses.values()
    assert "blocked" not in {r.quic_verdict.status for r in run.results if r.quic_verdict}
    assert statuses["static.lab.test"] == "accessible"


def test_ooni_with_an_empty_helper_list_is_one_line(tmp_path: Path) -> None:
    result = run_cli("run", "https://site.example/", "--control", "ooni:", cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "helper URL" in result.stderr
