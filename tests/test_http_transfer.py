"""HTTP/2 by ALPN, and the transfer figures every fetch keeps, against real local servers.

Hypercorn serves HTTPS the way a real site does (it offers h2 and http/1.1, or http/1.1 alone);
a bare asyncio server plays the freezing or throttling middlebox, byte for byte.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from hypercorn.asyncio import serve
from hypercorn.config import Config

from censorcheck.measure.probes import http
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.transfer import SAMPLE_BYTES
from censorcheck.measure.verdict.transfer import FREEZE_SILENCE, froze
from censorcheck.models import DNSQuery, HTTPFetch
from censorcheck.settings import Settings
from tests.h3site import lifespan

KiB = 1024
HOST = "h2.example"
Scope = dict[str, Any]


async def _site(scope: Scope, receive: Callable[[], Awaitable[Scope]], send: Any) -> None:
    """An ASGI site: ``/N`` answers a page of N bytes, titled with the protocol it heard."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    size = int(scope["path"].strip("/") or 0)
    head = f"<title>spoke HTTP/{scope['http_version']}</title>".encode()
    body = head + b"x" * max(0, size - len(head))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _address() -> str:
    return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


def _listening(address: str) -> socket.socket:
    # Bound and listening before the server starts: nothing to wait for.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    sock.listen(64)
    return sock


async def _resolve_to(address: str) -> Callable[[str], Awaitable[tuple[list[DNSQuery], list[str]]]]:
    async def resolve(host: str) -> tuple[list[DNSQuery], list[str]]:
        return [], [address]

    return resolve


