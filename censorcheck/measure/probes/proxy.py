"""Connections that leave through a proxy: a vantage behind SOCKS5 or an HTTP CONNECT proxy.

Through a proxy the vantage is the proxy's network, so everything must go through it, DNS
included; a single lookup on the local network would both leak what is being measured and mix
two vantages' views. Names are handed to the proxy to resolve (never resolved here).

What a proxy reports about its own connection attempt is all the probe can see of the TCP layer:
a SOCKS5 reply code, or an HTTP status to CONNECT. ``failures.classify`` turns those into the
usual ``tcp.*`` codes, and failures of the proxy itself into ``proxy.*``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import anyio.abc
import httpcore
from httpcore._backends.anyio import AnyIOStream

if TYPE_CHECKING:
    from python_socks.async_.asyncio import Proxy


def open_proxy(url: str) -> Proxy:
    # Imported at the first connection through a proxy: a run without one does not pay for it
    # (``failures.proxy_errors`` relies on that too).
    from python_socks.async_.asyncio import Proxy

    # rdns: a name is sent to the proxy as a name, so no lookup happens on the local network.
    return Proxy.from_url(url, rdns=True)


async def connect_socket(
    url: str, host: str, port: int, limit: float, source: str | None
) -> socket.socket:
    """A connected socket to ``host:port`` through the proxy at ``url``, within ``limit`` s."""
    local = (source, 0) if source else None
    return await open_proxy(url).connect(host, port, timeout=limit, local_addr=local)


async def connect_stream(
    url: str, host: str, port: int, limit: float, source: str | None
) -> httpcore.AsyncNetworkStream:
    """The same, as the stream the TCP, TLS and HTTP layers pass on."""
    sock = await connect_socket(url, host, port, limit, source)
    try:
        stream = await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise
    return AnyIOStream(stream)
