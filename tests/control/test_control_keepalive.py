"""A control client never loses a measurement to a server's keep-alive: it drops idle
connections well before our server does, and when a server closes a connection just as a request
goes out on it (nothing of the answer sent), it asks once more on a fresh one.

The crossing happens by chance within microseconds on a real server's timer (see
bench/keepalive_bench.py, which sends 1,000 requests on uvicorn's boundary). Here a real HTTP
server makes it happen every time: each connection answers its first request, then closes as the
next one arrives, by a reset (the kernel's answer to unread data) or an end of stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import pytest

from censorcheck.control.client import KEEPALIVE_EXPIRY, ControlClient
from censorcheck.control.ooni_client import OONIClient
from censorcheck.control.protocol import SERVER_KEEP_ALIVE, Health, Limits
from censorcheck.models import Control

Cut = Literal["reset", "eof", "partial"]
LIMITS = Limits(max_in_flight=64, rate=1e6, burst=1_000_000, max_deadline=30.0)
ANSWERS = {
    ("GET", "/v1/health"): Health(version="test", limits=LIMITS).model_dump_json(),
    ("GET", "/v1/limits"): LIMITS.model_dump_json(),
    ("POST", "/v1/measure"): Control(source="server").model_dump_json(),
    ("GET", "/"): '{"message": "hello"}',  # OONI's helper: health, then measure
    ("POST", "/"): '{"dns": {"addrs": ["192.0.2.1"]}, "tcp_connect": {}, '
    '"http_request": {"status_code": 200, "body_length": 5, "title": "", "headers": {}}}',
}


@dataclass
class Seen:
    connections: int = 0
    answered: int = 0
    cut: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


def _read_request(conn: socket.socket, buffer: bytearray) -> tuple[str, str] | None:
    """(method, path) of the next request, its body consumed; None at the end of the stream."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                   if k.strip().lower() == "content-length"), 0)  # fmt: skip
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    buffer[:] = rest[length:]
    return method, path


def _connection(conn: socket.socket, cut: Cut, seen: Seen) -> None:
    buffer = bytearray()
    with conn:
        request = _read_request(conn, buffer)
        if request is None:
            return
        body = ANSWERS[request].encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
        conn.sendall(head.encode() + b"\r\nconnection: keep-alive\r\n\r\n" + body)
        seen.count("answered")
        # The connection idles; the next request on it meets the server closing it.
        if cut == "reset":
            if not conn.recv(1, socket.MSG_PEEK):  # it arrived, unread: the close resets
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            if _read_request(conn, buffer) is None:
                return
            if cut == "partial":  # some of the answer, then the end: not for a second try
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
        seen.count("cut")


@contextlib.contextmanager
def closing_server(cut: Cut) -> Iterator[tuple[str, Seen]]:
    """A real HTTP/1.1 server on loopback whose every connection closes on its second request."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen = Seen()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            seen.count("connections")
            threading.Thread(target=_connection, args=(conn, cut, seen), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept; close alone would not
        listener.close()
        thread.join()


def _ours(url: str) -> ControlClient:
    return ControlClient(url, "t" * 32, ssl.create_default_context(), None, 5.0, "keepalive")


async def _measure_ours(url: str, count: int) -> Counter[str]:
    client = _ours(url)
    try:
        failure, _ = await client.health()
        assert failure is None, failure
        return Counter([(await client.measure("https://a.example/", [], 5.0)).failure or "answered"
                        for _ in range(count)])  # fmt: skip
    finally:
        await client.aclose()


@pytest.mark.parametrize(("cut", "count"), [("reset", 1000), ("eof", 300)])
def test_requests_each_crossing_a_close_all_get_answers(cut: Cut, count: int) -> None:
    """A reset is what uvicorn's keep-alive close does to a request it has not read."""
    with closing_server(cut) as (url, seen):
        outcomes = asyncio.run(_measure_ours(url, count))
    assert outcomes == {"answered": count}, outcomes
    assert seen.cut >= count  # every one of them met a closing connection first


def test_a_partial_answer_is_not_asked_again() -> None:
    async def main(url: str) -> str | None:
        client = _ours(url)
        try:
            await client.health()  # its second request is the one cut
            return (await client.measure("https://a.example/", [], 5.0)).failure
        finally:
            await client.aclose()

    with closing_server("partial") as (url, seen):
        failure = asyncio.run(main(url))
        # health: the first answered; limits cut after some of its answer (no second try), so
        # the client keeps its default limits; measure then answered on a fresh connection.
        assert failure is None
        assert (seen.connections, seen.cut) == (2, 1)


@pytest.mark.parametrize("cut", ["reset", "eof"])
def test_oonis_helper_protocol_retries_too(cut: Cut) -> None:
    async def main(url: str) -> Counter[str]:
        client = OONIClient([url + "/"], None, ssl.create_default_context(), None, 5.0, "ka")
        try:
            failure, _ = await client.health()
            assert failure is None, failure
            return Counter([(await client.measure("https://a.example/", [], 5.0)).failure or "ok"
                            for _ in range(200)])  # fmt: skip
        finally:
            await client.aclose()

    with closing_server(cut) as (url, seen):
        outcomes = asyncio.run(main(url))
    assert outcomes == {"ok": 200}, outcomes
    assert seen.cut >= 200


def test_the_client_lets_go_of_idle_connections_before_our_server_does() -> None:
    """The documented margin: a connection the client may still reuse is one our server keeps."""
    assert KEEPALIVE_EXPIRY * 2 <= SERVER_KEEP_ALIVE
