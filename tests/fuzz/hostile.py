"""Hostile servers on loopback: a resolver and a web server that break their protocols on purpose.

The resolver answers over UDP and TCP on one port; what it does depends on the first label of
the name asked (``loop.hostile.example`` gets a compression loop). The web server listens on one
port for plain HTTP and another for TLS; what it sends depends on the request path, or for TLS on
nothing at all (it only ever sends a certificate chain that never ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import threading
import zlib
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rrset

# Resolver behaviours, by the first label of the name.
DNS_KINDS = (
    "truncated",  # the reply cut in the middle of its question
    "garbage",  # random bytes
    "short",  # less than a DNS header
    "empty",  # a datagram of no bytes
    "loop",  # the answer's owner name is a compression pointer to itself
    "huge",  # a 65,000-byte reply over UDP, a 65,535-byte one over TCP, all junk after the header
    "wrongid",  # the right answer, with another ID
    "mismatch",  # the right ID, the answer to another question
    "flood",  # fifty garbage datagrams
    "tc",  # TC set over UDP; over TCP a length that promises more than is sent
)
# Web behaviours, by path.
WEB_KINDS = ("bad-status", "endless-headers", "bad-chunks", "gzip-bomb", "endless-body")


def _dns_reply(wire: bytes, tcp: bool) -> list[bytes]:
    try:
        query = dns.message.from_wire(wire)
    except Exception:  # noqa: BLE001 - a hostile server answers anything, even garbage
        return [os.urandom(40)]
    name = query.question[0].name
    kind = name.labels[0].decode("ascii", "replace") if name.labels else ""
    honest = dns.message.make_response(query)
    honest.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "127.0.0.1"))
    good = honest.to_wire()
    if kind == "truncated":
        return [good[: 12 + len(name.to_wire()) // 2]]
    if kind == "garbage":
        return [os.urandom(200)]
    if kind == "short":
        return [good[:5]]
    if kind == "empty":
        return [b""]
    if kind == "loop":
        # Header with one question and one answer; the question is the query's, the answer's
        # owner a pointer to itself.
        header = good[:4] + struct.pack("!HHHH", 1, 1, 0, 0)
        question = good[12 : 12 + len(name.to_wire()) + 4]
        owner = 12 + len(question)
        answer = struct.pack("!HHHIH", 0xC000 | owner, 1, 1, 60, 4) + b"\x7f\x00\x00\x01"
        return [header + question + answer]
    if kind == "huge":
        return [good + os.urandom((65_535 if tcp else 65_000) - len(good))]
    if kind == "wrongid":
        return [struct.pack("!H", (query.id + 1) & 0xFFFF) + good[2:]]
    if kind == "mismatch":
        other = dns.message.make_query("other.example", "A", id=query.id)
        wrong = dns.message.make_response(other)
        wrong.answer.append(dns.rrset.from_text("other.example.", 60, "IN", "A", "127.0.0.2"))
        return [wrong.to_wire()]
    if kind == "flood":
        return [os.urandom(64) for _ in range(50)]
    if kind == "tc" and not tcp:
        cut = dns.message.make_response(query)
        cut.flags |= dns.flags.TC
        return [cut.to_wire()]
    return [good]


class _DNSProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for reply in _dns_reply(data, tcp=False):
            self.transport.sendto(reply, addr)


async def _dns_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        wire = await reader.readexactly(size)
        name = dns.message.from_wire(wire).question[0].name
        for reply in _dns_reply(wire, tcp=True):
            if name.labels and name.labels[0] == b"tc":
                writer.write(struct.pack("!H", 4000) + reply[:100])  # promises more, then closes
            else:
                writer.write(struct.pack("!H", min(len(reply), 65_535)) + reply[:65_535])
        await writer.drain()
    writer.close()


def _gzip_bomb() -> bytes:
    """A gzip body of 256 MiB of zeros, a quarter of a MiB on the wire."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(squeeze.compress(block) for _ in range(256)) + squeeze.flush()


async def _web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bomb: bytes) -> None:
    with contextlib.suppress(Exception):
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("ascii", "replace").strip("/")
        if path == "bad-status":
            writer.write(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n")
        elif path == "endless-headers":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while True:  # until the client hangs up
                writer.write(b"X-More: " + b"a" * 100 + b"\r\n")
                await writer.drain()
        elif path == "bad-chunks":
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
            )
        elif path == "gzip-bomb":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: text/html\r\n"
                + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
                + bomb
            )
        elif path == "endless-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
            while True:
                writer.write(b"<p>" + b"a" * 8192)
                await writer.drain()
        await writer.drain()
    writer.close()


def _server_hello() -> bytes:
    """A TLS 1.2 ServerHello (ECDHE-RSA-AES128-GCM-SHA256, no extensions) in its record."""
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message


async def _endless_chain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After the ClientHello: a ServerHello, then a Certificate message of 16 MiB that goes on in
    records of certificates, each 16 KiB, for as long as the client reads."""
    with contextlib.suppress(Exception):
        await reader.read(16_384)
        writer.write(_server_hello())
        certificate = b"\x0b" + (0xFFFFFF).to_bytes(3, "big") + (0xFFFFFC).to_bytes(3, "big")
        writer.write(b"\x16\x03\x03" + len(certificate).to_bytes(2, "big") + certificate)
        while True:
            chunk = (16_000).to_bytes(3, "big") + os.urandom(16_000)
            writer.write(b"\x16\x03\x03" + len(chunk).to_bytes(2, "big") + chunk)
            await writer.drain()
    writer.close()


class HostileServers:
    """The resolver and the web servers, on ephemeral loopback ports, in a thread of their own."""

    def __init__(self) -> None:
        self.dns_port = self.http_port = self.tls_port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._udp: asyncio.BaseTransport | None = None

    async def _start(self) -> None:
        bomb = _gzip_bomb()
        tcp_dns = await asyncio.start_server(_dns_stream, "127.0.0.1", 0)
        self.dns_port = tcp_dns.sockets[0].getsockname()[1]
        self._udp, _ = await self._loop.create_datagram_endpoint(
            _DNSProtocol, local_addr=("127.0.0.1", self.dns_port)
        )
        web = await asyncio.start_server(lambda r, w: _web(r, w, bomb), "127.0.0.1", 0)
        self.http_port = web.sockets[0].getsockname()[1]
        tls = await asyncio.start_server(_endless_chain, "127.0.0.1", 0)
        self.tls_port = tls.sockets[0].getsockname()[1]
        self._servers = [tcp_dns, web, tls]

    async def _stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    @contextlib.contextmanager
    def running(self) -> Iterator[HostileServers]:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
