"""Every lab scenario with the control server as the control: the issue's acceptance run.

The server runs as its own process, started with the issue's flags word for word, on the free
vantage's source address; the probe runs from the censored vantage with ``--control``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from censorcheck.lab import Lab
from censorcheck.lab.netns import KernelLab, KernelRule
from censorcheck.models import Run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags, misses

pytest.importorskip("fastapi")

REAL_NETWORK = True  # the namespace lab where the test run allows it (see conftest's lab)

TOKEN = "lab-token-" + "x" * 24


@dataclass
class Server:
    url: str
    token: str


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def control_server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tokens = tmp_path_factory.mktemp("control") / "tokens.txt"
    tokens.write_text(f"# the lab's probe\n{TOKEN}\n", encoding="utf-8")
    topo = lab.topology
    # On the namespace lab the server sits on the free network, as in the field, and needs no
    # flag to measure the lab's addresses; on loopback it must be told they are its Internet.
    host = "127.0.0.1" if topo.loopback else topo.free_vantage
    port = _free_port(host)
    argv = [sys.executable, "-m", "censorcheck", "control", "serve"]
    argv += ["--listen", f"{host}:{port}", "--resolver", topo.resolver_uri(censored=False)]
    argv += ["--source-address", topo.free_vantage, "--ca-bundle", str(lab.ca_bundle)]
    if topo.loopback:
        argv += ["--allow-private", "--treat-as-public", str(topo.network)]
    argv += ["--token-file", str(tokens)]
    log = tokens.with_name("server.log")
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"control server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Server(url, TOKEN)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def targets_file(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lab") / "lab-targets.txt"
    path.write_text("\n".join(lab.topology.target_urls()) + "\n", encoding="utf-8")
    return path


def _run(targets: Path, flags: list[str], out: Path, **env: str) -> tuple[int, Run, str]:
    result = run_cli("run", str(targets), *flags, "--output", str(out), env=env)
    assert out.exists(), result.stderr
    return result.code, Run.model_validate_json(out.read_text(encoding="utf-8")), result.stderr


@pytest.fixture(scope="module")
def control_run(
    lab: Lab, control_server: Server, targets_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    out = tmp_path_factory.mktemp("out") / "run.json"
    flags = [*lab_flags(lab, True), "--control", control_server.url]
    flags += ["--control-token", control_server.token]
    code, run, stderr = _run(targets_file, flags, out)
    assert code == 1, stderr  # 1: done, and something is blocked
    return run


def test_every_scenario_gets_its_verdict(lab: Lab, control_run: Run) -> None:
    wrong = misses(lab, control_run, control=True)
    assert not wrong, "\n".join(wrong)
    assert len(control_run.results) == len(lab.topology.names)


def test_the_control_server_changes_what_the_resolver_alone_cannot_tell(lab: Lab) -> None:
    """The rows where the server matters: if none differed, this file would prove nothing."""
    changed = {s.name for s in lab.topology.names.values() if s.expected(True) != s.expected(False)}
    assert {"http-generic-blockpage", "http-redirect-blockpage", "down-everywhere"} <= changed
    assert {"tarpit", "selfsigned"} <= changed
    quic = {s.name for s in lab.topology.names.values()
            if s.expected_quic(True) != s.expected_quic(False)}  # fmt: skip
    assert {"quic-udp-drop", "quic-stale"} <= quic


def test_every_result_carries_the_servers_observations(control_run: Run) -> None:
    assert control_run.vantage.control_server is not None
    assert control_run.vantage.control_server.alive
    for result in control_run.results:
        control = result.control
        assert control is not None and control.source == "server", result.target.url
    by_name = {r.target.domain: r for r in control_run.results}
    # The server fetched the page the censor replaced, so the comparison had something to use.
    generic = by_name["http-generic-blockpage.lab.test"]
    assert generic.control is not None and generic.control.http is not None
    seen, theirs = generic.http, generic.control.http
    assert seen is not None and seen.hops[-1].response and theirs.hops[-1].response
    assert theirs.hops[-1].response.status == 200
    assert seen.hops[-1].response.title != theirs.hops[-1].response.title
    # The redirect went to a site the control never saw; the evidence names it.
    redirect = by_name["http-redirect-blockpage.lab.test"].verdict
    assert "isp-notice.test" in redirect.reason


def test_the_token_is_not_in_the_run_document(control_run: Run) -> None:
    assert TOKEN not in control_run.model_dump_json()


def test_free_vantage_with_the_control_server_sees_no_blocking(
    lab: Lab, control_server: Server, targets_file: Path, tmp_path: Path
) -> None:
    flags = [*lab_flags(lab, False), "--control", control_server.url]
    code, run, stderr = _run(
        targets_file, flags, tmp_path / "free.json", CENSORCHECK_CONTROL_TOKEN=TOKEN
    )
    assert code == 0, stderr
    statuses = {r.target.domain: r.verdict.status for r in run.results}
    assert "blocked" not in statuses.values()
    quic = {r.target.domain: r.quic_verdict.status for r in run.results if r.quic_verdict}
    assert "blocked" not in quic.values()
    assert quic["quic-udp-drop.lab.test"] == "accessible"
    assert quic["quic-stale.lab.test"] == "down"
    assert statuses["static.lab.test"] == "accessible"
    assert statuses["down-everywhere.lab.test"] == "down"


def test_an_unreachable_control_server_leaves_the_control_resolvers(
    lab: Lab, targets_file: Path, tmp_path: Path
) -> None:
    """A server that fails the pre-flight is not asked again: the control resolvers stand in for
    the whole run, and every row gets the verdict it has with the resolvers alone."""
    flags = [*lab_flags(lab, True), "--control", f"http://127.0.0.1:{_free_port()}"]
    flags += ["--control-token", TOKEN]
    code, run, stderr = _run(targets_file, flags, tmp_path / "nocontrol.json")
    assert code == 1, stderr  # the DNS rows are still blocked
    assert "the control resolvers stand in, for DNS only" in stderr
    assert run.vantage.control_server is not None and not run.vantage.control_server.alive
    assert {r.control.source for r in run.results} == {"resolvers"}
    wrong = misses(lab, run, control=False)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("token", "says"), [(None, "asks for a token"), ("wrong", "did not accept")]
)
def test_a_refused_token_is_named_for_what_it_is(
    lab: Lab, control_server: Server, tmp_path: Path, token: str | None, says: str
) -> None:
    env = {"CENSORCHECK_CONTROL_TOKEN": token} if token else {}
    result = run_cli(
        "run", lab.topology.url("static.lab.test"), *lab_flags(lab, True),
        "--control", control_server.url, "-o", str(tmp_path / "r.json"), env=env,
    )  # fmt: skip
    assert result.code == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert says in result.stderr


def test_diff_says_when_the_control_not_the_network_changed(
    lab: Lab, control_run: Run, targets_file: Path, tmp_path: Path
) -> None:
    """A run judged against the resolvers alone, then one judged by the server: the verdicts
    that moved (the server could tell what the resolvers could not) are flagged as judged
    against another kind of control, so no reader takes them for a change in censorship."""
    alone = tmp_path / "alone.json"
    _run(targets_file, lab_flags(lab, True), alone)
    served = tmp_path / "served.json"
    served.write_text(control_run.model_dump_json(), encoding="utf-8")
    done = run_cli("diff", str(alone), str(served), "--format", "json")
    assert done.code in (0, 1), done.stderr
    changes = {c["url"].split("/")[2]: c for c in json.loads(done.stdout)["changes"]}
    moved = changes["http-generic-blockpage.lab.test"]
    assert (moved["before"]["control"], moved["after"]["control"]) == ("resolvers", "server")
    assert moved["control_changed"] and all(c["control_changed"] for c in changes.values())
    table = run_cli("diff", str(alone), str(served), "--format", "tsv")
    assert "judged with: server control" in table.stdout


def test_a_network_that_drops_all_quic_blames_no_site(
    lab: Lab, control_server: Server, tmp_path: Path
) -> None:
    """Every datagram to UDP/443 from the censored vantage dropped in the kernel, as a company
    firewall or a country-wide QUIC ban does: each HTTP/3 row fails here while the control server
    loads it, and the run's baseline says no site is to blame (rules 7)."""
    if lab.kernel_skipped is not None:
        pytest.skip(lab.kernel_skipped)
    topo = lab.topology
    rows = [name for name, s in topo.names.items() if s.quic != "none"]
    rules = [KernelRule("drop_udp", topo.censored_vantage, h.address, topo.ports.https)
             for h in topo.hosts.values() if h.quic != "none"]  # fmt: skip
    targets = tmp_path / "quic.txt"
    targets.write_text("\n".join(topo.url(n) for n in rows) + "\n", encoding="utf-8")
    flags = [*lab_flags(lab, True), "--control", control_server.url]
    flags += ["--control-token", control_server.token]
    with KernelLab([], rules):
        code, run, stderr = _run(targets, flags, tmp_path / "no-quic.json")
    assert code == 0, stderr  # nothing blocked: TCP works, and QUIC fails for the network
    (baseline,) = run.baselines
    # Every HTTP/3 row tries QUIC, but the one whose HTTPS record the censor strips.
    tried = [r for r in run.results if r.quic]
    assert len(tried) == len(rows) - 1
    assert (baseline.quic_targets, baseline.quic_answered) == (len(tried), 0)
    assert baseline.quic_control_loaded >= 3  # quic, quic-udp-drop, quic-sni-drop
    for result in run.results:
        assert result.verdict.status == "accessible", result.verdict.reason
    for result in tried:
        quic = result.quic_verdict
        assert quic is not None and quic.status in ("inconclusive", "down"), quic
        if quic.status == "inconclusive":
            assert f"of the {baseline.quic_addresses} addresses tried in this run" in quic.reason
    by_name = {r.target.domain: r.quic_verdict for r in run.results}
    plain = by_name["quic.lab.test"]  # loads over HTTP/3 wherever QUIC gets through
    assert plain is not None and (plain.status, plain.outcome) == ("inconclusive", "quic.timeout")
