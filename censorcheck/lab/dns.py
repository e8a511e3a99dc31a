"""The lab's two resolvers: an honest one, and a censoring "ISP" one that lies per name.

Both serve the lab zone (``Topology``) over UDP and TCP, DNS over TLS and DNS over HTTPS
(RFC 8484, GET and POST). The honest resolver tells the truth, except that it never answers for
``nxdomain_blind`` names, a control that cannot see the site. The censored one simulates what
national censors' resolvers do for the names on their lists: NXDOMAIN, REFUSED or SERVFAIL,
a bogon (0.0.0.0, 127.0.0.1) or the blockpage server's address, silence, or, over UDP, a forged
answer injected ahead of the true one, as an on-path box racing the real resolver would.
Everything binds to the topology's addresses on 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import h11

from censorcheck.lab.pki import LabPKI
from censorcheck.lab.topology import Topology

log = logging.getLogger(__name__)

TTL = 300
INJECT_DELAY = 0.005  # how far the true answer trails the injected one
DOH_PATH = "/dns-query"
DOH_TYPE = "application/dns-message"
_MAX_MESSAGE = 65535
_CLOSE_GRACE = 0.5  # seconds to let a peer finish the TLS goodbye before cutting it off

_RCODES = {
    "nxdomain": dns.rcode.NXDOMAIN,
    "nxdomain_everywhere": dns.rcode.NXDOMAIN,
    "nxdomain_blind": dns.rcode.NXDOMAIN,
    "refused": dns.rcode.REFUSED,
    "servfail": dns.rcode.SERVFAIL,
}

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[["DNSLab", asyncio.StreamReader, asyncio.StreamWriter, bool], Awaitable[None]]


# --- what the resolvers say (pure) -------------------------------------------------------------


def _reply(
    query: dns.message.Message,
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
    addresses: list[str] | None = None,
) -> dns.message.Message:
    """A response to ``query`` with ``rcode`` and ``addresses`` (records of the question's
    type, as zone-file text)."""
    response = dns.message.make_response(query, recursion_available=True)
    response.set_rcode(rcode)
    if addresses:
        question = query.question[0]
        response.answer.append(
            dns.rrset.from_text_list(
                question.name, TTL, question.rdclass, question.rdtype, addresses
            )
        )
    return response


def honest_answer(topology: Topology, query: dns.message.Message) -> dns.message.Message:
    """The truth from the zone: addresses, HTTPS records, empty NOERROR for other types, or
    NXDOMAIN."""
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True)
    if question.rdtype == dns.rdatatype.HTTPS:
        if not topology.exists(topology.origin_of(name)):
            return _reply(query, dns.rcode.NXDOMAIN)
        return _reply(query, addresses=topology.https_records(name))
    if not topology.exists(name):
        return _reply(query, dns.rcode.NXDOMAIN)
    if question.rdtype == dns.rdatatype.A:
        return _reply(query, addresses=topology.true_a(name))
    if question.rdtype == dns.rdatatype.AAAA:
        return _reply(query, addresses=topology.true_aaaa(name))
    return _reply(query)


def _forged_a(topology: Topology, behaviour: str) -> list[str] | None:
    """The A data of the behaviours that lie with an address; None for the others."""
    return {
        "zero": ["0.0.0.0"],
        "loopback": ["127.0.0.1"],
        "blockpage": [topology.blockpage_address],
        "notice": [topology.address_of_service("notice")],
        "inject": [topology.blockpage_address],
        "alternate": topology.alternate_a(),
    }.get(behaviour)


def answers(
    topology: Topology, query: dns.message.Message, censored: bool
) -> list[dns.message.Message]:
    """Every response the resolver sends, in order: [] is silence, two means an injection race."""
    question = query.question[0]
    # An HTTPS query under a port prefix is about the host behind it, and treated as such.
    name = topology.origin_of(question.name.to_text(omit_final_dot=True))
    if censored:
        behaviour = topology.censored_dns(name)
    else:
        behaviour = "silence" if topology.honest_silence(name) else "honest"
    if behaviour == "silence":
        return []
    if behaviour in _RCODES:
        return [_reply(query, _RCODES[behaviour])]
    if behaviour == "strip_https" and question.rdtype == dns.rdatatype.HTTPS:
        return [_reply(query)]
    forged = _forged_a(topology, behaviour)
    if forged is None:
        return [honest_answer(topology, query)]
    # Lies by address only make sense for A; for other types the plausible lie is "no data".
    lie = _reply(query, addresses=forged if question.rdtype == dns.rdatatype.A else None)
    if behaviour == "inject":
        return [lie, honest_answer(topology, query)]
    return [lie]


def respond(topology: Topology, wire: bytes, censored: bool) -> list[bytes] | None:
    """Wire responses to a wire query, in sending order; None when ``wire`` is not a query."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR:
        return None  # a response sent to us: answering it could start a reflection loop
    if query.opcode() != dns.opcode.QUERY:
        messages = [_reply(query, dns.rcode.NOTIMP)]
    elif len(query.question) != 1:
        messages = [_reply(query, dns.rcode.FORMERR)]
    elif query.question[0].rdclass != dns.rdataclass.IN:
        messages = [_reply(query, dns.rcode.REFUSED)]
    else:
        messages = answers(topology, query, censored)
    return [message.to_wire() for message in messages]


