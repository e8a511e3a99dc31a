"""A real site for QUIC tests: HTTPS over TCP (hypercorn) and HTTP/3 over UDP (aioquic) on the
same address and port, as a real site serves them, with a certificate from a fresh test CA."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from censorcheck.lab.quic import Drop, Page, serve_h3

TITLE = b"<title>the site</title>"


async def lifespan(receive: Any, send: Any) -> None:
    """An ASGI app's side of the server's start and stop: nothing to do but say so."""
    while (event := (await receive())["type"]) != "lifespan.shutdown":
        if event == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def tcp_app(advertise: bool) -> Any:
    """The site over TCP (ASGI): one page, with an Alt-Svc offering HTTP/3 on its own port when
    ``advertise``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        headers = [(b"content-type", b"text/html")]
        if advertise:
            headers.append((b"alt-svc", b'h3=":%d"; ma=86400' % scope["server"][1]))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": TITLE + b"x" * 2000})

    return app


def h3_page(host: str, path: str) -> Page:
    """The site over HTTP/3: the same title, another body."""
    return 200, [(b"content-type", b"text/html")], TITLE + b"y" * 2000


@asynccontextmanager
async def h3_site(
    folder: Path, address: str, host: str, advertise: bool = True, drop: Drop | None = None
) -> AsyncIterator[tuple[int, Path]]:
    """Serve the site over TCP and HTTP/3 at ``address`` for ``host``; yields the port and the
    CA file that trusts the site. ``drop`` picks the datagrams that never reach the HTTP/3
    server."""
    ca = trustme.CA()
    pem, ca_file = folder / "site.pem", folder / "ca.pem"
    ca.issue_cert(host).private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca.cert_pem.write_to_path(str(ca_file))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.certfile = config.keyfile = str(pem)
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    site = asyncio.ensure_future(serve(tcp_app(advertise), config, shutdown_trigger=stop.wait))
    h3 = await serve_h3(address, port, str(pem), str(pem), h3_page, drop)
    try:
        yield port, ca_file
    finally:
        h3.close()
        stop.set()
        await site
