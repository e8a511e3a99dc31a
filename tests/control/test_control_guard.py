"""The control server's defences, against a real uvicorn server over loopback.

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
import hashlib
import hmac
import ipaddress
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn

from censorcheck.control.protocol import Health, Limits
from censorcheck.control.server import ServerConfig, create_app, load_tokens
from censorcheck.errors import ConfigError
from censorcheck.lab import Lab, random_network
from censorcheck.measure.bogons import IPNetwork, embedded_ipv4
from censorcheck.models import Control
from censorcheck.settings import Settings
from tests.conftest import run_cli

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
def serving(config: ServerConfig, address: str = "127.0.0.1") -> Iterator[str]:
    """``create_app(config)`` under uvicorn on a free port of ``address``; yields its base URL."""
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
        "source_address": host(2),  # the /24 around it counts as routable, as in the lab
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
    # No proxy from the environment: every request of this file stays on loopback.
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


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """A server with two tokens, generous limits and a small body cap, confined to ``NET``."""
    with serving(confined()) as url:
        yield url


@pytest.fixture(scope="module")
def default_guard() -> Iterator[str]:
    """A server with the default guard: no ``allow_private``, no ``only_networks``. Its source
    address is loopback, so a dial the guard wrongly let through could only stay on the machine."""
    config = ServerConfig(tokens=(TOKEN,), settings=settings(source_address="127.0.0.1"))
    assert not config.allow_private and not config.only_networks
    with serving(config) as url:
        yield url


@dataclass
class Listeners:
    v4: Listener
    v6: Listener | None


@pytest.fixture
def loopback_listeners() -> Iterator[Listeners]:
    """A listener on 127.0.0.1, and on ::1 with the same port where the machine has IPv6."""
    with listening("127.0.0.1") as v4:
        try:
            v6: Listener | None = Listener("::1", v4.port)
        except OSError:
            v6 = None
        try:
            yield Listeners(v4, v6)
        finally:
            if v6 is not None:
                v6.close()


# --- tokens ------------------------------------------------------------------------------------


def test_health_answers_without_a_token(base: str) -> None:
    with client() as c:
        response = c.get(f"{base}/v1/health")
    assert response.status_code == 200
    health = Health.model_validate_json(response.content)
    assert health.status == "ok"
    assert health.limits == confined().limits()


def _one_char_off(token: str) -> str:
    return token[:-1] + ("b" if token[-1] != "b" else "c")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token-this-server-knows",
        "Bearer " + _one_char_off(TOKEN),
        "Bearer " + TOKEN[:-1],  # a prefix of a real token
        "Bearer " + TOKEN + "a",  # a real token with more after it
        "Bearer " + TOKEN.upper(),
        "Bearer",
        TOKEN,  # no scheme at all
        "Basic " + TOKEN,  # the right secret under another scheme
        "Token " + TOKEN,
    ],
    ids=[
        "none",
        "wrong",
        "one-char-off",
        "prefix",
        "longer",
        "upper-case",
        "bearer-alone",
        "no-scheme",
        "basic",
        "token-scheme",
    ],
)
@pytest.mark.parametrize("endpoint", ["GET /v1/limits", "POST /v1/measure"])
def test_without_a_known_bearer_token_the_answer_is_401(
    base: str, endpoint: str, authorization: str | None
) -> None:
    method, path = endpoint.split()
    headers = {"authorization": authorization} if authorization is not None else {}
    # A valid body, so that nothing but the token can be what is refused.
    body = {"url": "http://10.0.0.1/"} if method == "POST" else None
    with client() as c:
        response = c.request(method, base + path, headers=headers, json=body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "a valid bearer token is needed"}


@pytest.mark.parametrize("token", [TOKEN, OTHER], ids=["first", "second"])
def test_every_token_of_the_server_is_accepted(base: str, token: str) -> None:
    with client() as c:
        response = c.get(f"{base}/v1/limits", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert Limits.model_validate_json(response.content) == confined().limits()
    # Forbidden, so it returns at once; what matters is that the token got it measured.
    response = post_measure(base, {"url": "http://10.0.0.1/"}, token=token)
    assert response.status_code == 200, response.text
    assert Control.model_validate_json(response.content).source == "server"


@contextlib.contextmanager
def _app_state(config: ServerConfig) -> Iterator[Any]:
    """The application's state while its lifespan runs, without a server."""
    app = create_app(config)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    try:
        yield app.state.control
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def test_token_index_names_the_token_and_compares_against_every_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = tuple(f"token-number-{i}-" + "x" * 16 for i in range(5))
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    with _app_state(confined(tokens=tokens)) as state:
        monkeypatch.setattr(hmac, "compare_digest", counting)
        for i, token in enumerate(tokens):
            compared.clear()
            assert state.token_index(token) == i
            # No early exit and fixed-size digests: the time taken says neither which token
            # matched nor how long any of them is.
            assert compared == [(32, 32)] * len(tokens)
        for other in ["", tokens[0][:-1], tokens[0] + "x", tokens[0].upper(), "\udcff" * 20]:
            compared.clear()
            assert state.token_index(other) is None
            assert compared == [(32, 32)] * len(tokens)


