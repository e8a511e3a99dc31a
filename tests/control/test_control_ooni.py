"""The OONI test-helper client against real servers on loopback: our control server's ``/ooni/``
endpoint measuring a lab site, and a tiny helper that answers spec-shaped documents, garbage, a
500 or nothing in time. Every helper failure is a stable ``control.*`` code, never an exception."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.ooni_client import OONIClient
from censorcheck.control.server import ServerConfig
from censorcheck.lab import Lab
from censorcheck.models import Control
from tests.control.support import TOKEN, serving, settings
from tests.ooni_th import raw

SITE = "93.184.215.14"


def _client(*urls: str, token: str | None = None, timeout: float = 5.0) -> OONIClient:
    return OONIClient(list(urls), token, ssl.create_default_context(), None, timeout, "UA")


def _measure(
    client: OONIClient, url: str, addresses: list[str], deadline: float = 10.0
) -> tuple[tuple[str | None, str | None], Control, str]:
    async def go() -> tuple[tuple[str | None, str | None], Control, str]:
        try:
            health = await client.health()
            return health, await client.measure(url, addresses, deadline), client.url
        finally:
            await client.aclose()

    return asyncio.run(go())


# --- a tiny helper that answers what it is told to --------------------------------------------


class _Helper(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.release = threading.Event()  # the slow path answers only once this is set
        self.posts: list[str] = []
        super().__init__(("127.0.0.1", 0), _Answer)


class _Answer(BaseHTTPRequestHandler):
    def version_string(self) -> str:
        return "oohelperd/test"  # the Server header a real helper sends

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, b'{"message": "Hello OONItarian!"}')

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _Helper)
        server.posts.append(self.rfile.read(int(self.headers["content-length"])).decode())
        if self.path == "/site/":
            self._send(200, raw("site_ok"))
        elif self.path == "/garbage/":
            self._send(200, b'{"tcp_connect": ')
        elif self.path == "/wrong-shape/":
            self._send(200, b'{"tcp_connect": [1, 2]}')
        elif self.path == "/slow/":
            server.release.wait(30)
            self._send(200, raw("site_ok"))
        else:
            self._send(500, b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def helper() -> Iterator[tuple[str, _Helper]]:
    server = _Helper()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.release.set()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _dead_url() -> str:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_a_spec_document_becomes_the_control() -> None:
    with helper() as (base, server):
        health, control, _ = _measure(_client(f"{base}/site/"), "http://site.example/", [SITE])
    assert health == (None, "oohelperd/test")
    assert control.source == "ooni" and control.failure is None
    assert control.dns[0].resolver == "ooni:127.0.0.1"
    assert control.http is not None and control.http.hops[0].response is not None
    assert control.http.hops[0].response.title == "Site news"
    # What went out is the protocol's request: the probe's address on both web ports.
    assert '"tcp_connect":["93.184.215.14:80","93.184.215.14:443"]' in server.posts[0]


@pytest.mark.parametrize(
    ("path", "failure"),
    [
        ("/garbage/", "control.bad_response"),
        ("/wrong-shape/", "control.bad_response"),
        ("/error/", "control.bad_response"),  # a 500
    ],
)
def test_a_helper_that_answers_badly(path: str, failure: str) -> None:
    with helper() as (base, _):
        _, control, _ = _measure(_client(base + path), "https://site.example/", [SITE])
    assert control == Control(source="ooni", failure=failure)


def test_a_helper_that_answers_too_late() -> None:
    with helper() as (base, server):
        _, control, _ = _measure(_client(f"{base}/slow/"), "https://site.example/", [], 0.3)
        assert server.posts  # it was asked, and was still thinking at the deadline
    assert control == Control(source="ooni", failure="control.timeout")


def test_no_helper_answering() -> None:
    health, control, _ = _measure(_client(_dead_url()), "https://site.example/", [])
    assert health == ("control.unreachable", None)
    assert control == Control(source="ooni", failure="control.unreachable")


def test_helpers_are_tried_in_order() -> None:
    with helper() as (base, server):
        health, control, used = _measure(
            _client(_dead_url(), f"{base}/site/"), "https://site.example/", [SITE]
        )
    assert health[0] is None and used == f"{base}/site/"
    assert control.failure is None and len(server.posts) == 1


def test_a_failing_helper_falls_back_to_the_next_for_a_measurement() -> None:
    with helper() as (base, _):
        _, control, used = _measure(
            _client(f"{base}/error/", f"{base}/site/"), "https://site.example/", [SITE]
        )
    assert control.failure is None and used == f"{base}/site/"


# --- our own server's /ooni/ endpoint ---------------------------------------------------------


def _lab_server(lab: Lab) -> ServerConfig:
    topo = lab.topology
    measuring = settings(
        resolvers=[topo.resolver_uri(censored=False)],
        source_address=topo.free_vantage,
        ca_bundle=lab.ca_bundle,
        timeout=2.0,
    )
    return ServerConfig(tokens=(TOKEN,), settings=measuring, only_networks=(topo.network,))


def test_our_server_speaks_the_protocol(lab: Lab) -> None:
    topo = lab.topology
    static = topo.address_of_service("static")
    with serving(_lab_server(lab)) as base:
        health, control, _ = _measure(
            _client(f"{base}/ooni/", token=TOKEN), topo.url("static.lab.test"), [static]
        )
    assert health[0] is None and health[1] is not None and health[1].startswith("censorcheck/")
    assert control.source == "ooni" and control.failure is None, control
    assert control.dns[0].answer is not None and static in control.dns[0].answer.addresses
    assert [(c.address, c.failure) for c in control.tcp] == [(static, None)]
    assert [(h.address, h.failure, h.trusted) for h in control.tls] == [(static, None, True)]
    assert control.http is not None and control.http.failure is None
    page = control.http.hops[0].response
    assert page is not None and page.status == 200 and page.body_length > 0


def test_our_server_wants_the_token(lab: Lab) -> None:
    with serving(_lab_server(lab)) as base:
        health, control, _ = _measure(_client(f"{base}/ooni/"), "https://static.lab.test/", [])
    assert health == ("control.unauthorized", None)
    assert control == Control(source="ooni", failure="control.unauthorized")
