"""The probes' own stream (``probes.stream``) against real local servers, on asyncio's loop and
on uvloop's: each way a connection can end reads as the failure code it read as through anyio's
streams, and bytes arrive whole however the server sends them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import trustme

from censorcheck.measure.failures import classify
from censorcheck.measure.probes.stream import TcpStream, from_socket

T = TypeVar("T")
CA = trustme.CA()
NAME = "stream.test"

LOOPS: list[Any] = [pytest.param(None, id="asyncio")]
if sys.version_info >= (3, 11):
    with contextlib.suppress(ImportError):
        import uvloop

        LOOPS.append(pytest.param(uvloop.new_event_loop, id="uvloop"))


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, T]], T]:
    factory = request.param

    def running(coro: Coroutine[Any, Any, T]) -> T:
        if factory is None:
            return asyncio.run(coro)
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)

    return running


def _server_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert(NAME).configure_cert(ctx)
    return ctx


def _client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    CA.configure_trust(ctx)
    return ctx


@contextlib.contextmanager
def serving(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    """A listener on loopback whose one connection is handed to ``behaviour`` in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            behaviour(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=10)


def _reset(conn: socket.socket) -> None:
    """Close so that the kernel sends a RST rather than a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


async def _connect(port: int) -> TcpStream:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await from_socket(sock)


async def _handshake_failure(port: int, timeout: float = 5) -> str:
    stream = await _connect(port)
    try:
        await stream.start_tls(_client_context(), server_hostname=NAME, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the failure is what is looked at
        return classify(exc, "tls")
    return "no failure"


def _after_hello(then: Callable[[socket.socket], None]) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        conn.recv(65536)  # the ClientHello
        then(conn)

    return behaviour


def test_a_close_during_the_handshake_is_an_eof(run: Any) -> None:
    with serving(_after_hello(lambda conn: conn.shutdown(socket.SHUT_WR))) as port:
        assert run(_handshake_failure(port)) == "tls.eof"


def test_a_reset_during_the_handshake_is_a_reset(run: Any) -> None:
    with serving(_after_hello(_reset)) as port:
        assert run(_handshake_failure(port)) == "tls.reset"


def test_an_alert_in_answer_to_the_hello_is_an_alert(run: Any) -> None:
    # A fatal handshake_failure alert record, as a censor's middlebox or a refusing server sends.
    alert = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
    with serving(_after_hello(lambda conn: conn.sendall(alert))) as port:
        assert run(_handshake_failure(port)) == "tls.alert"


def test_a_silent_server_is_a_timeout(run: Any) -> None:
    done = threading.Event()
    with serving(_after_hello(lambda conn: done.wait(10))) as port:
        try:
            assert run(_handshake_failure(port, timeout=0.2)) == "tls.timeout"
        finally:
            done.set()


def test_an_untrusted_certificate_is_named(run: Any) -> None:
    other = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    other.issue_cert(NAME).configure_cert(ctx)

    def serve(conn: socket.socket) -> None:
        ctx.wrap_socket(conn, server_side=True).close()

    with serving(serve) as port:
        assert run(_handshake_failure(port)) == "tls.untrusted"


def _tls_serve(send: Callable[[ssl.SSLSocket], None]) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        with _server_context().wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)  # the request
            send(tls)

    return behaviour


async def _fetch(port: int, request: bytes = b"GET / HTTP/1.1\r\n\r\n") -> bytes:
    stream = await _connect(port)
    tls = await stream.start_tls(_client_context(), server_hostname=NAME, timeout=5)
    try:
        assert tls.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        await tls.write(request, timeout=5)
        body = bytearray()
        while chunk := await tls.read(7000, timeout=5):
            assert len(chunk) <= 7000
            body += chunk
        return bytes(body)
    finally:
        await tls.aclose()


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, more than the stream buffers before pausing


def test_a_body_ending_with_close_notify_reads_whole(run: Any) -> None:
    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(PAYLOAD)
        tls.unwrap().close()

    with serving(_tls_serve(send)) as port:
        assert run(_fetch(port)) == PAYLOAD


def test_a_body_ending_without_close_notify_reads_whole(run: Any) -> None:
    # Servers often skip close_notify; the end of the stream is then the TCP close.
    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(PAYLOAD)
        tls.shutdown(socket.SHUT_WR)  # the socket's FIN, no TLS goodbye

    with serving(_tls_serve(send)) as port:
        assert run(_fetch(port)) == PAYLOAD


def test_a_reset_while_reading_is_a_reset(run: Any) -> None:
    def send(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"HTTP/1.1 200 OK\r\n")
        _reset(tls)

    async def read() -> str:
        try:
            await _fetch(port)
        except Exception as exc:  # noqa: BLE001
            return classify(exc, "http")
        return "no failure"

    with serving(_tls_serve(send)) as port:
        assert run(read()) == "http.reset"


def test_plain_bytes_arrive_whole_and_the_end_is_empty(run: Any) -> None:
    def send(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(PAYLOAD)

    async def read() -> bytes:
        stream = await _connect(port)
        await stream.write(b"hello", timeout=5)
        body = bytearray()
        while chunk := await stream.read(100_000, timeout=5):
            body += chunk
        assert await stream.read(10, timeout=5) == b""  # and stays at the end
        await stream.aclose()
        return bytes(body)

    with serving(send) as port:
        assert run(read()) == PAYLOAD


def test_a_write_the_peer_never_reads_times_out(run: Any) -> None:
    done = threading.Event()

    async def write() -> str:
        stream = await _connect(port)
        try:
            # Far more than the socket buffers hold, so the write waits for the peer.
            await stream.write(b"x" * (64 * 1024 * 1024), timeout=0.2)
        except Exception as exc:  # noqa: BLE001
            return classify(exc, "http")
        finally:
            await stream.aclose()
        return "no failure"

    with serving(lambda conn: done.wait(10)) as port:
        try:
            assert run(write()) == "http.timeout"
        finally:
            done.set()
