"""QUIC through OONI's test-helper protocol, against real servers on loopback: a site serving
HTTPS over TCP (hypercorn, advertising HTTP/3) and HTTP/3 over UDP (aioquic) on one address, a
tiny DNS server naming it, and our control server answering ``/ooni/``. The probe's client asks
for QUIC (``x_quic_enabled``) unless told never to, and reads the handshakes back."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import cast

import dns.message
import dns.rrset
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.ooni_client import OONIClient
from censorcheck.control.server import ServerConfig
from censorcheck.lab.quic import Drop
from censorcheck.lab.quicpeek import initial_server_name
from censorcheck.models import Control
from tests.control.support import NET, TOKEN, host, serving, settings
from tests.h3site import h3_site

HOST = "h3.example"
SITE = host(150)
NAMESERVER = host(153)


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
    async with h3_site(tmp_path, SITE, HOST, drop=drop) as (port, ca):
        names, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            _Names, local_addr=(NAMESERVER, 0)
        )
        measuring = settings(
            resolvers=[f"udp://{NAMESERVER}:{names.get_extra_info('sockname')[1]}"],
            ca_bundle=ca,
            timeout=1.0,
        )
        helper = ServerConfig(tokens=(TOKEN,), settings=measuring, only_networks=(NET,))
        try:
            with serving(helper) as base:
                verify = ssl.create_default_context(cafile=str(ca))
                client = OONIClient([f"{base}/ooni/"], TOKEN, verify, None, 10.0, "UA",
                                    quic=quic)  # type: ignore[arg-type]  # fmt: skip
                try:
                    return await client.measure(f"https://{HOST}:{port}/", [SITE], 20.0)
                finally:
                    await client.aclose()
        finally:
            names.close()


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
