"""Reading the SNI of a ClientHello: real hellos from the ssl module, and every kind of garbage."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from censorcheck.lab.tlspeek import peek_client_hello, record_size, server_name


def client_hello(sni: str | None) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_reads_the_server_name() -> None:
    assert server_name(client_hello("Tls-SNI-Reset.lab.test")) == "tls-sni-reset.lab.test"


def test_no_server_name_extension() -> None:
    assert server_name(client_hello(None)) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x16\x03",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x00\x00",
        b"\x16\x03\x01\xff\xff" + b"\x01" * 100,  # longer than a record may be
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a handshake, but not a ClientHello
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03",
    ],
)
def test_garbage_has_no_name(data: bytes) -> None:
    assert server_name(data) is None


def test_every_truncation_and_corruption_is_survived() -> None:
    hello = client_hello("static.lab.test")
    for end in range(len(hello)):
        assert server_name(hello[:end]) is None
    for i in range(len(hello)):
        corrupted = bytearray(hello)
        corrupted[i] ^= 0xFF
        assert server_name(bytes(corrupted)) in (None, "static.lab.test")


def test_record_size() -> None:
    hello = client_hello("static.lab.test")
    assert record_size(hello) == len(hello)
    assert record_size(hello[:4]) is None
    assert record_size(b"HTTP/1.1 200 OK") is None


def test_peek_leaves_the_hello_in_the_socket() -> None:
    hello = client_hello("static.lab.test")

    async def scenario() -> tuple[bytes, float]:
        server, client = socket.socketpair()
        with server, client:
            server.setblocking(False)
            loop = asyncio.get_running_loop()
            # A record split in two, the second half late: the peek waits for the whole of it.
            client.sendall(hello[:20])
            loop.call_later(0.2, client.sendall, hello[20:])
            started = time.monotonic()
            peeked = await peek_client_hello(server, timeout=2.0)
            waited = time.monotonic() - started
            assert server.recv(65536) == hello  # still all there
            return peeked, waited

    peeked, waited = asyncio.run(scenario())
    assert peeked == hello
    assert waited > 0.15  # it waited for the late half (no upper bound: load stretches it)


@pytest.mark.parametrize(("payload", "shut"), [(b"", False), (b"\x16\x03\x01\x02\x00abc", True)])
def test_peek_gives_up_on_silence_or_a_client_that_stops_early(payload: bytes, shut: bool) -> None:
    async def scenario() -> tuple[bytes, float]:
        server, client = socket.socketpair()
        with server, client:
            server.setblocking(False)
            client.sendall(payload)
            if shut:
                client.shutdown(socket.SHUT_WR)
            # A client that stops early is given up on at once: with an hour's timeout, only
            # its end of stream can end the peek. Silence waits the timeout out.
            timeout = 3600.0 if shut else 0.3
            started = time.monotonic()
            peeked = await asyncio.wait_for(peek_client_hello(server, timeout=timeout), 60)
            return peeked, time.monotonic() - started

    peeked, waited = asyncio.run(scenario())
    assert peeked == payload
    if not shut:
        assert waited >= 0.3
