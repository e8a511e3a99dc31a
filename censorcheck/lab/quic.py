"""The lab's HTTP/3 service: a real QUIC server (aioquic) that answers GET with a page.

Sites that advertise HTTP/3 listen on UDP as well as TCP. The server is deliberately plain: it
answers every GET on a request stream with the page for the ``:authority`` it was asked for, the
way a real site's HTTP/3 front end does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

# (host, path) -> (status, headers, body)
Page = tuple[int, list[tuple[bytes, bytes]], bytes]
Pages = Callable[[str, str], Page]
# (source address, datagram) -> True to drop it: the on-path censor's decision.
Drop = Callable[[str, bytes], bool]
# (bytes per chunk, seconds before each): a body sent slowly, for everyone.
Pace = tuple[int, float]


class _CensoredServer(QuicServer):
    """A QUIC server behind an on-path box that silently drops what ``drop`` says."""

    def __init__(self, *, drop: Drop | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._drop = drop

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        if self._drop is not None and isinstance(data, bytes) and self._drop(addr[0], data):
            return
        super().datagram_received(data, addr)


class _H3Server(QuicConnectionProtocol):
    def __init__(self, *args: Any, pages: Pages, pace: Pace | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages = pages
        self._pace = pace
        self._h3: H3Connection | None = None
        self._trickles: set[asyncio.Task[None]] = set()

    def transmit(self) -> None:
        # Once the lab closes the socket, a connection's pending timer has nothing to send on.
        if self._transport is not None and self._transport.is_closing():
            return
        super().transmit()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._h3 = H3Connection(self._quic)
        if self._h3 is None:
            return
        for h3_event in self._h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                asked = dict(h3_event.headers)
                host = asked.get(b":authority", b"").decode("latin-1")
                path = asked.get(b":path", b"/").decode("latin-1")
                status, headers, body = self._pages(host, path)
                self._h3.send_headers(
                    h3_event.stream_id,
                    [(b":status", str(status).encode()), *headers,
                     (b"content-length", str(len(body)).encode())],
                )  # fmt: skip
                if self._pace is None:
                    self._h3.send_data(h3_event.stream_id, body, end_stream=True)
                    self.transmit()
                    continue
                task = asyncio.ensure_future(self._trickle(h3_event.stream_id, body, self._pace))
                self._trickles.add(task)
                task.add_done_callback(self._trickles.discard)

    async def _trickle(self, stream_id: int, body: bytes, pace: Pace) -> None:
        """Send ``body`` a chunk at a time, as a slow site does for everyone."""
        size, seconds = pace
        for start in range(0, len(body), size):
            await asyncio.sleep(seconds)
            if self._h3 is None or self._transport is None or self._transport.is_closing():
                return
            last = start + size >= len(body)
            try:
                self._h3.send_data(stream_id, body[start : start + size], end_stream=last)
            except Exception:  # noqa: BLE001 - the client left: a closed stream is no error here
                return
            self.transmit()


async def serve_h3(
    address: str,
    port: int,
    certfile: str,
    keyfile: str,
    pages: Pages,
    drop: Drop | None = None,
    pace: Pace | None = None,
) -> QuicServer:
    """Listen for QUIC on ``address``:``port`` (UDP) with the certificate in ``certfile``;
    datagrams ``drop`` picks never reach the server; ``pace`` sends bodies slowly."""
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    config.load_cert_chain(certfile, keyfile)
    loop = asyncio.get_running_loop()
    _, server = await loop.create_datagram_endpoint(
        lambda: _CensoredServer(
            drop=drop,
            configuration=config,
            create_protocol=lambda *a, **k: _H3Server(*a, pages=pages, pace=pace, **k),
        ),
        local_addr=(address, port),
    )
    return server
