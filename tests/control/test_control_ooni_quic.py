"""QUIC through OONI's test-helper protocol, against real servers on loopback: a site serving
HTTPS over TCP (hypercorn, advertising HTTP/3) and HTTP/3 over UDP (aioquic) on one address, a
tiny DNS server naming it, and our control server answering ``/ooni/``. The probe's client asks
for QUIC (``x_quic_enabled``) unless told never to, and reads the handshakes back."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rrset
import pytest
import trustme

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from hypercorn.asyncio import serve
from hypercorn.config import Config

from censorcheck.control.ooni_client import OONIClient
from censorcheck.control.server import ServerConfig
from censorcheck.lab.quic import Drop, Page, serve_h3
from censorcheck.lab.quicpeek import initial_server_name
from censorcheck.models import Control
from tests.control.support import NET, TOKEN, host, serving, settings

HOST = "h3.example"
SITE = host(150)
NAMESERVER = host(153)
TITLE = b"<title>the site</title>"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (event := (await receive())["type"]) != "lifespan.shutdown":
            if event == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    alt_svc = b'h3=":%d"; ma=86400' % scope["server"][1]
    headers = [(b"content-type", b"text/html"), (b"alt-svc", alt_svc)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": TITLE + b"x" * 2000})


def _page(host: str, path: str) -> Page:
    return 200, [(b"content-type", b"text/html")], TITLE + b"y" * 2000


class _Names(asyncio.DatagramProtocol):
    """Answers every A query with the site's address."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        if query.question[0].rdtype == dns.rdatatype.A:
            answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", SITE))
        self.transport.sendto(answer.to_wire(), addr)


async def _through_helper(tmp_path: Path, quic: str, drop: Drop | None) -> Control:
    ca = trustme.CA()
    ca.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "site.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((SITE, 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.certfile = config.keyfile = str(tmp_path / "site.pem")
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    site = asyncio.ensure_future(serve(_app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    pem = str(tmp_path / "site.pem")
    h3 = await serve_h3(SITE, port, pem, pem, _page, drop)
    names, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _Names, local_addr=(NAMESERVER, 0)
    )
    measuring = settings(
        resolvers=[f"udp://{NAMESERVER}:{names.get_extra_info('sockname')[1]}"],
        ca_bundle=tmp_path / "ca.pem",
        timeout=1.0,
    )
    helper = ServerConfig(tokens=(TOKEN,), settings=measuring, only_networks=(NET,))
    try:
        with serving(helper) as base:
            client = OONIClient([f"{base}/ooni/"], TOKEN, _verify(tmp_path), None, 10.0, "UA",
                                quic=quic)  # type: ignore[arg-type]  # fmt: skip
            try:
                return await client.measure(f"https://{HOST}:{port}/", [SITE], 20.0)
            finally:
                await client.aclose()
    finally:
        names.close()
        h3.close()
        stop.set()
        await site


def _verify(tmp_path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))


def test_the_helper_reports_a_validated_quic_handshake(tmp_path: Path) -> None:
    control = asyncio.run(_through_helper(tmp_path, "auto", None))
    assert control.source == "ooni" and control.failure is None, control
    assert control.http is not None and control.http.failure is None
    (fetch,) = control.quic
    assert fetch.address == SITE and fetch.failure is None and fetch.response is None
    assert fetch.handshake is not None
    assert (fetch.handshake.sni, fetch.handshake.trusted) == (HOST, True)


def test_a_probe_that_never_tries_quic_does_not_ask_for_it(tmp_path: Path) -> None:
    control = asyncio.run(_through_helper(tmp_path, "never", None))
    assert control.failure is None and control.http is not None
    assert control.http.failure is None  # the page loaded, with its Alt-Svc: QUIC was not asked
    assert control.quic == []


def test_the_helpers_silent_handshake_comes_back_as_a_quic_timeout(tmp_path: Path) -> None:
    def drop(source: str, datagram: bytes) -> bool:
        return initial_server_name(datagram) == HOST

    control = asyncio.run(_through_helper(tmp_path, "always", drop))
    assert control.failure is None and control.http is not None  # TCP is untouched
    (fetch,) = control.quic
    assert (fetch.address, fetch.failure, fetch.response) == (SITE, "quic.timeout", None)
    assert fetch.handshake is not None and fetch.handshake.trusted is None
