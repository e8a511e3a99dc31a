"""The control server's limits: request size, what a request may ask, rate, requests in flight."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.control.support import (
    OTHER,
    TOKEN,
    bearer,
    client,
    confined,
    host,
    listening,
    measure,
    post_measure,
    serving,
    settings,
)

# --- request size ------------------------------------------------------------------------------


JSON_BEARER = {"content-type": "application/json", **bearer(TOKEN)}


def _padded(size: int) -> bytes:
    """A valid measure request of exactly ``size`` bytes: JSON allows any amount of space."""
    body = b'{"url": "http://10.0.0.1/"}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_body_at_the_limit_is_read(base: str) -> None:
    with client() as c:
        response = c.post(f"{base}/v1/measure", content=_padded(4096), headers=JSON_BEARER)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("token", [TOKEN, None], ids=["token", "no-token"])
def test_a_declared_body_over_the_limit_is_refused(base: str, token: str | None) -> None:
    headers = bearer(token) if token else {}
    with client() as c:
        response = c.post(f"{base}/v1/measure", content=_padded(4097), headers=headers)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}


def _chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.mark.parametrize(("size", "status"), [(4096, 200), (4097, 413), (64 * 1024, 413)])
def test_a_chunked_body_is_counted_as_it_arrives(base: str, size: int, status: int) -> None:
    """No Content-Length to trust: the cap must count the chunks, and replay them when under."""
    with client() as c:
        response = c.post(f"{base}/v1/measure", content=_chunks(_padded(size)), headers=JSON_BEARER)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == status, response.text


def _raw_status(base: str, head: bytes) -> int:
    """The status of a hand-written request: httpx refuses to send a broken Content-Length."""
    address = httpx.URL(base)
    with socket.create_connection((address.host, address.port or 80), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "declared", [b"abc", b"-1", b"1e9", b"0x10", b"1 2", b"99999999999999999999999"]
)
def test_a_malformed_content_length_is_refused(base: str, declared: bytes) -> None:
    head = (
        b"POST /v1/measure HTTP/1.1\r\nHost: control\r\nConnection: close\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + declared + b"\r\n\r\n{}"
    )
    status = _raw_status(base, head)
    assert 400 <= status < 500, status


@pytest.mark.parametrize(("declared", "status"), [(b"abc", 413), (b"-1", 413), (b"11", 413)])
def test_the_body_cap_does_not_rely_on_the_http_server(declared: bytes, status: int) -> None:
    """uvicorn already answers 400 to a malformed Content-Length; another ASGI server might
    pass it on, and then the cap itself must refuse it without calling the application."""
    from censorcheck.control.server import _BodyLimit

    called: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", declared)]}
    asyncio.run(_BodyLimit(app, limit=10)(scope, receive, send))
    assert not called
    assert sent[0]["status"] == status


# --- what a request may ask --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://site.example/" + "a" * 2048},
        {"url": "http://site.example/", "addresses": ["192.0.2.1"] * 9},
        {"url": "http://site.example/", "addresses": ["not-an-ip"]},
        {"url": "http://site.example/", "addresses": ["127.0.0.0/8"]},
        {"url": "http://site.example/", "addresses": ["site.example"]},
        {"url": "http://site.example/", "headers": {"cookie": "session=1"}},
        {"url": "http://site.example/", "headers": {"authorization": "Bearer x"}},
        {"url": "http://site.example/", "headers": {"host": "internal.example"}},
        {"url": "http://site.example/", "headers": {"user-agent": "x\r\nInjected: 1"}},
        {"url": "http://site.example/", "headers": {"user-agent": "x" * 513}},
        {"url": "http://site.example/", "deadline": 61},
        {"url": "http://site.example/", "deadline": -1},
        {"url": "http://site.example/", "deadline": 0},
        {"url": "http://site.example/", "deadline": "NaN"},
        {"url": "ftp://site.example/"},
        {"url": "file:///etc/passwd"},
        {"url": "gopher://site.example/"},
        {"url": "javascript:alert(1)"},
        {"url": "data:text/html,hi"},
        {"url": "ws://site.example/"},
        {"url": "http:///no-host"},
        {"url": "//site.example/"},
        {"url": ""},
        {"url": "http://user:pw@site.example/"},
        {"url": "http://user@site.example/"},
        {"url": "http://site.example/", "extra": 1},
        {"addresses": ["192.0.2.1"]},
        {"url": ["http://site.example/"]},
    ],
)
def test_a_request_outside_the_protocol_is_422(base: str, body: dict[str, Any]) -> None:
    response = post_measure(base, body)
    assert response.status_code == 422, response.text


def test_a_body_that_is_not_json_is_422(base: str) -> None:
    with client() as c:
        response = c.post(f"{base}/v1/measure", content=b"url=http://x/", headers=bearer(TOKEN))
    assert response.status_code == 422


def test_a_deadline_over_the_servers_is_cut_to_it() -> None:
    """The probe asks for 60 s; the server gives at most its own ``max_deadline``."""
    config = confined(max_deadline=0.5, settings=settings(timeout=10.0))
    with listening(host(14)) as tarpit, serving(config) as url:
        control = measure(url, f"http://{host(14)}:{tarpit.port}/", deadline=60)
        assert tarpit.saw_connection()
    # The fetch would run into its 10 s operation timeout (http.timeout) under a 60 s deadline;
    # the answer says the server's own deadline, far shorter, ended it instead.
    assert control.deadline_hit
    assert control.http is None or control.http.failure != "http.timeout"
    assert control.tcp[0].failure is None  # the connection was made; the fetch ran out of time


# --- rate and in-flight limits -----------------------------------------------------------------


def test_a_token_over_its_rate_gets_429_and_others_do_not() -> None:
    # A slow refill, so that no machine is slow enough to earn a token back mid-test.
    config = confined(rate=0.1, burst=2)
    with serving(config) as url, client() as c:

        def ask(token: str | None) -> httpx.Response:
            headers = bearer(token) if token else {}
            return c.post(f"{url}/v1/measure", json={"url": "http://10.0.0.1/"}, headers=headers)

        # Refused requests draw on no token's bucket.
        assert [ask(None).status_code for _ in range(3)] == [401] * 3
        assert [ask(TOKEN).status_code for _ in range(2)] == [200, 200]
        limited = ask(TOKEN)
        assert limited.status_code == 429
        assert limited.json() == {"detail": "rate limit exceeded"}
        assert int(limited.headers["retry-after"]) >= 1
        assert ask(OTHER).status_code == 200


def test_a_token_over_its_in_flight_cap_gets_429() -> None:
    config = confined(max_in_flight=1, settings=settings(timeout=1.0))
    with (
        listening(host(14)) as tarpit,
        serving(config) as url,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        slow = pool.submit(
            post_measure, url, {"url": f"http://{host(14)}:{tarpit.port}/", "deadline": 2}
        )
        assert tarpit.saw_connection(wait=5), "the slow measurement never started"
        busy = post_measure(url, {"url": "http://10.0.0.1/"})
        assert busy.status_code == 429
        assert busy.json() == {"detail": "too many measurements in flight"}
        assert busy.headers["retry-after"] == "1"
        # The cap is per token.
        assert post_measure(url, {"url": "http://10.0.0.1/"}, token=OTHER).status_code == 200
        assert slow.result(timeout=10).status_code == 200
        # The slot is given back when a measurement ends.
        assert post_measure(url, {"url": "http://10.0.0.1/"}).status_code == 200
