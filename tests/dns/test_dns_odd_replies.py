"""Odd servers and odd traffic: retries, truncation and junk replies from scripted servers, and
the lab's own resolvers fed garbage or closed with a reply pending."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from censorcheck.lab import dns as labdns
from censorcheck.lab.dns import DNSLab
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.topology import Topology
from censorcheck.measure.probes.dns import lookup, parse_resolver
from censorcheck.models import DNSQuery
from tests.dns.support import LAB, Env, at


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


def test_lab_close_drops_pending_replies_and_is_idempotent(topology: Topology, pki: LabPKI) -> None:
    """Closing drops a pending injected reply and cuts a connection held open by silence."""

    async def main() -> bool:
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
            await lab.close()
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
        return late_sent

    assert not asyncio.run(main())


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