# --- the dial guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:{port}/", []),
        ("https://127.0.0.1:{port}/", []),
        # Linux delivers a connect to 0.0.0.0 to a local listener.
        ("http://0.0.0.0:{port}/", []),
        ("http://[::1]:{port6}/", []),
        ("http://[::ffff:127.0.0.1]:{port}/", []),
        ("http://[64:ff9b::7f00:1]:{port}/", []),  # NAT64
        ("http://[2002:7f00:1::]:{port}/", []),  # 6to4
        ("http://10.0.0.1/", []),
        ("http://192.168.1.1/", []),
        ("http://100.64.0.1/", []),  # shared (CGNAT)
        ("http://169.254.169.254/latest/meta-data/", []),
        ("http://[fe80::1]/", []),
        ("http://224.0.0.1/", []),
        ("http://[ff02::1]/", []),
        ("http://240.0.0.1/", []),
        ("http://255.255.255.255/", []),
        # The probe's own addresses are dialled on the URL's port: each must pass the guard too.
        ("http://192.0.2.1:{port}/", ["127.0.0.1", "::ffff:127.0.0.1", "0.0.0.0", "::1"]),
    ],
)
def test_the_default_guard_dials_no_forbidden_address(
    default_guard: str, loopback_listeners: Listeners, url: str, addresses: list[str]
) -> None:
    if "{port6}" in url and loopback_listeners.v6 is None:
        pytest.skip("no IPv6 loopback on this machine")
    port6 = loopback_listeners.v6.port if loopback_listeners.v6 is not None else 0
    control = measure(
        default_guard, url.format(port=loopback_listeners.v4.port, port6=port6), addresses=addresses
    )
    assert_nothing_dialled(control)
    assert len(control.tcp) == 1 + len(addresses)
    assert not loopback_listeners.v4.saw_connection()
    assert loopback_listeners.v6 is None or not loopback_listeners.v6.saw_connection()


