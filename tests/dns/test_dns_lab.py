"""The DNS probe against the lab's resolvers, every transport, on a private 127.X.Y.0/24."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from censorcheck.errors import ConfigError
from censorcheck.lab import dns as labdns
from censorcheck.lab.dns import DNSLab
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.topology import Ports, Topology
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dns import (
    Resolver,
    expand_system,
    lookup,
    parse_resolver,
    preflight,
    read_answer,
    resolve,
)
from censorcheck.models import DNSQuery
from censorcheck.settings import Settings

T = TypeVar("T")
NETWORK = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24"
LAB = "lab.test"


@pytest.fixture(scope="module")
def topology() -> Topology:
    return Topology(network=NETWORK, ports=Ports())


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI()


@pytest.fixture(scope="module")
def ca_bundle(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pki.write_ca_bundle(tmp_path_factory.mktemp("ca") / "lab-ca.pem")


def at(topology: Topology, offset: int) -> str:
    """An address of the lab network where the lab itself runs nothing."""
    return str(topology.network.network_address + offset)


@dataclass
class Env:
    topology: Topology
    ctx: ProbeContext

    def resolver(self, scheme: str, honest: bool = False) -> Resolver:
        address = self.topology.honest_resolver if honest else self.topology.censored_resolver
        ports = self.topology.ports
        port = {"udp": ports.dns, "tcp": ports.dns, "tls": ports.dot, "https": ports.https}[scheme]
        path = "/dns-query" if scheme == "https" else ""
        return parse_resolver(f"{scheme}://{address}:{port}{path}")


Body = Callable[[Env], Awaitable[T]]


@pytest.fixture
def in_lab(topology: Topology, pki: LabPKI, ca_bundle: Path) -> Callable[..., Any]:
    """Run ``body(env)`` with the lab's resolvers up and a probe context on the censored vantage.

    Fails if anything reached asyncio's exception handler (tracebacks the lab should not log).
    """

    def run(body: Body[T], trusted: bool = True, **settings: Any) -> T:
        async def main() -> T:
            problems: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: problems.append(context))
            options: dict[str, Any] = {
                "ca_bundle": ca_bundle if trusted else None,
                "source_address": topology.censored_vantage,
                "timeout": 1.0,
                **settings,
            }
            ctx = ProbeContext.create(Settings(**options), ipv6=False)
            try:
                async with DNSLab(topology, pki):
                    result = await body(Env(topology, ctx))
            finally:
                await ctx.aclose()
            assert problems == []
            return result

        return asyncio.run(main())

    return run


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

    a, aaaa = in_lab(body)
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

    a, aaaa = in_lab(body)
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

    started = time.monotonic()
    queries = in_lab(body)
    assert [q.failure for q in queries] == ["dns.timeout"] * 4
    assert all(q.answer is None and 0.9 < q.t < 1.5 for q in queries)
    assert time.monotonic() - started < 3


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


# --- pre-flight and the linger window --------------------------------------------------------


def test_preflight_alive(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> tuple[list[Any], dict[str, float]]:
        statuses = [await preflight(env.resolver(s), env.ctx) for s in ("udp", "tcp", "tls")]
        statuses.append(await preflight(env.resolver("https", True), env.ctx, role="control"))
        return statuses, dict(env.ctx.resolver_rtt)

    statuses, rtts = in_lab(body)
    assert all(s.alive and s.failure is None and s.rtt is not None for s in statuses)
    assert statuses[-1].role == "control" and statuses[0].role == "probe"
    assert set(rtts) == {s.uri for s in statuses}


@pytest.mark.parametrize("scheme", ["udp", "tcp", "tls"])
def test_preflight_dead_resolver_is_fast(
    in_lab: Callable[..., Any], topology: Topology, scheme: str
) -> None:
    uri = f"{scheme}://{at(topology, 99)}:{topology.ports.dns}"

    async def body(env: Env) -> Any:
        return await preflight(parse_resolver(uri), env.ctx)

    started = time.monotonic()
    status = in_lab(body)
    assert time.monotonic() - started < 0.5
    assert not status.alive and status.rtt is None
    # Nothing listening (ICMP port unreachable / TCP RST) is not a REFUSED answer.
    assert status.failure == "dns.unreachable"


def test_linger_keeps_accessible_queries_fast(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> tuple[float, list[DNSQuery]]:
        resolver = env.resolver("udp")
        await preflight(resolver, env.ctx)
        started = time.monotonic()
        queries = await resolve(f"static.{LAB}", resolver, env.ctx)
        return time.monotonic() - started, queries

    elapsed, queries = in_lab(body, dns_linger_max=0.5)
    assert all(q.failure is None for q in queries)
    assert elapsed < 0.15  # the 20 ms floor and a little, far below the 0.5 s cap


def test_system_uses_its_nameservers(in_lab: Callable[..., Any], topology: Topology) -> None:
    dead = (at(topology, 98), at(topology, 99))
    system = Resolver("system", "", 53, "", "system", nameservers=dead)

    async def body(env: Env) -> DNSQuery:
        return await lookup(f"static.{LAB}", "A", system, env.ctx)

    query = in_lab(body)
    assert query.resolver == "system" and query.failure == "dns.unreachable"


def test_expand_system(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search lab.test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    expanded = expand_system(parse_resolver("system"), str(conf))
    assert expanded.nameservers == ("192.0.2.53", "2001:db8::53") and expanded.uri == "system"
    conf.write_text("search lab.test\n")
    with pytest.raises(ConfigError, match="system"):
        expand_system(parse_resolver("system"), str(conf))


# --- odd servers: retries, truncation, junk --------------------------------------------------


class FakeServer(asyncio.DatagramProtocol):
    """A UDP server whose replies a test scripts: reply(query, n) -> datagrams for query n."""

    def __init__(self, reply: Callable[[dns.message.Message, int], list[bytes]]) -> None:
        self.reply = reply
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.seen += 1
        for wire in self.reply(dns.message.from_wire(data), self.seen):
            self.transport.sendto(wire, addr)


def fake_answer(query: dns.message.Message, rcode: int = 0, tc: bool = False) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.Rcode(rcode))
    if tc:
        response.flags |= dns.flags.TC
    elif rcode == 0:
        name = query.question[0].name
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.1"))
    return response.to_wire()


async def with_fake(
    env: Env, address: str, reply: Callable[[dns.message.Message, int], list[bytes]]
) -> tuple[DNSQuery, int]:
    loop = asyncio.get_running_loop()
    port = env.topology.ports.dns
    transport, server = await loop.create_datagram_endpoint(
        lambda: FakeServer(reply), local_addr=(address, port)
    )
    try:
        query = await lookup("x.test", "A", parse_resolver(f"udp://{address}:{port}"), env.ctx)
    finally:
        transport.close()
    return query, server.seen


def test_servfail_is_retried_once(in_lab: Callable[..., Any], topology: Topology) -> None:
    def flaky(query: dns.message.Message, n: int) -> list[bytes]:
        return [fake_answer(query, dns.rcode.SERVFAIL if n == 1 else 0)]

    query, seen = in_lab(lambda env: with_fake(env, at(topology, 60), flaky))
    assert seen == 2 and query.failure is None
    assert query.answer is not None and query.answer.addresses == ["192.0.2.1"]


def test_truncated_reply_is_asked_again_over_tcp(
    in_lab: Callable[..., Any], topology: Topology
) -> None:
    address = at(topology, 61)

    async def serve_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
        reply = fake_answer(dns.message.from_wire(wire))
        writer.write(len(reply).to_bytes(2, "big") + reply)
        await writer.drain()
        writer.close()

    async def body(env: Env) -> tuple[DNSQuery, int]:
        server = await asyncio.start_server(serve_tcp, address, env.topology.ports.dns)
        try:
            return await with_fake(env, address, lambda q, n: [fake_answer(q, tc=True)])
        finally:
            server.close()
            await server.wait_closed()

    query, seen = in_lab(body)
    assert seen == 1 and query.failure is None
    assert query.answer is not None and query.answer.addresses == ["192.0.2.1"]


def test_junk_replies_are_a_bad_response(in_lab: Callable[..., Any], topology: Topology) -> None:
    def junk(query: dns.message.Message, n: int) -> list[bytes]:
        wrong_id = dns.message.from_wire(fake_answer(query))
        wrong_id.id ^= 0xFFFF
        return [b"\x00garbage", wrong_id.to_wire()]

    query, _ = in_lab(lambda env: with_fake(env, at(topology, 62), junk))
    assert query.failure == "dns.bad_response" and query.answer is None


def test_lab_server_survives_garbage(in_lab: Callable[..., Any], topology: Topology) -> None:
    resolver_address = topology.censored_resolver
    valid = dns.message.make_query(f"static.{LAB}", "A").to_wire()
    rng = random.Random(7)

    def mutations() -> Iterator[bytes]:
        yield from (
            b"",
            b"\x00",
            b"\xff" * 12,
            b"\x00" * 512,
            bytes(rng.randrange(256) for _ in range(300)),
        )
        yield dns.message.from_wire(
            fake_answer(dns.message.from_wire(valid))
        ).to_wire()  # a response
        for _ in range(300):
            wire = bytearray(valid)
            wire[rng.randrange(len(wire))] = rng.randrange(256)
            yield bytes(wire[: rng.randrange(len(wire) + 1)])

    async def body(env: Env) -> tuple[bytes, bytes, DNSQuery]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with udp:
            udp.bind((env.topology.free_vantage, 0))
            for wire in mutations():
                udp.sendto(wire, (resolver_address, env.topology.ports.dns))
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection(resolver_address, env.topology.ports.dns)
        writer.write(b"\x00\x05junk!")
        tcp_after = await asyncio.wait_for(reader.read(), 1)  # the server hangs up
        writer.close()
        await writer.wait_closed()
        reader, writer = await asyncio.open_connection(
            resolver_address, env.topology.ports.https, ssl=env.ctx.verify
        )
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        http_after = await asyncio.wait_for(reader.read(), 1)
        writer.close()
        await writer.wait_closed()
        return (
            tcp_after,
            http_after,
            await lookup(f"static.{LAB}", "A", env.resolver("udp"), env.ctx),
        )

    tcp_after, http_after, query = in_lab(body)
    assert tcp_after == b""
    assert http_after.startswith(b"HTTP/1.1 400")
    assert query.failure is None and query.answer is not None and query.answer.addresses


def test_lab_close_is_prompt_and_idempotent(topology: Topology, pki: LabPKI) -> None:
    """Closing drops a pending injected reply and cuts a connection held open by silence."""

    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        lab = DNSLab(topology, pki)
        await lab.start()
        ports = topology.ports
        _, writer = await asyncio.open_connection(topology.censored_resolver, ports.dns)
        silent = dns.message.make_query(f"dns-silence.{LAB}", "A").to_wire()
        writer.write(len(silent).to_bytes(2, "big") + silent)
        await writer.drain()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((topology.free_vantage, 0))
            udp.setblocking(False)
            wire = dns.message.make_query(f"dns-inject.{LAB}", "A").to_wire()
            udp.sendto(wire, (topology.censored_resolver, ports.dns))
            await asyncio.wait_for(loop.sock_recv(udp, 512), 1)  # forged; the true one pending
            started = time.monotonic()
            await lab.close()
            took = time.monotonic() - started
            await lab.close()
            await asyncio.sleep(2 * labdns.INJECT_DELAY)
            try:
                udp.recv(512)
                late_sent = True
            except BlockingIOError:
                late_sent = False
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        return late_sent, took

    late_sent, took = asyncio.run(main())
    assert not late_sent
    assert took < 0.2


def test_lab_answers_inject_twice_and_keeps_classes_apart(topology: Topology) -> None:
    query = dns.message.make_query(f"dns-inject.{LAB}", "A")
    forged, true = labdns.answers(topology, query, censored=True)
    assert forged.answer[0][0].to_text() == topology.blockpage_address
    assert true.answer[0][0].to_text() == topology.true_a(f"dns-inject.{LAB}")[0]
    mx = dns.message.make_query(f"static.{LAB}", "MX")
    (reply,) = labdns.answers(topology, mx, censored=False)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer == []
    chaos = dns.message.make_query("version.bind", "TXT", rdclass="CH")
    replies = labdns.respond(topology, chaos.to_wire(), censored=False)
    assert replies is not None
    assert dns.message.from_wire(replies[0]).rcode() == dns.rcode.REFUSED


# --- reading answers and parsing resolver URIs -----------------------------------------------


def test_read_answer_follows_cnames() -> None:
    query = dns.message.make_query("www.example.test", "A")
    reply = dns.message.make_response(query)
    reply.answer += [
        dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "edge.cdn.test."),
        dns.rrset.from_text("edge.cdn.test.", 30, "IN", "CNAME", "e1.cdn.test."),
        dns.rrset.from_text("e1.cdn.test.", 20, "IN", "A", "192.0.2.7", "192.0.2.8"),
        dns.rrset.from_text("elsewhere.test.", 5, "IN", "A", "192.0.2.99"),
    ]
    answer = read_answer(reply, 0.01)
    assert answer.cnames == ["edge.cdn.test", "e1.cdn.test"]
    assert answer.addresses == ["192.0.2.7", "192.0.2.8"]
    assert answer.ttl == 20 and answer.rcode == "NOERROR"
    looping = dns.message.make_response(query)
    looping.answer += [
        dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "a.test."),
        dns.rrset.from_text("a.test.", 60, "IN", "CNAME", "www.example.test."),
    ]
    assert read_answer(looping, 0.0).cnames == ["a.test"]
    bare = dns.message.make_response(query)
    bare.question = []
    bare.set_rcode(dns.rcode.REFUSED)
    assert query.is_response(bare)  # dnspython accepts error replies without a question
    assert read_answer(bare, 0.0).model_dump() == {
        "rcode": "REFUSED",
        "addresses": [],
        "cnames": [],
        "ttl": None,
        "t": 0.0,
    }


VALID = [
    ("system", "system", "", 53, ""),
    ("udp://192.0.2.1", "udp", "192.0.2.1", 53, ""),
    ("udp://192.0.2.1:5353", "udp", "192.0.2.1", 5353, ""),
    ("UDP://192.0.2.1/", "udp", "192.0.2.1", 53, ""),
    ("tcp://[2001:db8::1]", "tcp", "2001:db8::1", 53, ""),
    ("tls://192.0.2.1", "tls", "192.0.2.1", 853, ""),
    ("tls://[2001:db8::1]:8853", "tls", "2001:db8::1", 8853, ""),
    ("https://dns.example/dns-query", "https", "dns.example", 443, "/dns-query"),
    ("https://DNS.Example", "https", "dns.example", 443, "/dns-query"),
    ("https://192.0.2.1:8443/resolve", "https", "192.0.2.1", 8443, "/resolve"),
    ("https://[2001:db8::1]/dns-query", "https", "2001:db8::1", 443, "/dns-query"),
]


@pytest.mark.parametrize(("uri", "scheme", "host", "port", "path"), VALID)
def test_parse_resolver(uri: str, scheme: str, host: str, port: int, path: str) -> None:
    resolver = parse_resolver(uri)
    assert (resolver.scheme, resolver.host, resolver.port, resolver.path) == (
        scheme,
        host,
        port,
        path,
    )
    assert resolver.uri == uri


INVALID = [
    ("", "not a resolver URI"),
    ("8.8.8.8", "not a resolver URI"),
    ("dns://8.8.8.8", "unknown scheme"),
    ("udp://dns.google", "needs an IP address"),
    ("tls://dns.google:853", "needs an IP address"),
    ("udp://2001:db8::1", "brackets"),
    ("udp://[192.0.2.1]", "bracket"),
    ("udp://192.0.2.1:99999", "port"),
    ("udp://192.0.2.1:0", "port 0"),
    ("udp://192.0.2.1:abc", "port"),
    ("tcp://192.0.2.1/dns", "no path"),
    ("https://bad_host!/dns-query", "not a valid host name"),
    ("https://user@dns.example/", "not allowed"),
    ("https:///dns-query", "no host"),
    ("https://dns.example/dns-query?x=1", "not allowed"),
]


@pytest.mark.parametrize(("uri", "why"), INVALID)
def test_parse_resolver_rejects(uri: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_resolver(uri)
    message = str(caught.value)
    assert why in message and repr(uri) in message and "\n" not in message