async def _fetch_https(tmp_path: Path, alpn: list[str], size: int) -> HTTPFetch:
    ca = trustme.CA()
    cert = ca.issue_cert(HOST)
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "site.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    address = _address()
    sock = _listening(address)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # the server owns and closes it
    config.certfile = config.keyfile = str(tmp_path / "site.pem")
    config.alpn_protocols = alpn
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.ensure_future(serve(_site, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    settings = Settings(timeout=5, ca_bundle=tmp_path / "ca.pem", treat_as_public=["127.0.0.0/8"])
    ctx = ProbeContext.create(settings, False)
    try:
        url = httpx.URL(f"https://{HOST}:{port}/{size}")
        return await http.fetch(url, None, [address], await _resolve_to(address), ctx, set())
    finally:
        await ctx.aclose()
        stop.set()
        await server


@pytest.mark.parametrize(
    ("offered", "alpn", "protocol", "heard"),
    [
        (["h2", "http/1.1"], "h2", "HTTP/2", "spoke HTTP/2"),
        (["http/1.1"], "http/1.1", "HTTP/1.1", "spoke HTTP/1.1"),
    ],
)
def test_the_probe_speaks_what_alpn_chose_and_says_so(
    tmp_path: Path, offered: list[str], alpn: str, protocol: str, heard: str
) -> None:
    fetch = asyncio.run(_fetch_https(tmp_path, offered, 40 * KiB))
    assert fetch.failure is None, fetch
    (hop,) = fetch.hops
    assert hop.tls is not None and hop.tls.alpn == alpn and hop.tls.trusted
    assert hop.response is not None
    response = hop.response
    assert (response.status, response.protocol, response.title) == (200, protocol, heard)
    assert hop.response.body_length == 40 * KiB
    transfer = hop.response.transfer
    assert transfer is not None and transfer.complete and transfer.cut_after_bytes is None
    _check_points(transfer.points, 40 * KiB)


def _check_points(points: list[tuple[float, int]], total: int) -> None:
    """Points in time order, each but the last taking the body past a mark the one before had
    not passed, the last at ``total``."""
    assert points and points[-1][1] == total
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    sizes = [b for _, b in points]
    assert sizes == sorted(set(sizes))
    marks = [16 * KiB << i for i in range(6)]
    passed = [sum(1 for m in marks if m <= b) for b in sizes[:-1]]
    assert all(n > 0 for n in passed) and passed == sorted(set(passed))


# --- a plain-HTTP server that sends part of a body, then holds or trickles ------------------


async def _fetch_plain(send_body: Callable[[asyncio.StreamWriter], Awaitable[None]], declared: int,
                       timeout: float = 5.0) -> HTTPFetch:  # fmt: skip
    address = _address()
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % declared)
        await send_body(writer)
        await writer.drain()
        await release.wait()  # hold the connection open, sending nothing more
        writer.close()

    server = await asyncio.start_server(handle, address, 0)
    port = server.sockets[0].getsockname()[1]
    ctx = ProbeContext.create(Settings(timeout=timeout, treat_as_public=["127.0.0.0/8"]), False)
    try:
        url = httpx.URL(f"http://site.example:{port}/")
        tcp = await http.connect(address, port, ctx)
        assert tcp[1] is not None
        return await http.fetch(url, (address, tcp[1]), [address], await _resolve_to(address),
                                ctx, set())  # fmt: skip
    finally:
        release.set()
        await ctx.aclose()
        server.close()
        await server.wait_closed()


def test_a_frozen_connection_says_how_many_bytes_came_and_how_long_nothing_did() -> None:
    async def first_40k(writer: asyncio.StreamWriter) -> None:
        writer.write(b"a" * (40 * KiB))

    fetch = asyncio.run(_fetch_plain(first_40k, declared=200 * KiB, timeout=0.5))
    assert fetch.failure == "http.timeout"
    response = fetch.hops[0].response
    assert response is not None and response.protocol == "HTTP/1.1"
    transfer = response.transfer
    assert transfer is not None and not transfer.complete
    assert transfer.cut_after_bytes == 40 * KiB
    _check_points(transfer.points, 40 * KiB)
    # All of it arrived at once, then nothing until the read's timeout: the silence is most of it.
    assert transfer.silence_seconds is not None
    assert transfer.silence_seconds > transfer.sample_seconds
    assert transfer.ttfb >= 0


def test_a_body_longer_than_the_sample_is_timed_over_the_sample() -> None:
    size = SAMPLE_BYTES + 300 * KiB

    async def everything(writer: asyncio.StreamWriter) -> None:
        writer.write(b"b" * size)

    fetch = asyncio.run(_fetch_plain(everything, declared=size))
    assert fetch.failure is None
    response = fetch.hops[0].response
    assert response is not None and response.body_length == size
    transfer = response.transfer
    assert transfer is not None
    assert transfer.sample_bytes == SAMPLE_BYTES and not transfer.complete
    assert transfer.cut_after_bytes is None and transfer.silence_seconds is None
    _check_points(transfer.points, size)
    assert len(transfer.points) <= 7
    if transfer.throughput is not None:  # None only if the loopback was too fast to time
        rate = SAMPLE_BYTES / transfer.sample_seconds
        assert transfer.throughput == pytest.approx(rate, rel=0.01)


def test_a_short_page_is_complete_but_not_timed() -> None:
    async def small(writer: asyncio.StreamWriter) -> None:
        writer.write(b"<title>t</title>")

    fetch = asyncio.run(_fetch_plain(small, declared=16))
    response = fetch.hops[0].response
    assert fetch.failure is None and response is not None
    transfer = response.transfer
    assert transfer is not None and transfer.complete
    assert (transfer.sample_bytes, transfer.throughput) == (16, None)
    assert [b for _, b in transfer.points] == [16]


@pytest.mark.parametrize("every_time", [True, False])
def test_a_frozen_body_is_asked_again_on_a_fresh_connection(every_time: bool) -> None:
    connections: list[int] = []

    async def freeze(writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if every_time or len(connections) == 1:
            writer.write(b"c" * (16 * KiB))  # then nothing, until the client gives up
        else:
            writer.write(b"c" * (64 * KiB))

    # The freeze must outlast FREEZE_SILENCE before it counts, hence a timeout above it.
    fetch = asyncio.run(_fetch_plain(freeze, declared=64 * KiB, timeout=FREEZE_SILENCE + 0.5))
    (hop,) = fetch.hops
    assert fetch.failure == "http.timeout" and froze(hop.response)
    assert hop.repeat is not None and len(connections) == 2
    repeat = hop.repeat.response
    assert repeat is not None and repeat.transfer is not None
    if every_time:
        assert hop.repeat.failure == "http.timeout" and froze(repeat)
        assert repeat.transfer.cut_after_bytes == 16 * KiB
    else:
        assert hop.repeat.failure is None and repeat.body_length == 64 * KiB
        assert repeat.transfer.complete
