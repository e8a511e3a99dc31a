"""The scan's query engine: one A question to one resolver, fast and polite.

Thousands of queries a second from one process, without being rude to anyone:

- **Pacing.** Each resolver has a :class:`Pacer` (a token bucket, GCRA): at most ``rate`` queries a
  second, ``burst`` back to back. Every query passes it, retries and canaries included.
- **Retries only on silence.** A query without a reply within the timeout is sent again, with a
  fresh ID, up to ``retries`` times. Any reply is final: an NXDOMAIN is asked once.
- **Sockets.** Queries leave from a pool of UDP sockets per address family, each bound to its
  own random port by the kernel; each query picks a socket at random and carries a random ID. A
  reply counts only when it comes from the resolver's address and port to that socket, with
  that ID, the response bit set and the question asked. A truncated reply (TC) is asked again
  over TCP, as stub resolvers do.
- **Cheap replies.** The socket pool is read in batches on readiness; queries are built once per
  name and only the ID changes; replies are read from the wire (:mod:`censorcheck.scan.wire`).

Nothing here raises on network trouble: failures are ``dns.*`` codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import dns.message
import dns.rcode

from censorcheck.measure.failures import classify
from censorcheck.measure.probes import dnstransport
from censorcheck.measure.probes.dns import read_answer
from censorcheck.measure.probes.dnswire import Query
from censorcheck.scan.wire import RCODES, parse_reply

_POOL_SIZE = 64
_MAX_DATAGRAM = 65535
_RCODE_FAILURES = {
    int(dns.rcode.NXDOMAIN): "dns.nxdomain",
    int(dns.rcode.REFUSED): "dns.refused",
    int(dns.rcode.SERVFAIL): "dns.servfail",
}


class Pacer:
    """At most ``rate`` queries a second to one resolver, ``burst`` of them back to back.

    A generic cell rate algorithm: each query reserves the next free slot in order, so queries
    waiting together go out evenly spaced, and no lock is needed on one event loop.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._interval = 1.0 / rate
        self._slack = (burst - 1) * self._interval
        self._next = 0.0  # the theoretical arrival time of the next query

    def delay(self, now: float) -> float:
        """Reserve a slot; the seconds to wait before sending in it."""
        slot = max(self._next, now)
        self._next = slot + self._interval
        return max(0.0, slot - self._slack - now)

    async def take(self) -> None:
        wait = self.delay(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass(frozen=True)
class Question:
    """A query for one name, built once; only the ID changes between sends."""

    name: str
    wire: bytes  # with ID 0
    question: bytes  # the question section, as a reply must echo it

    @classmethod
    def for_name(cls, name: str) -> Question:
        """ValueError (or a DNSException) when ``name`` cannot be put in a query."""
        query = Query.build(name, "A", query_id=0)
        return cls(name, query.wire, query.question)


@dataclass
class Reply:
    """The outcome of asking one question, after any retries."""

    rcode: str | None = None
    addresses: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)
    failure: str | None = None
    attempts: int = 0
    t: float | None = None
    transport: str = "udp"


_Key = tuple[int, str, int, int]  # socket fd, resolver address, port, query ID


class _Pending:
    __slots__ = ("future", "question", "timer")

    def __init__(self, future: asyncio.Future[bytes | None], question: bytes) -> None:
        self.future = future
        self.question = question
        self.timer: asyncio.TimerHandle | None = None


