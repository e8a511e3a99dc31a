"""A run always names its control: --control's forms, the configured default, the run header,
and the pre-flight that stops a run no control answers (real CLI, real lab, dead local ports)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from censorcheck.cli.header import control_lines
from censorcheck.control.ooni_client import OONIClient
from censorcheck.lab import Lab
from censorcheck.measure.controls import ControlPlan, server_for
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.running import run_blocking
from censorcheck.models import ControlServerStatus, Run
from censorcheck.settings import CONTROL_ENV, OONI_PUBLIC_HELPERS, Settings, choose_control
from tests.conftest import run_cli
from tests.test_cli import one_line_error
from tests.test_scenarios import lab_flags

NO_CONFIG = {CONTROL_ENV: ""}  # whatever the machine running the tests has configured
ROWS = ["dns-nxdomain", "dns-refused", "static", "tls-sni-reset"]


def _dead_port() -> int:
    """A loopback port with nothing listening: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _without_control(flags: list[str]) -> list[str]:
    at = flags.index("--control")
    return flags[:at] + flags[at + 2 :]


def _dead_control_resolvers(flags: list[str]) -> list[str]:
    flags = list(flags)
    flags[flags.index("--control-resolver") + 1] = f"tcp://127.0.0.1:{_dead_port()}"
    return flags


def _header(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("control:", "warning:"))]


# --- choosing the control ----------------------------------------------------------------


def test_the_default_is_the_public_helpers_when_nothing_is_configured() -> None:
    chosen = choose_control(None, {})
    assert chosen.origin == "default" and chosen.vantage is None
    assert Settings(control_url=chosen.control_url).ooni_helpers == list(OONI_PUBLIC_HELPERS)
    assert choose_control(None, {CONTROL_ENV: "  "}).control_url == chosen.control_url


def test_the_configured_control_is_the_default() -> None:
    chosen = choose_control(None, {CONTROL_ENV: "https://control.example.net/"})
    assert (chosen.control_url, chosen.origin) == ("https://control.example.net/", "environment")
    assert choose_control(None, {CONTROL_ENV: "none"}).control_url is None
    assert choose_control(None, {CONTROL_ENV: "vantage:vpn"}).vantage == "vpn"


@pytest.mark.parametrize(
    ("given", "url", "vantage"),
    [
        ("none", None, None),
        ("ooni:http://a.test/,https://b.test/", "ooni:http://a.test/,https://b.test/", None),
        ("https://c.test:8080", "https://c.test:8080", None),
        ("vantage:vpn-nl", None, "vpn-nl"),
    ],
)
def test_each_form_of_control(given: str, url: str | None, vantage: str | None) -> None:
    chosen = choose_control(given, {CONTROL_ENV: "https://configured.test/"})
    assert (chosen.control_url, chosen.vantage, chosen.origin) == (url, vantage, "--control")


@pytest.mark.parametrize(
    ("given", "env", "needle"),
    [
        ("ftp://x", {}, "--control ftp://x: a control is ooni"),
        ("ooni:", {}, "at least one test helper URL"),
        ("ooni:ftp://x", {}, "ftp://x: a test helper URL starts with"),
        ("vantage:", {}, "needs a vantage name"),
        (None, {CONTROL_ENV: "gopher://x"}, f"{CONTROL_ENV}=gopher://x: a control is"),
    ],
)
def test_a_bad_control_names_where_it_came_from(
    given: str | None, env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ValueError) as caught:
        choose_control(given, env)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--control", "ftp://x"], "--control ftp://x"),
        (["--control", "vantage:nope"], "--control vantage:nope: no such vantage"),
        (["--control", "https://a.test/", "--control-vantage", "v"], "choose one"),
    ],
)
def test_a_bad_control_is_exit_2_and_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    env = {**NO_CONFIG, "CENSORCHECK_VANTAGES": str(tmp_path / "none.yaml")}
    result = run_cli("run", "https://site.example/", *args, cwd=tmp_path, env=env)
    assert result.code == 2, result.stderr
    assert needle in one_line_error(result.stderr)


