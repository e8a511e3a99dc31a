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
    def __init__(self, *args: Any, pages: Pages, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages = pages
        self._h3: H3Connection | None = None

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
                self._h3.send_data(h3_event.stream_id, body, end_stream=True)
                self.transmit()


async def serve_h3(
    address: str, port: int, certfile: str, keyfile: str, pages: Pages, drop: Drop | None = None
) -> QuicServer:
    """Listen for QUIC on ``address``:``port`` (UDP) with the certificate in ``certfile``;
    datagrams ``drop`` picks never reach the server."""
    config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    config.load_cert_chain(certfile, keyfile)
    loop = asyncio.get_running_loop()
    _, server = await loop.create_datagram_endpoint(
        lambda: _CensoredServer(
            drop=drop,
            configuration=config,
            create_protocol=lambda *a, **k: _H3Server(*a, pages=pages, **k),
        ),
        local_addr=(address, port),
    )
    return server
