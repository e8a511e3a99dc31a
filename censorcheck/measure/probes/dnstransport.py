"""How one DNS query travels: UDP (listening on for injected duplicates), TCP, DoT and DoH.

Each function sends one query and returns an :class:`Exchange`: the reply that matched, the time
it took, further matching UDP replies, or a ``dns.*`` failure code. None raises on network trouble.
What a reply means (rcode, addresses) is for :mod:`censorcheck.measure.probes.dns` to say.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import httpx

from censorcheck.measure.failures import classify, proxy_errors
from censorcheck.measure.probes import proxy
from censorcheck.measure.probes.dnsreply import Reply
from censorcheck.measure.probes.dnswire import Query

_MAX_MESSAGE = 65535
_MAX_LATE = 16  # a flood of replies is evidence enough after this many
_CLOSE_GRACE = 0.2  # seconds to let a DoT server finish the TLS goodbye
DOH_HEADERS = {"content-type": "application/dns-message", "accept": "application/dns-message"}


@dataclass
class Exchange:
    """The outcome of one query on one transport."""

    response: Reply | None = None  # the reply that matched
    t: float = 0.0  # seconds from starting to send until the reply or the failure
    failure: str | None = None
    late: list[tuple[Reply, float]] = field(default_factory=list)

    @property
    def reply(self) -> dns.message.Message | None:
        """The reply as dnspython reads it, for callers that need every record."""
        return self.response.message if self.response is not None else None


def _parse(query: Query, wire: bytes, t: float) -> Exchange:
    """The reply in ``wire`` if it answers ``query``, else dns.bad_response."""
    if not query.answered_by(wire):
        return Exchange(t=t, failure="dns.bad_response")
    try:
        return Exchange(Reply.of_wire(wire), t)
    except dns.exception.DNSException:
        return Exchange(t=t, failure="dns.bad_response")


# --- UDP -----------------------------------------------------------------------------------


def _udp_socket(host: str, port: int, source: str | None) -> socket.socket:
    """A fresh connected socket: a random source port, and ICMP errors reported to us."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if source:
            sock.bind((source, 0))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _Listener:
    """Reads datagrams off a connected socket, keeping only replies to one query."""

    def __init__(self, sock: socket.socket, query: Query) -> None:
        self.sock = sock
        self.query = query
        self.mismatched = 0
        self.overdue_reads = _MAX_LATE  # datagrams already waiting, read after a window closed

    async def _receive(self, until: float) -> bytes:
        """The next datagram; asyncio.TimeoutError at ``until``, OSError on ICMP errors.

        Waits on the socket's readiness with one future and one timer, where
        ``wait_for(sock_recv(...))`` made a task and a coroutine for every datagram: on the
        bench profile that was most of what waiting for DNS replies cost.
        """
        loop = asyncio.get_running_loop()
        while True:
            # The socket first, the clock second: on a busy machine the loop may come back
            # after ``until`` to a reply that arrived in time, and losing it would turn a
            # resolver's answer into a timeout, or hide the second answer of an injection. A
            # few such reads only, so that a flood cannot keep the window open.
            remaining = until - time.monotonic()
            if remaining <= 0 and self.overdue_reads <= 0:
                raise asyncio.TimeoutError
            try:
                data = self.sock.recv(_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                if remaining <= 0:
                    raise asyncio.TimeoutError from None
            else:
                if remaining <= 0:
                    self.overdue_reads -= 1
                return data
            ready: asyncio.Future[None] = loop.create_future()
            fd = self.sock.fileno()
            loop.add_reader(fd, _wake, ready, None)
            timer = loop.call_later(remaining, _wake, ready, asyncio.TimeoutError())
            try:
                await ready
            finally:
                timer.cancel()
                loop.remove_reader(fd)

    async def next(self, until: float) -> Reply:
        """The next matching reply; asyncio.TimeoutError at ``until``, OSError on ICMP errors."""
        while True:
            data = await self._receive(until)
            if self.query.answered_by(data):
                try:
                    return Reply.of_wire(data)
                except dns.exception.DNSException:
                    pass
            self.mismatched += 1


def _wake(ready: asyncio.Future[None], error: BaseException | None) -> None:
    if ready.done():
        return
    if error is None:
        ready.set_result(None)
    else:
        ready.set_exception(error)


async def udp(
    query: Query,
    host: str,
    port: int,
    *,
    source: str | None,
    timeout: float,
    linger: Callable[[float], float],
) -> Exchange:
    """Ask over UDP; after the first reply listen ``linger(rtt)`` more seconds for others."""
    start = time.monotonic()
    try:
        sock = _udp_socket(host, port, source)
    except OSError as exc:
        return Exchange(t=time.monotonic() - start, failure=classify(exc, "dns"))
    with sock:
        listener = _Listener(sock, query)
        try:
            loop = asyncio.get_running_loop()
            wire = query.wire
            await loop.sock_sendall(sock, wire)
            try:
                first = await listener.next(start + timeout / 2)
            except asyncio.TimeoutError:
                # Like a stub resolver, send once more: one lost datagram on a flaky link must
                # not read as a resolver that stays silent about this name.
                await loop.sock_sendall(sock, wire)
                first = await listener.next(start + timeout)
        except asyncio.TimeoutError:
            # Only junk came back: something answers, but not with a reply to our question.
            failure = "dns.bad_response" if listener.mismatched else "dns.timeout"
            return Exchange(t=time.monotonic() - start, failure=failure)
        except OSError as exc:  # ICMP port or host unreachable, reported on the connected socket
            return Exchange(t=time.monotonic() - start, failure=classify(exc, "dns"))
        result = Exchange(first, time.monotonic() - start)
        if first.flags & dns.flags.TC:
            return result  # the caller asks again over TCP; nothing to wait for here
        until = time.monotonic() + linger(result.t)
        while len(result.late) < _MAX_LATE:
            try:
                reply = await listener.next(until)
            except (asyncio.TimeoutError, OSError):
                break
            result.late.append((reply, time.monotonic() - start))
    return result


# --- TCP and DoT ---------------------------------------------------------------------------


async def _roundtrip(
    wire: bytes,
    host: str,
    port: int,
    source: str | None,
    tls: ssl.SSLContext | None,
    server_hostname: str | None,
    through: str | None,
    timeout: float,
) -> bytes:
    name = server_hostname if tls is not None else None
    if through is not None:
        sock = await proxy.connect_socket(through, host, port, timeout, source)
        reader, writer = await asyncio.open_connection(sock=sock, ssl=tls, server_hostname=name)
    else:
        local = (source, 0) if source else None
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=local, ssl=tls, server_hostname=name
        )
    try:
        writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        size = int.from_bytes(await reader.readexactly(2), "big")
        reply = await reader.readexactly(size)
    except BaseException:
        writer.transport.abort()
        raise
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE)
    except (asyncio.TimeoutError, OSError):
        writer.transport.abort()  # a server that skips the TLS goodbye must not hold us up
    return reply


