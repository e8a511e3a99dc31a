"""The lab's web hosts, and the on-path censor that sits in front of them.

Every host of the topology listens on the lab's HTTP and HTTPS ports at its own loopback address
and serves its Service to everyone (a ``dead`` host listens nowhere, so the kernel refuses its
connections). Connections from the censored vantage first meet a simulated DPI box: it reads the
SNI of the ClientHello (peeked, so the real server can still handshake) or the Host of a plain-HTTP
request, and does what ``Topology.web_censor`` says for that name: reset, stall, intercept TLS with
a forged certificate, reset after the request, answer a blockpage or a generic notice, or redirect
to the ISP's warning page.

Hosts that speak HTTP/3 also listen for QUIC on UDP at their https port, and their HTTPS answers
advertise it (``Alt-Svc: h3``); a ``stale`` host advertises it and listens on no UDP port, and an
``h3_record`` host listens and leaves the advertising to its HTTPS DNS record. The
censor's UDP side drops every datagram from the censored vantage to a cut-off address, or the
QUIC Initials whose ClientHello names a host it blocks that way.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import ssl
import struct
import tempfile
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import h11
from aioquic.asyncio.server import QuicServer

from censorcheck.lab.netns import private_namespace
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.quic import serve_h3
from censorcheck.lab.quicpeek import initial_server_name
from censorcheck.lab.sites import (
    BLOCKPAGE,
    SLOW_CHUNK,
    SLOW_PACE,
    Exchange,
    h3_page,
    notice,
    receive_request,
    reject,
    serve,
    slow_h3_page,
)
from censorcheck.lab.tlspeek import peek_client_hello, server_name, wait_readable
from censorcheck.lab.topology import Host, Topology

log = logging.getLogger(__name__)

PEEK_TIMEOUT = 5.0  # for the ClientHello to arrive
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0  # for the request head to arrive
CLOSE_TIMEOUT = 2.0  # for a graceful close (TLS close_notify, flushing) before aborting
STALL_LIMIT = 60.0
# No connection outlives this, whatever the client does (stop reading a huge body, say). It leaves
# room for the slowest legitimate behaviour: a tarpit's two minutes.
CONNECTION_LIMIT = 180.0
BACKLOG = 512
READ_CHUNK = 64 * 1024
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, zero timeout: close() sends RST, not FIN
# Accept failures that last until some connection closes: retrying at once would spin.
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_PAUSE = 0.5


class WebLab:
    """The lab's web servers on ``topology.ports.http`` and ``.https`` of every host address."""

    def __init__(self, topology: Topology, pki: LabPKI) -> None:
        self._topology = topology
        self._pki = pki
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._listeners: list[socket.socket] = []
        self._quic: list[QuicServer] = []
        self._pem_dir: tempfile.TemporaryDirectory[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def __aenter__(self) -> WebLab:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind and listen on every host; raises OSError (having closed everything) on failure."""
        loop = asyncio.get_running_loop()
        ports = self._topology.ports
        self._closed = False
        try:
            for host in self._topology.hosts.values():
                address = ipaddress.ip_address(host.address)
                if not address.is_loopback and not private_namespace():
                    raise ValueError(f"lab host {address} is public, outside a lab namespace")
                if host.service == "dead":
                    continue
                self._contexts[host.address] = self._pki.host_context(host)
                for port, tls in ((ports.http, False), (ports.https, True)):
                    listener = _listen(host.address, port)
                    self._listeners.append(listener)
                    loop.add_reader(listener.fileno(), self._accept, listener, host, tls)
                if host.quic in ("h3", "h3_record"):
                    await self._serve_quic(host)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop listening and end every connection now. Safe to call more than once."""
        self._closed = True
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            loop.remove_reader(listener.fileno())
            listener.close()
        self._listeners.clear()
        for server in self._quic:
            server.close()
        self._quic.clear()
        if self._pem_dir is not None:
            self._pem_dir.cleanup()
            self._pem_dir = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Aborted transports finish closing in callbacks scheduled for the next loop iterations.
        for _ in range(3):
            await asyncio.sleep(0)

    async def _serve_quic(self, host: Host) -> None:
        """HTTP/3 on UDP at ``host``'s https port, behind the censor's UDP side."""
        if self._pem_dir is None:
            self._pem_dir = tempfile.TemporaryDirectory(prefix="censorcheck-h3-")
        pem = self._pki.write_host_pem(host, Path(self._pem_dir.name) / f"{host.address}.pem")
        topology = self._topology

        def drop(source: str, datagram: bytes) -> bool:
            return topology.drops_datagram(host, source, lambda: initial_server_name(datagram))

        port = self._topology.ports.https
        slow = host.service == "slow"
        pages, pace = (slow_h3_page, (SLOW_CHUNK, SLOW_PACE)) if slow else (h3_page, None)
        server = await serve_h3(host.address, port, str(pem), str(pem), pages, drop, pace)
        self._quic.append(server)

    # --- accepting -------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, host: Host, tls: bool) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(BACKLOG):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    log.warning("lab web server cannot accept (%s); pausing", exc)
                    loop.remove_reader(listener.fileno())
                    loop.call_later(_ACCEPT_PAUSE, self._resume, listener, host, tls)
                    return
                continue  # the client gave up while queued (ECONNABORTED and the like)
            conn.setblocking(False)
            censored = self._topology.is_censored_client(peer[0])
            handler: Coroutine[Any, Any, None]
            if tls:
                handler = self._serve_tls(conn, host, censored)
            else:
                handler = self._serve_plain(conn, host, censored)
            task = loop.create_task(handler)
            watchdog = loop.call_later(CONNECTION_LIMIT, task.cancel)
            self._tasks.add(task)
            task.add_done_callback(partial(self._finished, conn, watchdog))

    def _resume(self, listener: socket.socket, host: Host, tls: bool) -> None:
        if not self._closed:
            asyncio.get_running_loop().add_reader(
                listener.fileno(), self._accept, listener, host, tls
            )

    def _finished(
        self, conn: socket.socket, watchdog: asyncio.TimerHandle, task: asyncio.Task[None]
    ) -> None:
        watchdog.cancel()
        self._tasks.discard(task)
        # A task cancelled before its first step never ran its cleanup; closing twice is harmless.
        conn.close()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("lab web connection handler failed", exc_info=exc)

    # --- the censor, then the site ---------------------------------------------------------

    async def _serve_tls(self, conn: socket.socket, host: Host, censored: bool) -> None:
        try:
            hello = await peek_client_hello(conn, PEEK_TIMEOUT)
        except OSError:
            return
        if not hello:
            return
        sni = server_name(hello)
        action = self._topology.web_censor(sni) if censored else None
        if action == "sni_reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            conn.close()
            return
        if action == "sni_stall":
            await _swallow(conn, STALL_LIMIT)
            return
        if action == "mitm" and sni:
            context = self._pki.forged_context(sni)
        else:
            context = self._contexts[host.address]
        try:
            reader, writer = await _open_streams(conn, context)
        except (OSError, asyncio.TimeoutError):
            return  # a failed handshake is the client's business (probes abort some on purpose)
        await self._serve_http(reader, writer, host, tls=True, censored=censored, name=sni)

    async def _serve_plain(self, conn: socket.socket, host: Host, censored: bool) -> None:
        try:
            reader, writer = await _open_streams(conn, None)
        except OSError:
            return
        await self._serve_http(reader, writer, host, tls=False, censored=censored, name=None)

    async def _serve_http(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: Host,
        *,
        tls: bool,
        censored: bool,
        name: str | None,
    ) -> None:
        """Read one request and answer it, then close; ``name`` is the SNI, if any."""
        conn = h11.Connection(h11.SERVER)
        graceful = False
        try:
            try:
                request = await asyncio.wait_for(receive_request(conn, reader), REQUEST_TIMEOUT)
            except h11.RemoteProtocolError as exc:
                await reject(conn, writer, exc.error_status_hint)
                graceful = True
                return
            if request is None:
                return
            exchange = Exchange(conn, reader, writer, request, name or host.address)
            if tls and host.quic in ("h3", "stale"):
                exchange.always.append(("alt-svc", f'h3=":{self._topology.ports.https}"'))
            # DPI reads plain HTTP only; inside TLS the censor has already had its say.
            action = self._topology.web_censor(exchange.name) if censored and not tls else None
            if action == "http_reset":
                writer.transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, _RESET
                )
                return
            if action == "http_blockpage":
                await exchange.respond(200, BLOCKPAGE)
            elif action == "http_generic":
                await exchange.respond(200, notice(exchange.name))
            elif action == "http_redirect":
                location = self._topology.warning_url(exchange.name)
                headers = [("content-type", "text/html; charset=utf-8"), ("location", location)]
                await exchange.respond(302, f'<a href="{location}">Moved</a>\n'.encode(), headers)
            else:
                https_port = self._topology.ports.https
                await serve(host.service, exchange, tls=tls, https_port=https_port)
            graceful = exchange.complete
        except (OSError, asyncio.TimeoutError):
            pass  # the client left, reset, or never finished its request
        finally:
            await _close(writer, graceful)


def _listen(address: str, port: int) -> socket.socket:
    # The protocol number matters: asyncio turns Nagle off only on sockets it knows are TCP, and
    # with Nagle on, a response waits behind TLS 1.3 session tickets for a delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Lets a restarted lab rebind at once; two live listeners still collide (no SO_REUSEPORT).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def _open_streams(
    conn: socket.socket, context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Hand an accepted socket to asyncio, handshaking TLS first when ``context`` is given."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    if context is None:
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn)
    else:
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol, conn, ssl=context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
        )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def _close(writer: asyncio.StreamWriter, graceful: bool) -> None:
    """Close after a complete response; otherwise, or if that lingers, abort."""
    try:
        if graceful and not writer.is_closing():
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.transport.abort()


async def _swallow(conn: socket.socket, limit: float) -> None:
    """Read and drop what the client sends, answering nothing, until it leaves or ``limit`` passes.

    Reading (rather than only waiting) keeps the socket from staying readable, which would spin.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while (remaining := deadline - loop.time()) > 0:
        await wait_readable(conn, remaining)
        try:
            if not conn.recv(READ_CHUNK):
                return
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            return
