"""A control server one version ahead of the client still serves it.

Each schema version may add fields to the server's answers (1.6 added ``t0``, ``der`` and
``request_headers``). An older client that refused unknown fields would record every measurement
of a mixed deployment as control.bad_response. Here a real HTTP server answers as a newer server
would: the answers of this version, with fields this client has never seen at every depth. The
client keeps what it knows, checked as strictly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from censorcheck.control.client import ControlClient
from censorcheck.control.protocol import Health, Limits
from censorcheck.models import (
    Control,
    DNSAnswer,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    TCPConnect,
)

LIMITS = Limits(max_in_flight=8, rate=1e6, burst=1000, max_deadline=30.0)
CONTROL = Control(
    source="server",
    dns=[
        DNSQuery(
            resolver="control-1", hostname="a.example", qtype="A", t=0.01,
            answer=DNSAnswer(rcode="NOERROR", addresses=["192.0.2.10"], t=0.01),
        )
    ],
    tcp=[TCPConnect(address="192.0.2.10", port=443, t=0.01)],
    http=HTTPFetch(
        hops=[
            HTTPHop(
                url="https://a.example/", address="192.0.2.10",
                response=HTTPResponse(status=200, headers=[], body_length=5, body_sha256="0" * 64),
            )
        ]
    ),
)  # fmt: skip


def _newer(data: Any, depth: int = 0) -> Any:
    """``data`` with a field added to every object, as a later schema would add them."""
    if isinstance(data, dict):
        return {**{k: _newer(v, depth + 1) for k, v in data.items()}, f"x_future_{depth}": [depth]}
    if isinstance(data, list):
        return [_newer(v, depth + 1) for v in data]
    return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    answers: dict[str, bytes]


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = server.answers[self.path]
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def answering(answers: dict[str, Any]) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.answers = {path: json.dumps(body).encode() for path, body in answers.items()}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _ask(url: str) -> tuple[str | None, str | None, Control]:
    async def main() -> tuple[str | None, str | None, Control]:
        client = ControlClient(url, "t" * 32, ssl.create_default_context(), None, 5.0, "test")
        try:
            failure, version = await client.health()
            control = await client.measure("https://a.example/", ["192.0.2.10"], 5.0)
            return failure, version, control
        finally:
            await client.aclose()

    return asyncio.run(main())


def _answers(control: dict[str, Any]) -> dict[str, Any]:
    health = Health(version="9.9", limits=LIMITS).model_dump(mode="json")
    return {
        "/v1/health": _newer(health),
        "/v1/limits": _newer(LIMITS.model_dump(mode="json")),
        "/v1/measure": control,
    }


def test_fields_of_a_newer_server_are_left_out_and_the_rest_kept() -> None:
    newer = _newer(CONTROL.model_dump(mode="json"))
    assert "x_future_4" in json.dumps(newer)  # fields added down to the HTTP response
    with answering(_answers(newer)) as url:
        failure, version, control = _ask(url)
    assert (failure, version) == (None, "9.9")
    assert control == CONTROL


def test_what_the_client_knows_is_checked_as_strictly_as_before() -> None:
    newer = _newer(CONTROL.model_dump(mode="json"))
    newer["tcp"][0]["address"] = "not an address"
    with answering(_answers(newer)) as url:
        failure, _, control = _ask(url)
    assert failure is None
    assert control == Control(source="server", failure="control.bad_response")
