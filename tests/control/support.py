"""What the control server tests share: a real uvicorn server in a thread, the settings and
tokens it runs with, and the things that stand where a dial would land.

Every server started here either dials only inside a random /24 of 127.0.0.0/8
(``only_networks``) or, where the default guard itself is under test, is only ever asked for
addresses that guard forbids, from a loopback source address with IPv6 off: even a broken guard
could then not put a packet on a real network.

Listeners the tests own stand where a forbidden dial would land. They listen but never accept:
the kernel completes a handshake into the backlog, so ``select`` tells whether anybody connected,
and whoever did waits for an answer that never comes (a tarpit).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import uvicorn

from censorcheck.control.protocol import SERVER_KEEP_ALIVE
from censorcheck.control.server import ServerConfig, create_app
from censorcheck.lab import random_network
from censorcheck.measure.bogons import IPNetwork
from censorcheck.models import Control
from censorcheck.settings import Settings

TOKEN = "probe-one-" + "a" * 22
OTHER = "probe-two-" + "b" * 22
# Where a name would be looked up if one slipped through: nothing answers there, on loopback.
DEAD_RESOLVER = "udp://127.0.0.1:9"
# The only network that ``only_networks`` servers may dial; nothing else of the suite lives there.
NET: IPNetwork = ipaddress.ip_network(random_network())


def host(offset: int) -> str:
    return str(NET.network_address + offset)


# --- a real server in a thread -----------------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """No signal handlers: the server runs beside pytest, which owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def serving(
    config: ServerConfig, address: str = "127.0.0.1", keep_alive: float = SERVER_KEEP_ALIVE
) -> Iterator[str]:
    """``create_app(config)`` under uvicorn on a free port of ``address``, keeping idle
    connections ``keep_alive`` seconds; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = _QuietServer(
        uvicorn.Config(
            create_app(config),
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_keep_alive=keep_alive,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the control server did not start")
            time.sleep(0.01)
        yield f"http://{address}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def settings(**overrides: Any) -> Settings:
    """A server's measurement settings: loopback only, IPv6 off, quick to give up."""
    values: dict[str, Any] = {
        "vantage": "control-test",
        "resolvers": [DEAD_RESOLVER],
        "control_resolvers": [],
        "source_address": host(2),
        "ipv6": "off",
        "timeout": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def confined(**overrides: Any) -> ServerConfig:
    """A server that may dial ``NET`` and nothing else."""
    values: dict[str, Any] = {
        "tokens": (TOKEN, OTHER),
        "settings": settings(),
        "only_networks": (NET,),
        "max_request_bytes": 4096,
    }
    values.update(overrides)
    return ServerConfig(**values)


def client() -> httpx.Client:
    # No proxy from the environment: every request of these tests stays on loopback.
    return httpx.Client(trust_env=False, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def post_measure(base: str, body: dict[str, Any], token: str = TOKEN) -> httpx.Response:
    with client() as c:
        return c.post(f"{base}/v1/measure", json=body, headers=bearer(token))


def measure(base: str, url: str, **fields: Any) -> Control:
    response = post_measure(base, {"url": url, **fields})
    assert response.status_code == 200, response.text
    return Control.model_validate_json(response.content)


# --- things that stand where a dial would land -------------------------------------------------


class Listener:
    """Listens, never accepts; ``saw_connection`` tells whether anybody connected."""

    def __init__(self, address: str, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.bind((address, port))
            self.sock.listen(16)
        except OSError:
            self.sock.close()
            raise
        self.port: int = self.sock.getsockname()[1]

    def saw_connection(self, wait: float = 0.1) -> bool:
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def listening(address: str, port: int = 0) -> Iterator[Listener]:
    listener = Listener(address, port)
    try:
        yield listener
    finally:
        listener.close()


class _Responder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self.hits: list[str] = []
        super().__init__(address, _Answer)


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Responder)
        server.hits.append(self.path)
        body = b"<title>test page</title>"
        self.send_response(server.status)
        for name, value in server.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # pytest would show it as noise


@contextlib.contextmanager
def responding(
    address: str, port: int = 0, status: int = 200, headers: dict[str, str] | None = None
) -> Iterator[_Responder]:
    """A tiny HTTP server on ``address``: every GET gets ``status`` and ``headers``."""
    server = _Responder((address, port), status, headers or {})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def assert_nothing_dialled(control: Control) -> None:
    """Every address the server was given was refused by its guard, before any connect."""
    assert control.tcp, control
    for attempt in control.tcp:
        assert attempt.skipped is not None, attempt
        assert attempt.skipped.startswith("forbidden address"), attempt
        assert attempt.failure is None and attempt.t == 0.0, attempt
    assert control.http is None, control.http
    if not any(q.answer is not None for q in control.dns):
        assert control.failure is not None  # nothing at all worked, and the control says so


@dataclass
class Listeners:
    v4: Listener
    v6: Listener | None
