"""The probe at the control's addresses: which addresses it picks, and the real CLI on the lab
with the measurement on (the default) and off (``--control-addresses 0``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.measure.elsewhere import worth_measuring
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import Control, DNSAnswer, DNSQuery, Run
from censorcheck.settings import Settings
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags

HOST = "site.example"


def answer(addresses: list[str], qtype: str = "A", resolver: str = "udp://192.0.2.53") -> DNSQuery:
    return DNSQuery(
        resolver=resolver,
        hostname=HOST,
        qtype=qtype,  # type: ignore[arg-type]
        answer=DNSAnswer(rcode="NOERROR", addresses=addresses, t=0.01),
        t=0.01,
    )


def denied() -> DNSQuery:
    return DNSQuery(
        resolver="udp://192.0.2.53",
        hostname=HOST,
        qtype="A",
        failure="dns.nxdomain",
        answer=DNSAnswer(rcode="NXDOMAIN", t=0.01),
        t=0.01,
    )


def control(*queries: DNSQuery) -> Control:
    return Control(dns=list(queries))


def picked(probe: list[DNSQuery], theirs: Control, **settings: object) -> list[str]:
    async def pick() -> list[str]:
        ctx = ProbeContext.create(Settings(**settings), ipv6=False)  # type: ignore[arg-type]
        try:
            return worth_measuring(HOST, probe, theirs, ctx)
        finally:
            await ctx.aclose()

    return asyncio.run(pick())


def test_nothing_to_check_when_the_answers_agree() -> None:
    theirs = control(answer(["93.184.215.14", "93.184.215.15"], resolver="https://c/"))
    assert picked([answer(["93.184.215.15", "151.101.65.1"])], theirs) == []


def test_a_denied_name_gets_the_controls_addresses_a_first_and_bounded() -> None:
    theirs = control(
        answer(["2606:4700::1"], qtype="AAAA", resolver="https://c/"),
        answer(["93.184.215.14", "93.184.215.15", "93.184.215.16"], resolver="https://c/"),
    )
    assert picked([denied()], theirs) == ["93.184.215.14", "93.184.215.15"]
    assert picked([denied()], theirs, control_addresses=1) == ["93.184.215.14"]
    assert picked([denied()], theirs, control_addresses=0) == []
    # Without IPv6 at this vantage the AAAA address is no use; with room for it, still left out.
    assert picked([denied()], theirs, control_addresses=8) == [
        "93.184.215.14",
        "93.184.215.15",
        "93.184.215.16",
    ]


def test_bogon_control_addresses_are_never_dialled() -> None:
    theirs = control(answer(["10.0.0.7", "127.0.0.1", "93.184.215.14"], resolver="https://c/"))
    assert picked([answer(["185.7.214.10"])], theirs) == ["93.184.215.14"]
    assert picked([answer(["185.7.214.10"])], control(answer(["0.0.0.0"]))) == []


def test_the_control_settings_bound_is_checked() -> None:
    with pytest.raises(ValueError):
        Settings(control_addresses=-1)


ROWS = ("dns-notice-http", "dns-nxdomain", "static")


def _run(lab: Lab, out: Path, *extra: str) -> Run:
    urls = [lab.topology.url(f"{row}.lab.test") for row in ROWS]
    result = run_cli("run", *urls, *lab_flags(lab, True), "--output", str(out), *extra)
    assert result.code == 1, result.stderr  # something is blocked either way (the NXDOMAIN)
    return Run.model_validate_json(out.read_text(encoding="utf-8"))


def test_the_control_address_decides_a_notice_server(lab: Lab, tmp_path: Path) -> None:
    on = {r.target.domain.split(".")[0]: r for r in _run(lab, tmp_path / "on.json").results}
    off = {
        r.target.domain.split(".")[0]: r
        for r in _run(lab, tmp_path / "off.json", "--control-addresses", "0").results
    }
    notice = on["dns-notice-http"]
    x = notice.control_addresses
    assert x is not None and x.source == "resolvers"
    control_addrs = {a for q in notice.control.dns if q.answer for a in q.answer.addresses}
    assert x.addresses and set(x.addresses) <= control_addrs
    assert not {c.address for c in notice.tcp} & set(x.addresses)  # kept apart from its own
    assert x.http is not None and x.http.hops[0].address in control_addrs
    v = notice.verdict
    assert (v.status, v.blocking, v.outcome) == ("blocked", "dns", "dns.inconsistent")
    doc = json.loads(notice.model_dump_json())
    cited = [e.ref for e in v.evidence if e.ref.startswith("/control_addresses/")]
    assert cited
    for ref in cited:
        node = doc
        for part in ref.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
    # The denial cites the site working at the control's address; the agreeing site is not
    # measured twice.
    assert any(e.ref.startswith("/control_addresses/") for e in on["dns-nxdomain"].verdict.evidence)
    assert on["static"].control_addresses is None
    # Off: nothing measured there, and the notice server is back to what nothing vouches for.
    assert all(r.control_addresses is None for r in off.values())
    assert off["dns-notice-http"].verdict.outcome == "dns.unverified"
    assert off["dns-nxdomain"].verdict.status == "blocked"