def test_embedded_ipv4_sees_through_nat64_and_mapped_addresses() -> None:
    """The reason the NAT64 and mapped rows above are refused as loopback."""
    for wrapped in ("::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        inner = embedded_ipv4(ipaddress.ip_address(wrapped))
        assert inner == ipaddress.ip_address("127.0.0.1"), wrapped


def test_a_listener_that_is_dialled_notices_it() -> None:
    """Positive control for the rows above: with the guard opened to 127.0.0.1 the same
    measurement connects, and the listener sees it."""
    config = ServerConfig(
        tokens=(TOKEN,),
        settings=settings(source_address="127.0.0.1"),
        only_networks=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    with listening("127.0.0.1") as listener, serving(config) as url:
        control = measure(url, f"http://127.0.0.1:{listener.port}/", deadline=0.5)
        assert listener.saw_connection(wait=2)
    assert control.tcp[0].skipped is None and control.tcp[0].failure is None


def test_the_probes_addresses_are_dialled_only_where_allowed() -> None:
    """``addresses`` comes from the probe: allowed ones are connected to (that is their point),
    forbidden ones never, whether outside ``only_networks`` or unspecified."""
    with listening("127.0.0.1") as outside:
        port = outside.port
        with (
            responding(host(10), port) as site,
            listening(host(11), port) as inside,
            serving(confined()) as url,
        ):
            probe_says = ["127.0.0.1", host(11), "10.0.0.1", "169.254.169.254", "0.0.0.0"]
            control = measure(url, f"http://{host(10)}:{port}/", addresses=probe_says)
            assert inside.saw_connection(wait=2)
        assert not outside.saw_connection()
    by_address = {c.address: c for c in control.tcp}
    assert set(by_address) == {host(10), *probe_says}
    for address in (host(10), host(11)):
        assert by_address[address].skipped is None and by_address[address].failure is None
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "0.0.0.0"):
        skipped = by_address[address].skipped
        assert skipped is not None and skipped.startswith("forbidden address"), address
    # The page comes through the server's own address only, never through the probe's.
    assert control.http is not None and control.http.failure is None
    assert control.http.hops[0].address == host(10)
    assert site.hits == ["/"]


# --- names that resolve to private addresses ----------------------------------------------------


def _lab_config(lab: Lab, **overrides: Any) -> ServerConfig:
    topo = lab.topology
    lab_settings = settings(
        resolvers=[topo.resolver_uri(censored=False)],
        source_address=topo.free_vantage,
        ca_bundle=lab.ca_bundle,
        timeout=2.0,
    )
    return ServerConfig(tokens=(TOKEN,), settings=lab_settings, **overrides)


def test_a_name_resolving_to_loopback_is_resolved_but_never_dialled(lab: Lab) -> None:
    topo = lab.topology
    static = topo.address_of_service("static")
    with listening(static) as listener, serving(_lab_config(lab)) as url:
        for target in (
            topo.url("static.lab.test"),
            f"http://static-http.lab.test:{listener.port}/",
        ):
            control = measure(url, target)
            # The name did resolve, to the lab's loopback address: only the guard stopped it.
            answers = [q.answer for q in control.dns if q.answer is not None]
            assert any(static in a.addresses for a in answers), control.dns
            assert_nothing_dialled(control)
            assert {c.skipped for c in control.tcp} == {"forbidden address: loopback"}
        assert not listener.saw_connection()


def test_a_name_inside_only_networks_is_measured(lab: Lab) -> None:
    """Positive control: the same lab names, with the lab's network allowed, connect."""
    topo = lab.topology
    config = _lab_config(lab, only_networks=(topo.network,))
    with listening(topo.address_of_service("static")) as listener, serving(config) as url:
        control = measure(url, topo.url("static.lab.test"))
        assert control.failure is None, control
        assert control.tcp and control.tcp[0].failure is None and control.tcp[0].skipped is None
        assert control.tls and control.tls[0].failure is None
        assert control.http is not None and control.http.failure is None
        last = control.http.hops[-1].response
        assert last is not None and last.status == 200
        measure(url, f"http://static-http.lab.test:{listener.port}/", deadline=0.5)
        assert listener.saw_connection(wait=2)


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/",
        "//127.0.0.1:{port}/",  # scheme-relative
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:{port}/",
    ],
)
def test_a_redirect_out_of_the_allowed_networks_is_not_followed(location: str) -> None:
    with (
        listening("127.0.0.1") as target,
        responding(
            host(10), status=302, headers={"location": location.format(port=target.port)}
        ) as site,
        serving(confined()) as url,
    ):
        control = measure(url, f"http://{host(10)}:{site.server_address[1]}/")
        assert not target.saw_connection()
    assert site.hits == ["/"]
    fetch = control.http
    assert fetch is not None
    assert len(fetch.hops) == 2, fetch
    first, refused = fetch.hops
    assert first.response is not None and first.response.status == 302
    assert refused.tcp is not None and refused.tcp.skipped is not None
    assert refused.tcp.skipped.startswith("forbidden address"), refused.tcp
    assert refused.response is None and fetch.failure is not None