class QueryEngine:
    """Asks A questions over a shared pool of UDP sockets; ``close()`` when done."""

    def __init__(
        self, timeout: float, source: str | None = None, pool_size: int = _POOL_SIZE
    ) -> None:
        self.timeout = timeout
        self.source = source
        self.pool_size = pool_size
        self.sent = 0
        self.timeouts = 0
        self.tcp_fallbacks = 0
        self._pools: dict[int, list[socket.socket]] = {}
        self._pending: dict[_Key, _Pending] = {}
        self._buffer = bytearray(_MAX_DATAGRAM)
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- sockets -------------------------------------------------------------------------

    def _pool(self, family: int) -> list[socket.socket]:
        pool = self._pools.get(family)
        if pool is None:
            self._loop = asyncio.get_running_loop()
            pool = self._pools[family] = []
            bind = self.source if self._source_family() == family else None
            for _ in range(self.pool_size):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                pool.append(sock)  # in the pool at once, so close() closes it whatever happens
                sock.setblocking(False)
                sock.bind((bind or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))
                self._loop.add_reader(sock.fileno(), self._readable, sock)
        return pool

    def _source_family(self) -> int | None:
        if self.source is None:
            return None
        return socket.AF_INET6 if ":" in self.source else socket.AF_INET

    def close(self) -> None:
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.cancel()
        self._pending.clear()
        for pool in self._pools.values():
            for sock in pool:
                if self._loop is not None and not self._loop.is_closed():
                    with contextlib.suppress(ValueError, OSError):
                        self._loop.remove_reader(sock.fileno())
                sock.close()
        self._pools.clear()

    def _readable(self, sock: socket.socket) -> None:
        """Read every datagram waiting on ``sock``; hand each reply to the query it answers."""
        fd, buffer = sock.fileno(), self._buffer
        while True:
            try:
                size, peer = sock.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued for an earlier send: it is not a reply
            if size < 12 or not buffer[2] & 0x80:  # too short, or a query rather than a reply
                continue
            key = (fd, peer[0], peer[1], buffer[0] << 8 | buffer[1])
            pending = self._pending.get(key)
            if pending is None:
                continue  # late (after a timeout), or not ours
            end = 12 + len(pending.question)
            if size < end or bytes(buffer[12:end]).lower() != pending.question:
                continue  # the ID and port match by chance, or someone guessed them
            del self._pending[key]
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_result(bytes(buffer[:size]))

    def _expire(self, key: _Key) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None and not pending.future.done():
            pending.future.set_result(None)

    # --- asking --------------------------------------------------------------------------

    async def _send(self, question: Question, address: str, port: int) -> tuple[bytes | None, int]:
        """One UDP query; the reply's wire (None after the timeout) and the ID used."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        pool = self._pool(family)
        sock = pool[secrets.randbelow(len(pool))]
        fd = sock.fileno()
        while True:
            qid = secrets.randbits(16)
            key = (fd, address, port, qid)
            if key not in self._pending:
                break
        loop = self._loop
        assert loop is not None
        pending = _Pending(loop.create_future(), question.question)
        self._pending[key] = pending
        try:
            sock.sendto(qid.to_bytes(2, "big") + question.wire[2:], (address, port))
        except OSError:
            del self._pending[key]
            raise
        self.sent += 1
        pending.timer = loop.call_later(self.timeout, self._expire, key)
        try:
            return await pending.future, qid
        finally:
            if self._pending.get(key) is pending:
                del self._pending[key]
                pending.timer.cancel()

    async def ask(
        self,
        question: Question,
        address: str,
        port: int,
        retries: int,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> Reply:
        """Ask ``question`` of the resolver at ``address``:``port``; resend only on silence.

        The first query goes at once: the caller has paced it. ``pace`` (the resolver's
        :meth:`Pacer.take`) is awaited before each resend.
        """
        reply = Reply()
        for attempt in range(1 + retries):
            if attempt and pace is not None:
                await pace()
            start = time.monotonic()
            try:
                wire, qid = await self._send(question, address, port)
            except OSError as exc:  # no route, no such address family: trying again won't help
                reply.attempts += 1
                reply.failure = classify(exc, "dns")
                return reply
            reply.attempts += 1
            if wire is None:
                self.timeouts += 1
                reply.failure = "dns.timeout"
                continue
            elapsed = time.monotonic() - start
            return await self._read(wire, qid, question, address, port, elapsed, reply)
        return reply

    async def _read(
        self,
        wire: bytes,
        qid: int,
        question: Question,
        address: str,
        port: int,
        elapsed: float,
        reply: Reply,
    ) -> Reply:
        try:
            parsed = parse_reply(wire)
        except ValueError:
            reply.failure, reply.t = "dns.bad_response", elapsed
            return reply
        if parsed.truncated:
            return await self._again_by_tcp(qid, question, address, port, elapsed, reply)
        reply.rcode, reply.t = RCODES.get(parsed.rcode, str(parsed.rcode)), elapsed
        reply.addresses, reply.cnames = parsed.addresses, parsed.cnames
        reply.failure = (
            None if parsed.rcode == 0 else _RCODE_FAILURES.get(parsed.rcode, "dns.error")
        )
        return reply

    async def _again_by_tcp(
        self, qid: int, question: Question, address: str, port: int, elapsed: float, reply: Reply
    ) -> Reply:
        """Too long for UDP: the whole answer comes over TCP. Time counts from the UDP send."""
        self.tcp_fallbacks += 1
        query = Query.of_wire(qid.to_bytes(2, "big") + question.wire[2:])
        exchange = await dnstransport.stream(
            query, address, port, source=self.source, timeout=self.timeout
        )
        reply.transport = "tcp"
        reply.t = elapsed + exchange.t
        if exchange.reply is None:
            reply.failure = exchange.failure or "dns.error"
            return reply
        answer = read_answer(exchange.reply, reply.t)
        reply.rcode, reply.addresses, reply.cnames = answer.rcode, answer.addresses, answer.cnames
        code = exchange.reply.rcode()
        reply.failure = (
            None if code == dns.rcode.NOERROR else _RCODE_FAILURES.get(code, "dns.error")
        )
        return reply


def _failure(rcode: int) -> str | None:
    """The failure code of a reply's rcode: None for NOERROR."""
    return None if rcode == dns.rcode.NOERROR else _RCODE_FAILURES.get(rcode, "dns.error")