# --- servers -----------------------------------------------------------------------------------


class _DatagramServer(asyncio.DatagramProtocol):
    """UDP: every response goes out, the second of an injection race a little later."""

    def __init__(self, lab: DNSLab, censored: bool) -> None:
        self.lab = lab
        self.censored = censored
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        replies = respond(self.lab.topology, data, self.censored) or []
        if self.transport is None or not replies:
            return
        self.transport.sendto(replies[0], addr)
        for wire in replies[1:]:
            if self.lab.inject_delay > 0:
                self.lab._send_later(self.transport, wire, addr)
            else:
                self.transport.sendto(wire, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a client that has gone away: nothing to do


async def _hang_up(writer: asyncio.StreamWriter) -> None:
    """Close a connection without waiting forever on a peer that skips the TLS goodbye."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE)
    except (asyncio.TimeoutError, OSError):
        writer.transport.abort()


async def _serve_stream(
    lab: DNSLab, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, censored: bool
) -> None:
    """TCP and DoT: length-prefixed messages; only the first response of an injection race."""
    while True:
        size = int.from_bytes(await reader.readexactly(2), "big")
        replies = respond(lab.topology, await reader.readexactly(size), censored)
        if replies is None:
            return  # not DNS: drop the connection, as real servers do
        if replies:
            writer.write(len(replies[0]).to_bytes(2, "big") + replies[0])
            await writer.drain()
        # On silence, keep the connection open and say nothing until the client gives up.


async def _read_request(
    conn: h11.Connection, reader: asyncio.StreamReader
) -> tuple[h11.Request, bytes] | None:
    """The next whole request and its body, or None when the client is done."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(1 << 16))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_MESSAGE:
                raise h11.RemoteProtocolError("body too large", error_status_hint=413)
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return request, bytes(body)
        else:
            return None


def _doh_query(request: h11.Request, body: bytes) -> bytes | int:
    """The wire query carried by a DoH request, or the HTTP status that refuses it."""
    target = urlsplit(request.target.decode("ascii", "replace"))
    if target.path != DOH_PATH:
        return 404
    if request.method == b"GET":
        values = parse_qs(target.query).get("dns")
        if not values:
            return 400
        try:
            return base64.urlsafe_b64decode(values[0] + "=" * (-len(values[0]) % 4))
        except (binascii.Error, ValueError):
            return 400
    if request.method == b"POST":
        content_type = dict(request.headers).get(b"content-type", b"")
        if content_type.split(b";")[0].strip().lower() != DOH_TYPE.encode():
            return 415
        return body
    return 405


async def _send(
    conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str
) -> None:
    headers = [("content-type", ctype), ("content-length", str(len(body)))]
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
    writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def _serve_https(
    lab: DNSLab, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, censored: bool
) -> None:
    """DoH over HTTP/1.1 with keep-alive; a silent name gets no response at all."""
    conn = h11.Connection(h11.SERVER)
    try:
        while (exchange := await _read_request(conn, reader)) is not None:
            query = _doh_query(*exchange)
            if isinstance(query, int):
                await _send(conn, writer, query, b"", "text/plain")
            elif (replies := respond(lab.topology, query, censored)) is None:
                await _send(conn, writer, 400, b"", "text/plain")
            elif replies:
                await _send(conn, writer, 200, replies[0], DOH_TYPE)
            else:
                while await reader.read(1 << 16):
                    pass  # silence: hold the request until the client gives up
                return
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):  # say why, then hang up
            await _send(conn, writer, exc.error_status_hint, b"", "text/plain")