def test_a_redirect_inside_the_allowed_networks_is_followed() -> None:
    """Positive control: the same redirect to an address inside ``NET`` is dialled."""
    with responding(host(11)) as target, serving(confined()) as url:
        location = f"http://{host(11)}:{target.server_address[1]}/landed"
        with responding(host(10), status=302, headers={"location": location}) as site:
            control = measure(url, f"http://{host(10)}:{site.server_address[1]}/")
    assert target.hits == ["/landed"]
    assert control.http is not None and control.http.failure is None
    assert [h.response.status for h in control.http.hops if h.response] == [302, 200]


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
        start = time.monotonic()
        control = measure(url, f"http://{host(14)}:{tarpit.port}/", deadline=60)
        took = time.monotonic() - start
        assert tarpit.saw_connection()
    assert took < 3, took  # not the 10 s the tarpit would hold a request for
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


# --- token files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot read"),
        (b"", "no token"),
        (b"# only a comment\n\n   # and another\n", "no token"),
        (b"short-token\n", "line 1"),
        (b"# fine\n" + b"a-token-with a-space-in-it\n", "line 2"),
        (b"a-token-with\ta-tab-in-it-xx\n", "line 1"),
        (b"\xff\xfe not utf-8 at all \xff\n", "cannot read"),
    ],
    ids=["missing", "empty", "comments-only", "short", "space", "tab", "not-utf8"],
)
def test_a_bad_token_file_is_a_config_error_naming_it(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / "tokens.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_tokens(path)
    assert str(path) in str(caught.value)
    assert why in str(caught.value)


def test_a_token_file_with_comments_gives_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(f"# probes\n\n{TOKEN}\n   {OTHER}   \n# {'c' * 20}\n", encoding="utf-8")
    assert load_tokens(path) == (TOKEN, OTHER)


def test_tokens_are_hashed_as_the_file_gives_them(tmp_path: Path) -> None:
    """What a client presents is hashed the way the server hashed the file's line."""
    path = tmp_path / "tokens.txt"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    with _app_state(confined(tokens=load_tokens(path))) as state:
        assert state.digests == (hashlib.sha256(TOKEN.encode()).digest(),)
        assert state.token_index(TOKEN) == 0


# --- the command line --------------------------------------------------------------------------


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    return lines[0]


def test_serve_with_a_missing_token_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tokens.txt"
    result = run_cli("control", "serve", "--token-file", str(missing), "--listen", "127.0.0.1:9")
    assert result.code == 2, result.stderr
    line = _one_line_error(result.stderr)
    assert "--token-file" in line and str(missing) in line


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1", "127.0.0.1:70000"])
def test_serve_with_a_bad_listen_address_exits_2(tmp_path: Path, listen: str) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    result = run_cli("control", "serve", "--token-file", str(tokens), "--listen", listen)
    assert result.code == 2, result.stderr
    assert "--listen" in _one_line_error(result.stderr)


def test_a_run_with_a_wrong_control_token_exits_2_naming_the_token(
    lab: Lab, tmp_path: Path
) -> None:
    assert lab.control is not None
    wrong = "not-the-lab-token-" + "z" * 16
    args = [lab.topology.url("static.lab.test"), *lab.arguments(censored=True)]
    args += ["--control", lab.control.url, "--control-token", wrong]
    result = run_cli("run", *args, "--output", str(tmp_path / "run.json"), cwd=tmp_path)
    assert result.code == 2, result.stderr
    line = _one_line_error(result.stderr)
    assert "control token" in line
    assert wrong not in result.stderr + result.stdout  # a secret is never echoed