async def stream(
    query: Query,
    host: str,
    port: int,
    *,
    source: str | None,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    through: str | None = None,
) -> Exchange:
    """Ask over TCP, or over TLS (DoT) when ``tls`` is given; one connection per query, through
    the proxy ``through`` when given."""
    start = time.monotonic()
    wire_query = query.wire
    try:
        wire = await asyncio.wait_for(
            _roundtrip(wire_query, host, port, source, tls, server_hostname, through, timeout),
            timeout,
        )
    except asyncio.TimeoutError:
        return Exchange(t=time.monotonic() - start, failure="dns.timeout")
    except Exception as exc:
        # SSLError is an OSError, IncompleteRead an EOFError; a proxy's refusal is neither.
        if not isinstance(exc, (OSError, EOFError, *proxy_errors())):
            raise
        return Exchange(t=time.monotonic() - start, failure=classify(exc, "dns"))
    return _parse(query, wire, time.monotonic() - start)


# --- DoH -----------------------------------------------------------------------------------


async def _post(client: httpx.AsyncClient, url: str, wire: bytes) -> tuple[int, bytes]:
    """POST the query; read at most one DNS message's worth of body."""
    async with client.stream("POST", url, content=wire, headers=DOH_HEADERS) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_MESSAGE:
                break
        return response.status_code, bytes(body)


async def https(query: Query, url: str, client: httpx.AsyncClient, *, timeout: float) -> Exchange:
    """Ask over DNS over HTTPS (RFC 8484, POST) through the run's shared HTTP client."""
    start = time.monotonic()
    try:
        status, body = await asyncio.wait_for(_post(client, url, query.wire), timeout)
    except asyncio.TimeoutError:
        return Exchange(t=time.monotonic() - start, failure="dns.timeout")
    except (httpx.HTTPError, OSError) as exc:
        return Exchange(t=time.monotonic() - start, failure=classify(exc, "dns"))
    t = time.monotonic() - start
    if status != 200 or len(body) > _MAX_MESSAGE:
        return Exchange(t=t, failure="dns.bad_response")
    return _parse(query, body, t)
