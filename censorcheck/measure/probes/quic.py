"""QUIC: does a handshake naming the host complete over UDP, and does HTTP/3 then load the page?

Censors that leave TCP alone often drop UDP to port 443 outright, or drop the QUIC Initial packets
whose (readable, though encrypted) ClientHello names a blocked host. So for each address: a QUIC
handshake with SNI = host, ALPN h3 and full certificate validation; when it fails, the same with a
neutral SNI (the name, not the address, is what fails); then one HTTP/3 GET under the same body and
time bounds as HTTP over TCP. A proxy cannot carry QUIC, so behind one nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from typing import Any, cast

import anyio
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    ProtocolNegotiated,
    QuicEvent,
)
from cryptography.hazmat.primitives.serialization import Encoding

from censorcheck.measure.failures import classify
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.http import build_response, decoder_for
from censorcheck.measure.probes.quictrust import TrustStore
from censorcheck.measure.probes.tcp import skip_reason
from censorcheck.measure.probes.tls import KEPT_DER_CERTIFICATES, parse_certificate
from censorcheck.measure.probes.transfer import TransferClock
from censorcheck.models import HTTPResponse, QUICFetch, QUICHandshake

_CRYPTO_ERROR = 0x100  # QUIC carries a TLS alert as 0x100 + the alert's number
_BAD_CERTIFICATE = 42  # what our own TLS stack sends when the peer's chain does not validate
_VERSIONS = {0x00000001: "1", 0x6B3343CF: "2"}


class _Connection(QuicConnectionProtocol):
    """One QUIC connection: reports the handshake's end, ICMP errors, HTTP/3 events, and (on
    ``heard``) the first datagram from the server."""

    def __init__(
        self, quic: QuicConnection, heard: asyncio.Event | None = None, **kwargs: Any
    ) -> None:
        super().__init__(quic, **kwargs)
        self.heard = heard or asyncio.Event()
        loop = asyncio.get_running_loop()
        self.settled: asyncio.Future[str | None] = loop.create_future()  # failure, or None
        self.terminated: ConnectionTerminated | None = None
        self.h3: H3Connection | None = None
        # HTTP/3 events in order, then None once the connection has ended.
        self.h3_events: asyncio.Queue[H3Event | None] = asyncio.Queue()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            # At once: the server's control stream may arrive before our request is sent.
            self.h3 = H3Connection(self._quic)
        if isinstance(event, HandshakeCompleted):
            self._settle(None)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
            self._settle(_termination(event))
        if self.h3 is not None:
            for h3_event in self.h3.handle_event(event):
                self.h3_events.put_nowait(h3_event)
        if isinstance(event, ConnectionTerminated):
            self.h3_events.put_nowait(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_Connected(cast(asyncio.DatagramTransport, transport)))

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        self.heard.set()
        super().datagram_received(data, addr)

    def transmit(self) -> None:
        # A connection given up on keeps its timers (an Initial's retransmission, the idle
        # close), and aioquic would send on the closed socket when they fire: an error logged
        # for every timed-out handshake.
        if self._transport is not None and self._transport.is_closing():
            return
        super().transmit()

    def error_received(self, exc: Exception) -> None:
        # An ICMP error on the connected socket: port unreachable, host unreachable.
        self._settle(classify(exc, "quic"))

    def _settle(self, failure: str | None) -> None:
        if not self.settled.done():
            self.settled.set_result(failure)


class _Connected(asyncio.DatagramTransport):
    """The transport of a connected socket, to which aioquic still gives the peer's address at
    every send: asyncio's loop accepts it, uvloop's sends nothing (EISCONN)."""

    def __init__(self, inner: asyncio.DatagramTransport) -> None:
        super().__init__()
        self._inner = inner

    def sendto(self, data: Any, addr: Any = None) -> None:
        self._inner.sendto(data)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)


def _termination(event: ConnectionTerminated) -> str:
    code = event.error_code
    if _CRYPTO_ERROR <= code < _CRYPTO_ERROR + 0x100:
        if code - _CRYPTO_ERROR == _BAD_CERTIFICATE:
            return "quic.invalid_certificate"
        return "quic.alert"
    if code == 0x2:  # CONNECTION_REFUSED
        return "quic.refused"
    return "quic.error"


def _configuration(ctx: ProbeContext, sni: str) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        server_name=sni,
        # The chain is checked once the handshake completes, against the run's store
        # (``_untrusted``): aioquic would load the CA files again for every handshake.
        verify_mode=ssl.CERT_NONE,
        # Past our own timeout, so that silence is ours to name (quic.timeout), not aioquic's.
        idle_timeout=2 * ctx.settings.timeout + 1,
    )


def _untrusted(protocol: _Connection, sni: str, ctx: ProbeContext) -> str | None:
    """Why the server's chain is not valid for ``sni`` (the same trust as TLS over TCP: the
    system store plus --ca-bundle), or None when it is."""
    tls = protocol._quic.tls
    # aioquic has no public accessor for the peer's chain; it is what the server sent.
    leaf = getattr(tls, "_peer_certificate", None)
    if leaf is None:
        return "no certificate"
    trust = ctx.quic_trust or TrustStore(ctx.settings.ca_bundle)
    return trust.check(leaf, getattr(tls, "_peer_certificate_chain", None) or [], sni)


async def _open(
    address: str,
    port: int,
    ctx: ProbeContext,
    config: QuicConfiguration,
    heard: asyncio.Event | None,
) -> tuple[_Connection, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if ctx.settings.source_address is not None:
            sock.bind((ctx.settings.source_address, 0))
        # Connected, so that the kernel hands ICMP errors (port unreachable) to this socket.
        sock.connect((address, port))
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Connection(QuicConnection(configuration=config), heard), sock=sock
        )
    except BaseException:
        sock.close()
        raise
    return protocol, transport


def _close(
    protocol: _Connection, transport: asyncio.DatagramTransport, graceful: bool = True
) -> None:
    """Give the socket back. An established connection is closed properly: the peer is told
    at once (CONNECTION_CLOSE); a handshake that never completed has no one to tell.

    The closing period that follows (three probe timeouts, for answering the peer's stray
    packets with the close again) is not waited out: in the bench it was most of the time a
    successful HTTP/3 fetch took, each target holding its slot for it.
    """
    if graceful:
        with contextlib.suppress(Exception):
            protocol.close()
    transport.close()


async def handshake(
    address: str,
    port: int,
    sni: str,
    ctx: ProbeContext,
    *,
    validate: bool = True,
    heard: asyncio.Event | None = None,
) -> tuple[QUICHandshake, _Connection | None, asyncio.DatagramTransport | None]:
    """One QUIC handshake; on success the connection is returned open. ``heard`` is set when
    the first datagram comes back from the server."""
    start = time.monotonic()
    seen = QUICHandshake(address=address, port=port, sni=sni, t0=ctx.since(start))
    dial = ctx.settings.connect_port(port)
    try:
        protocol, transport = await _open(address, dial, ctx, _configuration(ctx, sni), heard)
    except OSError as exc:
        return seen.model_copy(update={"failure": classify(exc, "quic")}), None, None
    protocol.connect((address, dial))
    try:
        failure = await asyncio.wait_for(asyncio.shield(protocol.settled), ctx.settings.timeout)
    except TimeoutError:
        failure = "quic.timeout"
    invalid = _untrusted(protocol, sni, ctx) if failure is None and validate else None
    if invalid is not None:
        failure = "quic.invalid_certificate"
        # What aioquic itself sends for a chain it rejects: the bad_certificate alert.
        with contextlib.suppress(Exception):
            protocol.close(error_code=_CRYPTO_ERROR + _BAD_CERTIFICATE, reason_phrase=invalid)
    took = time.monotonic() - start
    seen = seen.model_copy(update=_describe(protocol, failure, validate, took, invalid))
    if failure is not None:
        _close(protocol, transport, graceful=False)
        return seen, None, None
    return seen, protocol, transport


def _describe(
    protocol: _Connection,
    failure: str | None,
    validate: bool,
    took: float,
    invalid: str | None = None,
) -> dict[str, Any]:
    quic = protocol._quic  # aioquic keeps the negotiated details there
    tls = quic.tls
    # aioquic has no public accessor for the peer's chain; it is what the server sent.
    leaf = getattr(tls, "_peer_certificate", None)
    rest = getattr(tls, "_peer_certificate_chain", None) or []
    certs = ([leaf] if leaf else []) + rest
    chain = [
        parse_certificate(c.public_bytes(Encoding.DER), i < KEPT_DER_CERTIFICATES)
        for i, c in enumerate(certs)
    ]
    described: dict[str, Any] = {"failure": failure, "t": round(took, 4), "chain": chain}
    if failure is None:
        described.update(
            version=_VERSIONS.get(getattr(quic, "_version", 0) or 0),
            alpn=tls.alpn_negotiated,
            trusted=True if validate else None,
        )
    elif invalid is not None:
        described["validation_error"] = invalid
        described["trusted"] = False
    elif failure == "quic.invalid_certificate" and protocol.terminated is not None:
        described["validation_error"] = protocol.terminated.reason_phrase or None
        described["trusted"] = False
    return described


async def get(
    protocol: _Connection, host: str, path: str, ctx: ProbeContext, keep_ips: set[str]
) -> tuple[HTTPResponse | None, str | None]:
    """One HTTP/3 GET on an open connection: the response (possibly partial) and a failure."""
    settings = ctx.settings
    quic = protocol._quic
    if protocol.h3 is None:  # the server chose no h3
        return None, "quic.protocol_error"
    stream_id = quic.get_next_available_stream_id()
    headers = [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", host.encode()),
        (b":path", path.encode()),
        (b"user-agent", settings.user_agent.encode()),
        (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        (b"accept-language", b"en-US,en;q=0.9"),
        (b"accept-encoding", b"gzip, deflate"),
    ]
    clock = TransferClock(time.monotonic())
    protocol.h3.send_headers(stream_id, headers, end_stream=True)
    protocol.transmit()
    status: int | None = None
    pairs: list[tuple[str, str]] = []
    body = bytearray()
    decoder = None
    truncated = ended = False
    failure: str | None = None
    try:
        # The whole answer within one timeout, as over TCP.
        with anyio.fail_after(settings.timeout):
            while not ended:
                event = await _next(protocol)
                if not isinstance(event, HeadersReceived | DataReceived):
                    continue
                if event.stream_id != stream_id:
                    continue
                if isinstance(event, HeadersReceived) and status is None:
                    clock.headed()
                    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
                    status = int(dict(pairs).get(":status", "0"))
                    pairs = [(k, v) for k, v in pairs if not k.startswith(":")]
                    decoder = decoder_for(pairs)
                elif isinstance(event, DataReceived):
                    clock.chunk(len(event.data))
                    room = settings.max_body - len(body)
                    body += decoder.decompress(event.data, room) if decoder else event.data[:room]
                    if len(body) >= settings.max_body:
                        truncated = True
                        break
                ended = event.stream_ended
    except Exception as exc:  # noqa: BLE001 - every failure is data
        failure = classify(exc, "quic")
    if status is None:
        return None, failure or "quic.error"
    response = build_response(
        status, pairs, bytes(body), truncated or failure is not None, ctx, keep_ips
    )
    transfer = clock.result(ended=ended, gave_up=failure == "quic.timeout")
    return response.model_copy(update={"protocol": "HTTP/3", "transfer": transfer}), failure


async def _next(protocol: _Connection) -> H3Event:
    """The next HTTP/3 event, or the connection's end as an error. One queue read per event:
    waiting on the queue and on the end as two tasks cost two tasks per packet."""
    event = await protocol.h3_events.get()
    if event is None:
        protocol.h3_events.put_nowait(None)  # ended for every later read too
        raise ConnectionResetError("the QUIC connection ended")
    return event


Attempt = asyncio.Future[tuple[QUICHandshake, _Connection | None, Any]]


async def measure(
    url_host: str, path: str, address: str, port: int, ctx: ProbeContext, keep_ips: set[str]
) -> QUICFetch:
    """Handshake (and a neutral one if it fails), then HTTP/3, at one address."""
    if ctx.settings.proxy is not None:
        return QUICFetch(address=address, port=port, skipped="a proxy cannot carry QUIC")
    if (why := skip_reason(address, ctx)) is not None:
        return QUICFetch(address=address, port=port, skipped=why)

    def neutral_attempt() -> Attempt:
        return asyncio.ensure_future(
            handshake(address, port, ctx.settings.neutral_sni, ctx, validate=False)
        )

    heard = asyncio.Event()
    main: Attempt = asyncio.ensure_future(handshake(address, port, url_host, ctx, heard=heard))
    neutral_try: Attempt | None = None
    kept: _Connection | None = None
    try:
        # Hedged as for TLS: a handshake still silent after a quarter of the timeout gets its
        # neutral twin beside it, so a dropped Initial costs one timeout, not two. Silent only:
        # a server that has answered anything is merely slow (a busy machine, a long path), and
        # a twin there would be a second handshake's CPU and traffic for nothing.
        done, _ = await asyncio.wait({main}, timeout=ctx.settings.timeout / 4)
        if not done and not heard.is_set():
            neutral_try = neutral_attempt()
        seen, protocol, transport = await main
        if protocol is None or transport is None:
            neutral_try = neutral_try or neutral_attempt()
            neutral = (await neutral_try)[0]
            seen = seen.model_copy(update={"neutral": neutral})
            return QUICFetch(address=address, port=port, handshake=seen, failure=seen.failure)
        kept = protocol
    finally:
        await _settle([main, neutral_try], kept)
    try:
        response, failure = await get(protocol, url_host, path, ctx, keep_ips)
    finally:
        _close(protocol, transport)
    return QUICFetch(address=address, port=port, handshake=seen, response=response, failure=failure)


async def _settle(attempts: list[Attempt | None], kept: _Connection | None) -> None:
    """Cancel what is still running and close every connection made but ``kept``.

    asyncio.wait does not raise for the attempts cancelled here, but a cancellation of our own
    (a deadline) still propagates.
    """
    pending = [a for a in attempts if a is not None]
    for attempt in pending:
        attempt.cancel()
    await asyncio.wait(pending)
    for attempt in pending:
        if attempt.cancelled() or attempt.exception() is not None:
            continue
        _, protocol, transport = attempt.result()
        if protocol is not None and transport is not None and protocol is not kept:
            _close(protocol, transport)