class DNSLab:
    """The censored and honest resolvers on UDP, TCP, DoT and DoH. ``async with`` or start/close."""

    def __init__(self, topology: Topology, pki: LabPKI, inject_delay: float = INJECT_DELAY) -> None:
        self.topology = topology
        self.pki = pki
        # 0 sends the true answer right behind the forged one, both before the client reads
        # either: the race's outcome then does not depend on how busy the machine is.
        self.inject_delay = inject_delay
        self._datagrams: list[asyncio.DatagramTransport] = []
        self._servers: list[asyncio.Server] = []
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._pending: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        """Bind every resolver socket; raises OSError (after cleaning up) if one cannot bind."""
        loop = asyncio.get_running_loop()
        ports = self.topology.ports
        resolvers = (
            (self.topology.censored_resolver, True),
            (self.topology.honest_resolver, False),
        )
        try:
            for address, censored in resolvers:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_DatagramServer, self, censored),
                    local_addr=(address, ports.dns),
                )
                self._datagrams.append(transport)
                tls = self.pki.resolver_context(address)
                for serve, port, context in (
                    (_serve_stream, ports.dns, None),
                    (_serve_stream, ports.dot, tls),
                    (_serve_https, ports.https, tls),
                ):
                    handler = self._tracked(serve, censored)
                    server = await asyncio.start_server(handler, address, port, ssl=context)
                    self._servers.append(server)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop serving at once: pending injections are dropped, open connections cut."""
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        datagrams, self._datagrams = self._datagrams, []
        for transport in datagrams:
            transport.close()
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        # Cut connections rather than cancel their handlers: the handler then reads EOF and ends
        # normally, where a cancelled one makes asyncio (3.11) log a spurious callback error.
        connections, self._connections = self._connections, {}
        for writer in connections.values():
            writer.transport.abort()
        if connections:
            _, stuck = await asyncio.wait(connections, timeout=_CLOSE_GRACE)
            for task in stuck:
                task.cancel()
        for server in servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run

    async def __aenter__(self) -> DNSLab:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _send_later(
        self, transport: asyncio.DatagramTransport, wire: bytes, addr: tuple[str | Any, int]
    ) -> None:
        def fire() -> None:
            self._pending.discard(handle)
            transport.sendto(wire, addr)

        handle = asyncio.get_running_loop().call_later(self.inject_delay, fire)
        self._pending.add(handle)

    def _tracked(self, serve: Callable[..., Awaitable[None]], censored: bool) -> StreamHandler:
        """A connection handler that close() can cut, and that keeps client aborts quiet."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections[task] = writer
            try:
                await serve(self, reader, writer, censored)
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                pass  # the client hung up or aborted: ordinary, not worth a traceback
            finally:
                self._connections.pop(task, None)
                await _hang_up(writer)

        return handle
