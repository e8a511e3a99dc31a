"""The HTTP probe against a small real server: follow what was sent, store what is safe."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from censorcheck.measure.privacy import REDACTED
from censorcheck.measure.probes import http
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import DNSQuery, HTTPFetch
from censorcheck.settings import Settings

RECEIVED: list[str] = []


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    path = head.split(" ", 2)[1]
    RECEIVED.append(path)
    host = writer.get_extra_info("sockname")[0]
    port = writer.get_extra_info("sockname")[1]
    if path == "/":
        # The client's public address in the Location, as some portals and blockpages do.
        body = b""
        status = f"301 Moved\r\nLocation: http://{host}:{port}/landing?client=8.8.4.4"
    else:
        body = f"<title>landing</title>{path}".encode()
        status = "200 OK"
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()


def test_redirect_follows_the_raw_location_and_stores_it_scrubbed() -> None:
    address = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.9"

    async def main() -> None:
        server = await asyncio.start_server(_serve, address, 0)
        port = server.sockets[0].getsockname()[1]
        looked_up: list[str] = []

        async def resolve(host: str) -> tuple[list[DNSQuery], list[str]]:
            looked_up.append(host)
            return [], []

        ctx = ProbeContext.create(Settings(timeout=2, treat_as_public=["127.0.0.0/8"]), False)
        try:
            url = httpx.URL(f"http://site.example:{port}/")
            tcp = await http.connect(address, port, ctx)
            assert tcp[1] is not None
            fetch = await http.fetch(url, (address, tcp[1]), [address], resolve, ctx, set())
        finally:
            await ctx.aclose()
            server.close()
            await server.wait_closed()
        assert fetch.failure is None
        assert [h.response.status for h in fetch.hops if h.response] == [301, 200]
        # The server got the address as sent; the result holds it scrubbed.
        assert RECEIVED == ["/", "/landing?client=8.8.4.4"]
        assert fetch.hops[1].url.endswith(f"client={REDACTED}")
        assert "8.8.4.4" not in fetch.model_dump_json()
        # A redirect to an address literal is not looked up in DNS.
        assert looked_up == []

    asyncio.run(main())


def _redirecting_to(location: str):  # type: ignore[no-untyped-def]
    """A server whose every answer is a 302 to ``location``, sent as is; it counts requests."""
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        seen.append(head.split(" ", 2)[1])
        writer.write(
            f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    return serve, seen


@pytest.mark.parametrize("location", ["http://", "https://", "//", "http:///path"])
def test_a_location_without_a_host_is_a_broken_redirect_not_a_loop(location: str) -> None:
    address = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.10"
    serve, seen = _redirecting_to(location)

    async def main() -> HTTPFetch:
        server = await asyncio.start_server(serve, address, 0)
        port = server.sockets[0].getsockname()[1]

        async def resolve(host: str) -> tuple[list[DNSQuery], list[str]]:
            return [], [address]

        ctx = ProbeContext.create(Settings(timeout=2, treat_as_public=["127.0.0.0/8"]), False)
        try:
            url = httpx.URL(f"http://site.example:{port}/")
            tcp = await http.connect(address, port, ctx)
            assert tcp[1] is not None
            return await http.fetch(url, (address, tcp[1]), [address], resolve, ctx, set())
        finally:
            await ctx.aclose()
            server.close()
            await server.wait_closed()

    fetch = asyncio.run(main())
    assert fetch.failure == "http.bad_redirect"
    assert len(fetch.hops) == 1 and seen == ["/"]
