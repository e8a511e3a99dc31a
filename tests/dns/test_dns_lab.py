"""The DNS probe against the lab's censored and honest resolvers, every transport, on a
private 127.X.Y.0/24."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import dns.message
import pytest

from censorcheck.lab.topology import Topology
from censorcheck.measure.probes.dns import lookup, resolve
from censorcheck.models import DNSQuery
from tests.dns.support import LAB, Env

# --- the censored resolver, over UDP ---------------------------------------------------------

# name, failure, rcode, A addresses ("true" = the name's real address)
CENSORED = [
    ("static", None, "NOERROR", "true"),
    ("dns-nxdomain", "dns.nxdomain", "NXDOMAIN", ""),
    ("dns-refused", "dns.refused", "REFUSED", ""),
    ("dns-servfail", "dns.servfail", "SERVFAIL", ""),
    ("dns-zero", None, "NOERROR", "0.0.0.0"),
    ("dns-loopback", None, "NOERROR", "127.0.0.1"),
    ("dns-blockpage", None, "NOERROR", "blockpage"),
    ("dns-blockpage-http", None, "NOERROR", "blockpage"),
    ("cdn", None, "NOERROR", "alternate"),
    ("gone", "dns.nxdomain", "NXDOMAIN", ""),
    ("not-in-zone", "dns.nxdomain", "NXDOMAIN", ""),
]


def expected_a(topology: Topology, name: str, spec: str) -> list[str]:
    return {
        "": [],
        "true": topology.true_a(name),
        "blockpage": [topology.blockpage_address],
        "alternate": topology.alternate_a(),
    }.get(spec, [spec])


@pytest.mark.parametrize(("scenario", "failure", "rcode", "spec"), CENSORED)
def test_censored_resolver_udp(
    in_lab: Callable[..., Any],
    topology: Topology,
    scenario: str,
    failure: str | None,
    rcode: str,
    spec: str,
) -> None:
    name = f"{scenario}.{LAB}"

    async def body(env: Env) -> list[DNSQuery]:
        return await resolve(name, env.resolver("udp"), env.ctx)

    # Both answers are sent before the probe reads the first: whether the probe listens on after
    # a first answer is then all the test measures, however loaded the machine.
    a, aaaa = in_lab(body, inject_delay=0)
    assert (a.qtype, aaaa.qtype) == ("A", "AAAA")
    assert a.failure == failure
    assert a.answer is not None and a.answer.rcode == rcode
    assert a.answer.addresses == expected_a(topology, name, spec)
    assert a.late_answers == []
    assert a.resolver == f"udp://{topology.censored_resolver}:{topology.ports.dns}"
    # AAAA: the same rcode; a lie by address is "no data" for AAAA.
    assert aaaa.answer is not None and aaaa.answer.rcode == rcode
    assert aaaa.answer.addresses == []
    assert aaaa.failure == failure


def test_injection_race_is_recorded(in_lab: Callable[..., Any], topology: Topology) -> None:
    name = f"dns-inject.{LAB}"

    async def body(env: Env) -> list[DNSQuery]:
        return await resolve(name, env.resolver("udp"), env.ctx)

    # Both answers are sent before the probe reads the first: whether the probe listens on after
    # a first answer is then all the test measures, however loaded the machine.
    a, aaaa = in_lab(body, inject_delay=0)
    assert a.failure is None
    assert a.answer is not None and a.answer.addresses == [topology.blockpage_address]
    assert [late.addresses for late in a.late_answers] == [topology.true_a(name)]
    assert a.late_answers[0].t > a.answer.t
    # Forged and true AAAA are both empty: identical replies are not recorded.
    assert aaaa.late_answers == []


def test_linger_cap_zero_stops_listening(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> DNSQuery:
        return await lookup(f"dns-inject.{LAB}", "A", env.resolver("udp"), env.ctx)

    assert in_lab(body, dns_linger_max=0.0).late_answers == []


def test_silence_is_a_timeout_on_every_transport(in_lab: Callable[..., Any]) -> None:
    name = f"dns-silence.{LAB}"

    async def body(env: Env) -> list[DNSQuery]:
        asked = [lookup(name, "A", env.resolver(scheme), env.ctx) for scheme in ("udp", "tcp")]
        asked += [lookup(name, "A", env.resolver(scheme), env.ctx) for scheme in ("tls", "https")]
        return list(await asyncio.gather(*asked))

    queries = in_lab(body)
    assert [q.failure for q in queries] == ["dns.timeout"] * 4
    assert all(q.answer is None and q.t > 0.9 for q in queries)  # waited the timeout out


@pytest.mark.parametrize("scheme", ["tcp", "tls", "https"])
def test_injection_on_streams_is_the_forged_answer_only(
    in_lab: Callable[..., Any], topology: Topology, scheme: str
) -> None:
    async def body(env: Env) -> DNSQuery:
        return await lookup(f"dns-inject.{LAB}", "A", env.resolver(scheme), env.ctx)

    query = in_lab(body)
    assert query.answer is not None and query.answer.addresses == [topology.blockpage_address]
    assert query.late_answers == []


# --- the honest resolver, every transport ----------------------------------------------------


@pytest.mark.parametrize("scheme", ["udp", "tcp", "tls", "https"])
def test_honest_resolver(in_lab: Callable[..., Any], topology: Topology, scheme: str) -> None:
    async def body(env: Env) -> list[list[DNSQuery]]:
        resolver = env.resolver(scheme, honest=True)
        names = ["static", "dns-nxdomain", "dns-silence", "ipv6-only-broken", "gone", "nowhere"]
        return list(
            await asyncio.gather(*(resolve(f"{n}.{LAB}", resolver, env.ctx) for n in names))
        )

    static, nxdomain, silence, ipv6, gone, nowhere = in_lab(body)
    for name, (a, aaaa) in [
        ("static", static),
        ("dns-nxdomain", nxdomain),
        ("dns-silence", silence),
    ]:
        assert a.failure is None and aaaa.failure is None
        assert a.answer is not None and a.answer.addresses == topology.true_a(f"{name}.{LAB}")
        assert a.answer.ttl == 300 and a.answer.cnames == [] and a.answer.rcode == "NOERROR"
        assert aaaa.answer is not None and aaaa.answer.addresses == [] and aaaa.answer.ttl is None
    a, aaaa = ipv6
    assert aaaa.answer is not None and aaaa.answer.addresses == ["2001:db8::10"]
    for a, aaaa in (gone, nowhere):
        assert a.failure == aaaa.failure == "dns.nxdomain"
    assert static[0].resolver.startswith(f"{scheme}://")


def test_doh_get_and_http_errors(in_lab: Callable[..., Any], topology: Topology) -> None:
    base = f"https://{topology.honest_resolver}:{topology.ports.https}"
    query = dns.message.make_query(f"static.{LAB}", "A")
    encoded = base64.urlsafe_b64encode(query.to_wire()).rstrip(b"=").decode()

    async def body(env: Env) -> list[Any]:
        http = env.ctx.http
        good = await http.get(f"{base}/dns-query", params={"dns": encoded})
        return [
            dns.message.from_wire(good.content),
            good.headers["content-type"],
            (await http.get(f"{base}/dns-query", params={"dns": "!!"})).status_code,
            (await http.get(f"{base}/dns-query")).status_code,
            (await http.get(f"{base}/other", params={"dns": encoded})).status_code,
            (await http.post(f"{base}/dns-query", content=b"x")).status_code,
            (await http.put(f"{base}/dns-query", content=b"x")).status_code,
            (
                await http.post(
                    f"{base}/dns-query",
                    content=b"garbage",
                    headers={"content-type": "application/dns-message"},
                )
            ).status_code,
        ]

    reply, ctype, *statuses = in_lab(body)
    assert query.is_response(reply)
    assert [rrset.to_text() for rrset in reply.answer] == [
        f"static.{LAB}. 300 IN A {topology.true_a(f'static.{LAB}')[0]}"
    ]
    assert ctype == "application/dns-message"
    assert statuses == [400, 400, 404, 415, 405, 400]


def test_untrusted_certificate(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> list[DNSQuery]:
        asked = [
            lookup(f"static.{LAB}", "A", env.resolver(s, True), env.ctx) for s in ("tls", "https")
        ]
        return list(await asyncio.gather(*asked))

    assert [q.failure for q in in_lab(body, trusted=False)] == ["dns.untrusted"] * 2
