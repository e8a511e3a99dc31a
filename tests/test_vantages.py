"""Vantages: configured, then measured from side by side in one run, one of them through the
lab's SOCKS5 proxy; and one vantage as another's control."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from censorcheck.lab import Lab
from censorcheck.measure import durable
from censorcheck.measure.probes import tcp
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.vantages import Vantage, read_file
from censorcheck.models import Run
from censorcheck.results.store import Journal, VantagePlan, journal_path
from censorcheck.settings import Settings
from tests.conftest import run_cli
from tests.test_store import result


def _env(tmp_path: Path) -> dict[str, str]:
    return {"CENSORCHECK_VANTAGES": str(tmp_path / "user" / "vantages.yaml")}


# --- configuration -----------------------------------------------------------------------


def test_add_list_remove(tmp_path: Path) -> None:
    env = _env(tmp_path)
    added = run_cli(
        "vantage", "add", "home", "--source-address", "192.0.2.10", "--resolver", "system",
        "--country", "kz", "--asn", "9198", "--network-type", "home", env=env,
    )  # fmt: skip
    assert added.code == 0, added.stderr
    vpn = ["vantage", "add", "vpn-nl", "--proxy", "socks5://127.0.0.1:1080"]
    vpn += ["--resolver", "https://dns.example/dns-query"]
    assert run_cli(*vpn, env=env).code == 0
    path = Path(env["CENSORCHECK_VANTAGES"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # a proxy URL may hold a password
    listed = run_cli("vantage", "list", "--json", env=env)
    by_name = {v["name"]: v for v in listed.json()}
    assert by_name["home"]["country"] == "KZ" and by_name["home"]["asn"] == 9198
    assert by_name["vpn-nl"]["proxy"] == "socks5://127.0.0.1:1080"
    assert run_cli("vantage", "remove", "home", env=env).code == 0
    assert [v.name for v in read_file(path)] == ["vpn-nl"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--proxy", "socks5://127.0.0.1:1080"], "system resolver cannot be used through"),
        (["x", "--proxy", "ftp://127.0.0.1:21", "-r", "tcp://192.0.2.1"], "a proxy is"),
        (["x", "--country", "Kazakhstan"], "two-letter"),
        (["bad name"], "a name is"),
        (["x", "--source-address", "not-an-ip"], "source_address"),
    ],
)
def test_a_bad_vantage_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result_ = run_cli("vantage", "add", *args, env=_env(tmp_path))
    assert result_.code == 2
    assert message in result_.stderr
    assert len(result_.stderr.strip().splitlines()) == 1, result_.stderr
    assert not Path(_env(tmp_path)["CENSORCHECK_VANTAGES"]).exists()


def test_a_name_is_not_overwritten_without_replace(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert run_cli("vantage", "add", "home", env=env).code == 0
    again = run_cli("vantage", "add", "home", "--country", "KZ", env=env)
    assert again.code == 2 and "--replace" in again.stderr
    assert run_cli("vantage", "add", "home", "--country", "KZ", "--replace", env=env).code == 0


def test_the_projects_file_is_read_after_the_users(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert run_cli("vantage", "add", "home", "--country", "KZ", env=env).code == 0
    project = tmp_path / "project"
    project.mkdir()
    (project / "censorcheck-vantages.yaml").write_text(
        "vantages:\n  - name: home\n    country: NL\n  - name: office\n", encoding="utf-8"
    )
    listed = run_cli("vantage", "list", "--json", cwd=project, env=env).json()
    assert {v["name"]: v.get("country") for v in listed} == {"home": "NL", "office": None}


def test_a_malformed_vantage_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "v.yaml"
    bad.write_text("vantages:\n  - name: a\n    colour: red\n", encoding="utf-8")
    out = run_cli("run", "https://site.example/", "--vantage-file", str(bad), "--vantage", "a",
                  "--control", "none")  # fmt: skip
    assert out.code == 2 and str(bad) in out.stderr and "colour" in out.stderr


def test_unknown_vantages_are_refused_before_measuring(tmp_path: Path) -> None:
    out = run_cli("run", "https://site.example/", "--vantage", "a", "--vantage", "b",
                  "--control", "none", env=_env(tmp_path))  # fmt: skip
    assert out.code == 2 and "no such vantage" in out.stderr


def test_through_a_proxy_dns_goes_through_it_too() -> None:
    controls = ["udp://192.0.2.54:5353", "https://dns.example/dns-query"]
    s = Settings(
        proxy="socks5://127.0.0.1:1080", resolvers=["udp://192.0.2.53"], control_resolvers=controls
    )
    assert s.resolvers == ["tcp://192.0.2.53"]
    assert s.control_resolvers == ["tcp://192.0.2.54:5353", "https://dns.example/dns-query"]
    with pytest.raises(ValueError, match="system resolver"):
        Settings(proxy="socks5://127.0.0.1:1080")


# --- the lab: one command, two views ------------------------------------------------------


@pytest.fixture(scope="module")
def vantage_file(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vantages") / "vantages.yaml"
    data = {"vantages": [v.model_dump(exclude_none=True) for v in lab.vantages()]}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _lab_run(lab: Lab, vantage_file: Path, out: Path, *flags: str) -> tuple[int, Run, str]:
    topo = lab.topology
    args = ["run", *topo.target_urls(), "--vantage-file", str(vantage_file), *flags]
    # TCP, so that the proxy vantage can ask it through the proxy as well.
    args += ["--control-resolver", f"tcp://{topo.honest_resolver}:{topo.ports.dns}"]
    args += ["--ca-bundle", str(lab.ca_bundle), "--timeout", "3", "--output", str(out)]
    args += ["--treat-as-public", str(topo.network)]  # the lab's addresses are its Internet
    args += ["--control", "none"]  # a --control-vantage, when given, is the control instead
    done = run_cli(*args, env={"CENSORCHECK_VANTAGES": str(out.parent / "none.yaml")})
    assert out.exists(), done.stderr
    return done.code, Run.model_validate_json(out.read_text(encoding="utf-8")), done.stdout


def test_censored_and_proxied_views_side_by_side(
    lab: Lab, vantage_file: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "grid.xml"
    code, run, table = _lab_run(
        lab, vantage_file, tmp_path / "grid.json", "--vantage", "lab-censored",
        "--vantage", "lab-proxy", "--junit", str(junit),
    )  # fmt: skip
    assert code == 1
    assert [v.name for v in run.vantages] == ["lab-censored", "lab-proxy"]
    assert run.vantages[1].proxy == lab.topology.proxy_url()
    assert run.vantages[0].country == "ZZ" and run.vantages[1].network_type == "vpn"
    names = lab.topology.names
    assert len(run.results) == 2 * len(names)
    wrong = []
    for r in run.results:
        scenario = names[r.target.domain]
        got = (r.verdict.status, r.verdict.blocking, r.verdict.outcome)
        if r.vantage == "lab-censored":
            want = scenario.expect
            if got != (want.status, want.blocking, want.outcome):
                wrong.append(f"censored {r.target.domain}: {got}")
        else:
            assert r.vantage == "lab-proxy"
            # Through the proxy the censor is not on the path: nothing is blocked.
            if r.verdict.status == "blocked" or r.verdict.outcome.startswith("proxy."):
                wrong.append(f"proxy {r.target.domain}: {got}")
    assert not wrong, "\n".join(wrong)
    by_vantage = {(r.vantage, r.target.domain): r.verdict.status for r in run.results}
    assert by_vantage[("lab-censored", "tls-sni-reset.lab.test")] == "blocked"
    assert by_vantage[("lab-proxy", "tls-sni-reset.lab.test")] == "accessible"
    assert by_vantage[("lab-proxy", "dns-nxdomain.lab.test")] == "accessible"
    assert by_vantage[("lab-proxy", "gone.lab.test")] == "down"
    # The proxy's DNS went through the proxy over TCP, to the resolver it was given.
    proxied = next(r for r in run.results if r.vantage == "lab-proxy" and r.dns)
    assert all(q.resolver.startswith("tcp://") for q in proxied.dns)
    assert run.summary.by_vantage["lab-proxy"].get("blocked", 0) == 0
    # CI sees one test suite per vantage.
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [x.get("hostname") for x in suites] == ["lab-censored", "lab-proxy"]
    assert [len(x.findall("testcase")) for x in suites] == [len(names), len(names)]
    # The grid: a column per vantage.
    assert "lab-censored" in table and "lab-proxy" in table and "2 vantages" in table


def test_a_vantage_as_the_control_of_another(lab: Lab, vantage_file: Path, tmp_path: Path) -> None:
    """The proxied free view measures as a control server would: the verdicts must be those
    the scenario table gives with a control server."""
    code, run, _ = _lab_run(
        lab, vantage_file, tmp_path / "cv.json", "--vantage", "lab-censored",
        "--control-vantage", "lab-proxy",
    )  # fmt: skip
    assert code == 1
    assert run.vantage.control_vantage == "lab-proxy"
    wrong = []
    for r in run.results:
        assert r.control.source == "vantage" and r.control.vantage == "lab-proxy"
        want = lab.topology.names[r.target.domain].expected(control=True)
        got = (r.verdict.status, r.verdict.blocking, r.verdict.outcome)
        if got != (want.status, want.blocking, want.outcome):
            wrong.append(f"{r.target.domain}: {got}: {r.verdict.reason}")
    assert not wrong, "\n".join(wrong)


def test_one_configured_vantage_keeps_its_network(
    lab: Lab, vantage_file: Path, tmp_path: Path
) -> None:
    """The most common run: one home vantage. Its country and ASN reach the document and the
    OONI export; and every --vantage-file is read, not only the last one."""
    censored = next(v for v in lab.vantages() if v.name == "lab-censored")
    home = censored.model_copy(update={"name": "kzhome", "country": "KZ", "asn": 9198})
    first = tmp_path / "home.yaml"
    first.write_text(yaml.safe_dump({"vantages": [home.model_dump(exclude_none=True)]}))
    topo = lab.topology
    out = tmp_path / "runs" / "home.json"
    args = ["run", topo.url("static.lab.test"), "--vantage-file", str(first)]
    args += ["--vantage-file", str(vantage_file), "--vantage", "kzhome", "--control", "none"]
    args += ["--control-resolver", f"tcp://{topo.honest_resolver}:{topo.ports.dns}"]
    args += ["--ca-bundle", str(lab.ca_bundle), "--timeout", "3", "--output", str(out)]
    args += ["--treat-as-public", str(topo.network)]
    done = run_cli(*args, env={"CENSORCHECK_VANTAGES": str(tmp_path / "none.yaml")})
    assert done.code == 0, done.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert [v.name for v in run.vantages] == ["kzhome"]
    for info in (run.vantage, run.vantages[0]):
        assert (info.country, info.asn, info.network_type) == ("KZ", 9198, "home")
    exported = run_cli("export", str(out.parent), "--format", "ooni", "-o", str(tmp_path / "x"))
    assert exported.code == 0, exported.stderr
    lines = (tmp_path / "x" / "measurements.jsonl").read_text(encoding="utf-8").splitlines()
    assert [(m["probe_cc"], m["probe_asn"]) for m in map(json.loads, lines)] == [("KZ", "AS9198")]


def test_a_dead_proxy_costs_its_vantage_not_the_run(
    lab: Lab, vantage_file: Path, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    extra = tmp_path / "more.yaml"
    text = vantage_file.read_text(encoding="utf-8")
    text += (
        f"- name: dead-proxy\n  proxy: socks5://127.0.0.1:{closed}\n"
        f"  resolvers: [tcp://{lab.topology.honest_resolver}:{lab.topology.ports.dns}]\n"
    )
    extra.write_text(text, encoding="utf-8")
    code, run, table = _lab_run(
        lab, extra, tmp_path / "dead.json", "--vantage", "lab-censored", "--vantage", "dead-proxy"
    )
    assert code == 1  # the censored vantage was measured, and things are blocked there
    dead = run.vantages[1]
    assert dead.name == "dead-proxy" and dead.failure and "proxy.unreachable" in dead.failure
    assert {r.vantage for r in run.results} == {"lab-censored"}
    assert "not measured" in table


def test_the_proxy_reports_what_it_met(lab: Lab) -> None:
    """Through the lab's SOCKS5 proxy a refused port is still tcp.refused, and a destination the
    proxy will not dial is the proxy's refusal, not the site's."""
    topo = lab.topology
    settings = Settings(proxy=topo.proxy_url(), resolvers=["tcp://192.0.2.1"], timeout=2)

    async def connect(address: str, port: int) -> str | None:
        ctx = ProbeContext.create(settings, ipv6=False)
        try:
            seen, stream = await tcp.connect(address, port, ctx)
            if stream is not None:
                await stream.aclose()
            return seen.failure
        finally:
            await ctx.aclose()

    dead = topo.address_of_service("dead")
    assert asyncio.run(connect(dead, topo.ports.https)) == "tcp.refused"
    assert asyncio.run(connect(topo.address_of_service("static"), topo.ports.https)) is None
    # Outside the lab's /24: refused by the proxy's rules before any packet leaves.
    assert asyncio.run(connect("127.0.0.1", topo.ports.https)) == "proxy.refused"


def test_a_multi_vantage_journal_resumes_each_vantage_apart(tmp_path: Path) -> None:
    a, b = Settings(vantage="a"), Settings(vantage="b")
    targets = [result("one.example").target, result("two.example").target]
    plans = [VantagePlan(settings=a, about=Vantage(name="a")), VantagePlan(settings=b)]
    out = tmp_path / "run.json"
    pending = durable.start(targets, a, out, vantages=plans)
    journal = Journal(journal_path(out)).open(pending.header)
    journal.append(result("one.example").model_copy(update={"vantage": "b"}))
    journal.close()
    again = durable.resume(journal_path(out))
    assert [p.settings.vantage for p in again.vantages()] == ["a", "b"]
    assert [t.domain for t in again.todo_of("a")] == ["one.example", "two.example"]
    assert [t.domain for t in again.todo_of("b")] == ["two.example"]
    assert len(again.todo) == 3


def test_every_lab_way_out_is_bound_to_a_lab_address(lab: Lab) -> None:
    """A lab command run outside the lab's namespace (a copy-paste without its nsenter prefix)
    must fail at once, not send packets to the lab's public-looking addresses on the real
    Internet: every vantage and every printed set of flags binds a lab source address."""
    for vantage in lab.vantages():
        assert vantage.source_address in (
            lab.topology.censored_vantage,
            lab.topology.free_vantage,
        ), vantage.name
    for censored in (True, False):
        flags = lab.arguments(censored=censored)
        assert "--source-address" in flags