def test_a_bad_configured_control_is_exit_2_and_one_line(tmp_path: Path) -> None:
    result = run_cli("run", "https://site.example/", cwd=tmp_path, env={CONTROL_ENV: "ftp://x"})
    assert result.code == 2
    assert f"{CONTROL_ENV}=ftp://x" in one_line_error(result.stderr)


# --- the run header and the pre-flight, against the lab ------------------------------------


def _run(lab: Lab, tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> tuple:
    out = tmp_path / "run.json"
    urls = [lab.topology.url(f"{name}.lab.test") for name in ROWS]
    result = run_cli("run", *urls, *flags, "-o", str(out), "-q", env={**NO_CONFIG, **(env or {})})
    run = Run.model_validate_json(out.read_text(encoding="utf-8")) if out.exists() else None
    return result, run


def test_control_none_uses_the_resolvers_and_says_so(lab: Lab, tmp_path: Path) -> None:
    result, run = _run(lab, tmp_path, *lab_flags(lab, True))
    assert result.code == 1, result.stderr  # measured; DNS rows blocked
    assert _header(result.stderr) == [
        f"control: control resolvers only ({lab.topology.resolver_uri(censored=False)}): they "
        "check DNS; TLS and HTTP blocking is claimed only where the probe's own evidence shows "
        "it (a neutral name or Host that gets through)"
    ]
    assert {r.control.source for r in run.results} == {"resolvers"}
    assert run.vantage.control_server is None and run.settings["control_url"] is None


def test_a_vantage_as_the_control_by_control(lab: Lab, tmp_path: Path) -> None:
    vantages = tmp_path / "vantages.yaml"
    data = {"vantages": [v.model_dump(exclude_none=True) for v in lab.vantages()]}
    vantages.write_text(yaml.safe_dump(data), encoding="utf-8")
    flags = [*_without_control(lab_flags(lab, True)), "--control", "vantage:lab-free"]
    flags += ["--vantage-file", str(vantages), "--vantage", "lab-censored"]
    result, run = _run(lab, tmp_path, *flags, env={"CENSORCHECK_VANTAGES": str(vantages)})
    assert result.code == 1, result.stderr
    assert _header(result.stderr) == [
        "control: vantage lab-free, measuring each target its own way out"
    ]
    assert run.vantage.control_vantage == "lab-free"
    assert {(r.control.source, r.control.vantage) for r in run.results} == {("vantage", "lab-free")}


def test_a_silent_control_vantage_leaves_the_control_resolvers(lab: Lab, tmp_path: Path) -> None:
    vantages = tmp_path / "vantages.yaml"
    silent = f"tcp://127.0.0.1:{_dead_port()}"
    vantages.write_text(yaml.safe_dump({"vantages": [{"name": "far", "resolvers": [silent]}]}))
    flags = [*_without_control(lab_flags(lab, True)), "--control", "vantage:far"]
    result, run = _run(lab, tmp_path, *flags, env={"CENSORCHECK_VANTAGES": str(vantages)})
    assert result.code == 1, result.stderr  # the DNS rows are still blocked
    assert _header(result.stderr)[0] == (
        "warning: control vantage far: none of its resolvers answered; the control resolvers "
        "stand in, for DNS only"
    )
    assert {r.control.source for r in run.results} == {"resolvers"}
    blocked = {r.target.domain for r in run.results if r.verdict.blocking == "dns"}
    assert blocked == {"dns-nxdomain.lab.test", "dns-refused.lab.test"}


def test_no_control_answering_stops_the_run_with_one_line(lab: Lab, tmp_path: Path) -> None:
    helper = f"http://127.0.0.1:{_dead_port()}/"
    flags = _dead_control_resolvers(_without_control(lab_flags(lab, True)))
    result, run = _run(lab, tmp_path, *flags, "--control", f"ooni:{helper}")
    assert result.code == 3, result.stderr
    line = one_line_error(result.stderr)
    assert "no control answered" in line and "127.0.0.1" in line and "control.unreachable" in line
    assert "control resolvers tcp://127.0.0.1:" in line and "--no-control-ok" in line
    assert run is None and not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


def test_no_control_ok_measures_without_one(lab: Lab, tmp_path: Path) -> None:
    helper = f"http://127.0.0.1:{_dead_port()}/"
    flags = _dead_control_resolvers(_without_control(lab_flags(lab, True)))
    result, run = _run(lab, tmp_path, *flags, "--control", f"ooni:{helper}", "--no-control-ok")
    assert result.code == 0, result.stderr  # nothing can be called blocked
    header = _header(result.stderr)
    assert header[0].startswith("warning: no control answered (--no-control-ok)")
    assert header[1] == "control: none (nothing answered the pre-flight)"  # not "OONI ..."
    assert len(run.results) == len(ROWS)
    assert "blocked" not in {r.verdict.status for r in run.results}
    assert {r.control.failure for r in run.results} == {"control.unreachable"}
    assert run.settings["no_control_ok"] is True


def test_no_control_ok_with_dead_resolvers_alone(lab: Lab, tmp_path: Path) -> None:
    flags = _dead_control_resolvers(lab_flags(lab, True))
    stopped, _ = _run(lab, tmp_path, *flags)
    assert stopped.code == 3 and "no control answered" in one_line_error(stopped.stderr)
    result, run = _run(lab, tmp_path, *flags, "--no-control-ok")
    assert result.code == 0, result.stderr
    assert {r.verdict.status for r in run.results} <= {"inconclusive", "accessible"}


def test_a_dead_configured_server_falls_back_to_the_control_resolvers(
    lab: Lab, tmp_path: Path
) -> None:
    """The server set in the environment does not answer: one warning, and the DNS rules still
    work with the control resolvers, giving each row its resolver-only verdict."""
    server = f"http://127.0.0.1:{_dead_port()}"
    flags = _without_control(lab_flags(lab, True))
    result, run = _run(lab, tmp_path, *flags, env={CONTROL_ENV: server})
    assert result.code == 1, result.stderr
    warning, header = _header(result.stderr)[:2]
    assert warning.startswith(f"warning: control server {server} did not answer (control.")
    assert "the control resolvers stand in" in warning
    assert header.startswith("control: control resolvers only")
    status = run.vantage.control_server
    assert status is not None and not status.alive and status.url == server
    for r in run.results:
        expect = lab.topology.names[r.target.domain].expected(control=False)
        assert (r.verdict.status, r.verdict.blocking) == (expect.status, expect.blocking), r
        assert r.control.source == "resolvers" and r.control.failure is None
    by_name = {r.target.domain: r.verdict for r in run.results}
    assert (by_name["dns-nxdomain.lab.test"].status, by_name["dns-nxdomain.lab.test"].blocking) == (
        "blocked",
        "dns",
    )


def test_the_header_names_the_public_helpers_and_what_they_learn() -> None:
    """Without contacting them: the header a run with OONI's public helpers prints once its
    pre-flight chose them (a client is made, never used)."""
    settings = Settings(control_url="ooni", control_token="for-my-own-server")
    proxied = settings.model_copy(update={"proxy": "socks5://127.0.0.1:1"})
    ctx = ProbeContext.create(settings, False)
    helpers = server_for(settings, ctx)
    try:
        assert isinstance(helpers, OONIClient) and helpers.urls == list(OONI_PUBLIC_HELPERS)
        assert "authorization" not in helpers._client.headers  # the user's token stays home
        status = ControlServerStatus(url=OONI_PUBLIC_HELPERS[0], protocol="ooni", alive=True)
        (line,) = control_lines(settings, ControlPlan(helpers, [], [], status))
        assert line.startswith("control: OONI's public test helpers (0.th.ooni.org, 1.th.ooni")
        assert "they learn the URLs tested and this machine's address" in line
        (line,) = control_lines(proxied, ControlPlan(helpers, [], [], status))
        assert "they learn the URLs tested and the proxy's address" in line
    finally:
        if helpers is not None:
            run_blocking(helpers.aclose())
        run_blocking(ctx.aclose())
