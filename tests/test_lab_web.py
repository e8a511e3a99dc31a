"""The lab's web hosts and on-path censor, met by real clients on loopback.

One lab runs in a background thread for the module; clients are blocking stdlib sockets bound to
one of the two vantages, because the source address is what decides whether the censor acts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from censorcheck.lab import web as web_module
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.sites import BLOCKPAGE_MARKER, HUGE_SIZE
from censorcheck.lab.topology import Topology
from censorcheck.lab.web import WebLab

TIMEOUT = 3.0


async def start_lab(pki: LabPKI) -> tuple[Topology, WebLab]:
    """A lab on a random /24 of 127.100-199.x.x, trying another when that one is taken."""
    for _ in range(10):
        topology = Topology(f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24")
        web = WebLab(topology, pki)
        try:
            await web.start()
        except OSError:
            continue
        return topology, web
    raise RuntimeError("no free lab network")


@dataclass
class RunningLab:
    topology: Topology
    pki: LabPKI
    ca_file: Path

    def address(self, name: str) -> str:
        return self.topology.true_a(name)[0]

    @property
    def censored(self) -> str:
        return self.topology.censored_vantage

    @property
    def free(self) -> str:
        return self.topology.free_vantage


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    pki = LabPKI()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        topology, web = asyncio.run_coroutine_threadsafe(start_lab(pki), loop).result(TIMEOUT)
        try:
            ca_file = pki.write_ca_bundle(tmp_path_factory.mktemp("lab") / "ca.pem")
            yield RunningLab(topology, pki, ca_file)
        finally:
            asyncio.run_coroutine_threadsafe(web.close(), loop).result(TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


@pytest.fixture(autouse=True)
def quiet_lab(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever clients do, the lab logs no warnings or tracebacks."""
    yield
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not noisy, [r.getMessage() for r in noisy]


# --- clients -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def title(self) -> str:
        start = self.body.index(b"<title>") + len(b"<title>")
        return self.body[start : self.body.index(b"</title>")].decode()


def connect(vantage: str, address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    try:
        sock.bind((vantage, 0))
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def verifying(lab: RunningLab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.ca_file))


def capturing() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_head(sock: socket.socket) -> tuple[Response, bytes]:
    """The status and headers, and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed after {data!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return Response(int(status_line.split()[1]), headers, b""), rest


def request(sock: socket.socket, host: str, path: str = "/") -> Response:
    """Send a GET and read the whole response (the lab always closes after one)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
    response, body = read_head(sock)
    while chunk := sock.recv(65536):
        body += chunk
    response.body = body
    return response


def fetch_http(lab: RunningLab, vantage: str, name: str, host: str | None = None) -> Response:
    with connect(vantage, lab.address(name), lab.topology.ports.http) as sock:
        return request(sock, host or f"{name}:{lab.topology.ports.http}")


def fetch_https(
    lab: RunningLab,
    vantage: str,
    name: str,
    sni: str | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    with (
        connect(vantage, lab.address(name), lab.topology.ports.https) as raw,
        (context or verifying(lab)).wrap_socket(raw, server_hostname=sni or name) as sock,
    ):
        return request(sock, f"{name}:{lab.topology.ports.https}")


def client_hello(sni: str | None) -> bytes:
    """The bytes of a real ClientHello, made without a connection."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = capturing().wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def issuer_org(der: bytes) -> str:
    cert = x509.load_der_x509_certificate(der)
    return str(cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


# --- services, from the free vantage -------------------------------------------------------


def assert_page(response: Response, name: str) -> None:
    assert response.status == 200
    assert response.title == f"Lab site: {name}"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert int(response.headers["content-length"]) == len(response.body)
    assert response.headers["connection"] == "close"


def test_static_is_the_same_every_time(lab: RunningLab) -> None:
    first = fetch_https(lab, lab.free, "static.lab.test")
    second = fetch_https(lab, lab.free, "static.lab.test")
    assert_page(first, "static.lab.test")
    assert first.body == second.body
    assert_page(fetch_http(lab, lab.free, "static-http.lab.test"), "static-http.lab.test")


def test_dynamic_changes_every_time(lab: RunningLab) -> None:
    first = fetch_https(lab, lab.free, "dynamic.lab.test")
    second = fetch_https(lab, lab.free, "dynamic.lab.test")
    assert_page(first, "dynamic.lab.test")
    assert_page(second, "dynamic.lab.test")
    assert first.body != second.body


def test_redirect_keeps_an_explicit_port(lab: RunningLab) -> None:
    ports = lab.topology.ports
    with connect(lab.free, lab.address("redirect.lab.test"), ports.http) as sock:
        response = request(sock, f"redirect.lab.test:{ports.http}", "/a/b?c=d")
    assert response.status == 301
    assert response.headers["location"] == f"https://redirect.lab.test:{ports.https}/a/b?c=d"


def test_redirect_without_port_leaves_the_port_to_the_client(lab: RunningLab) -> None:
    response = fetch_http(lab, lab.free, "redirect.lab.test", host="Redirect.lab.test")
    assert response.status == 301
    assert response.headers["location"] == "https://redirect.lab.test/"


def test_redirect_target_serves_the_static_page(lab: RunningLab) -> None:
    assert_page(fetch_https(lab, lab.free, "redirect.lab.test"), "redirect.lab.test")


def test_huge_streams_and_survives_a_client_that_leaves_early(lab: RunningLab) -> None:
    for _ in range(2):
        with (
            connect(lab.free, lab.address("huge.lab.test"), lab.topology.ports.https) as raw,
            verifying(lab).wrap_socket(raw, server_hostname="huge.lab.test") as sock,
        ):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: huge.lab.test\r\n\r\n")
            response, body = read_head(sock)
            assert response.status == 200
            assert int(response.headers["content-length"]) == HUGE_SIZE
            while len(body) < 1 << 20:
                chunk = sock.recv(65536)
                assert chunk, "the huge body ended early"
                body += chunk
            assert b"<title>Lab site: huge.lab.test</title>" in body
    assert_page(fetch_https(lab, lab.free, "static.lab.test"), "static.lab.test")


def test_tarpit_trickles_a_byte_at_a_time(lab: RunningLab) -> None:
    with (
        connect(lab.free, lab.address("tarpit.lab.test"), lab.topology.ports.https) as raw,
        verifying(lab).wrap_socket(raw, server_hostname="tarpit.lab.test") as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: tarpit.lab.test\r\n\r\n")
        response, body = read_head(sock)
        assert response.status == 200
        assert int(response.headers["content-length"]) > 1 << 20
        started = time.monotonic()
        while len(body) < 3:
            chunk = sock.recv(65536)
            assert len(chunk) == 1
            body += chunk
        assert time.monotonic() - started > 0.8  # trickled, not sent at once
        assert body == b"<!d"


def test_selfsigned_is_untrusted_for_everyone(lab: RunningLab) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch_https(lab, lab.free, "selfsigned.lab.test")
    response = fetch_https(lab, lab.free, "selfsigned.lab.test", context=capturing())
    assert_page(response, "selfsigned.lab.test")


def test_blockpage_server_answers_any_host(lab: RunningLab) -> None:
    address = lab.topology.blockpage_address
    with connect(lab.free, address, lab.topology.ports.http) as sock:
        response = request(sock, "anything.example", "/some/path")
    assert response.status == 200
    assert BLOCKPAGE_MARKER.encode() in response.body
    assert response.title == "Access restricted"


def test_unknown_name_still_gets_the_service_page(lab: RunningLab) -> None:
    with connect(lab.free, lab.address("static.lab.test"), lab.topology.ports.http) as sock:
        assert_page(request(sock, "elsewhere.example"), "elsewhere.example")


def test_head_gets_the_headers_only(lab: RunningLab) -> None:
    with connect(lab.free, lab.address("static.lab.test"), lab.topology.ports.http) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: static.lab.test\r\n\r\n")
        response, body = read_head(sock)
        while chunk := sock.recv(65536):
            body += chunk
    assert response.status == 200
    assert int(response.headers["content-length"]) > 0
    assert body == b""


def test_odd_bytes_in_the_host_are_harmless(lab: RunningLab) -> None:
    with connect(lab.free, lab.address("redirect.lab.test"), lab.topology.ports.http) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: caf\xc3\xa9.example:80\r\n\r\n")
        response, _ = read_head(sock)
    assert response.status == 301
    assert response.headers["location"] == f"https://{lab.address('redirect.lab.test')}/x"


def test_invalid_http_gets_a_400(lab: RunningLab) -> None:
    with connect(lab.free, lab.address("static.lab.test"), lab.topology.ports.http) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        response, _ = read_head(sock)
    assert response.status == 400


# --- the censor, from the censored vantage -------------------------------------------------


def test_sni_reset(lab: RunningLab) -> None:
    with pytest.raises(ConnectionResetError):
        fetch_https(lab, lab.censored, "tls-sni-reset.lab.test")


def test_sni_stall_is_silence_after_the_client_hello(lab: RunningLab) -> None:
    name = "tls-sni-stall.lab.test"
    with connect(lab.censored, lab.address(name), lab.topology.ports.https) as sock:
        sock.sendall(client_hello(name))
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_mitm_certificate_comes_from_the_interception_ca(lab: RunningLab) -> None:
    name = "tls-mitm.lab.test"
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch_https(lab, lab.censored, name)
    with (
        connect(lab.censored, lab.address(name), lab.topology.ports.https) as raw,
        capturing().wrap_socket(raw, server_hostname=name) as sock,
    ):
        der = sock.getpeercert(binary_form=True)
        assert der is not None
        assert issuer_org(der) == "Qaznet-style interception CA"
        assert_page(request(sock, name), name)


def test_http_reset(lab: RunningLab) -> None:
    with pytest.raises(ConnectionResetError):
        fetch_http(lab, lab.censored, "http-reset.lab.test")


def test_http_blockpage(lab: RunningLab) -> None:
    response = fetch_http(lab, lab.censored, "http-blockpage.lab.test")
    assert response.status == 200
    assert BLOCKPAGE_MARKER.encode() in response.body


@pytest.mark.parametrize(
    ("name", "https"),
    [
        ("tls-sni-reset.lab.test", True),
        ("tls-sni-stall.lab.test", True),
        ("tls-mitm.lab.test", True),
        ("http-reset.lab.test", False),
        ("http-blockpage.lab.test", False),
    ],
)
def test_the_free_vantage_is_untouched(lab: RunningLab, name: str, https: bool) -> None:
    fetch = fetch_https if https else fetch_http
    assert_page(fetch(lab, lab.free, name), name)


@pytest.mark.parametrize("name", ["tls-sni-reset.lab.test", "tls-sni-stall.lab.test"])
def test_a_neutral_sni_passes_the_censor(lab: RunningLab, name: str) -> None:
    response = fetch_https(lab, lab.censored, name, sni="example.org", context=capturing())
    assert_page(response, name)


def test_http_censorship_does_not_reach_inside_tls(lab: RunningLab) -> None:
    name = "http-reset.lab.test"
    with (
        connect(lab.censored, lab.address(name), lab.topology.ports.https) as raw,
        capturing().wrap_socket(raw, server_hostname="static.lab.test") as sock,
    ):
        assert_page(request(sock, name), name)


def test_sni_censorship_does_not_apply_to_plain_http(lab: RunningLab) -> None:
    assert_page(fetch_http(lab, lab.censored, "tls-sni-reset.lab.test"), "tls-sni-reset.lab.test")


def test_no_sni_passes_the_censor(lab: RunningLab) -> None:
    name = "tls-sni-reset.lab.test"
    with (
        connect(lab.censored, lab.address(name), lab.topology.ports.https) as raw,
        capturing().wrap_socket(raw, server_hostname=None) as sock,
    ):
        assert_page(request(sock, name), name)


def wait_closed(sock: socket.socket) -> None:
    """Read until the server closes, by EOF or reset."""
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass


def test_garbage_and_abandoned_handshakes_are_survived_quietly(lab: RunningLab) -> None:
    address = lab.address("tls-sni-reset.lab.test")
    hello = client_hello("tls-sni-reset.lab.test")
    payloads = [b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", hello[:40], b""]
    for payload in payloads:
        with connect(lab.censored, address, lab.topology.ports.https) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            wait_closed(sock)
    # A handshake the client abandons half-way, as a probe's certificate capture may.
    with connect(lab.free, address, lab.topology.ports.https) as sock:
        sock.sendall(hello)
        sock.recv(1)
    assert_page(fetch_https(lab, lab.censored, "static.lab.test"), "static.lab.test")
    time.sleep(0.1)  # let the server notice the abandoned handshake, for quiet_lab to check


# --- lifecycle ------------------------------------------------------------------------------


def test_close_is_prompt_with_slow_connections_open() -> None:
    async def scenario() -> None:
        topology, web = await start_lab(LabPKI())
        try:
            tarpit = topology.true_a("tarpit.lab.test")[0]
            reader, writer = await asyncio.open_connection(
                tarpit, topology.ports.http, local_addr=(topology.free_vantage, 0)
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: tarpit.lab.test\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            stall = topology.true_a("tls-sni-stall.lab.test")[0]
            stalled_reader, stalled_writer = await asyncio.open_connection(
                stall, topology.ports.https, local_addr=(topology.censored_vantage, 0)
            )
            stalled_writer.write(client_hello("tls-sni-stall.lab.test"))
            await asyncio.sleep(0.2)
            # Closing must not wait on either held connection (each would hold it for ever).
            await asyncio.wait_for(web.close(), TIMEOUT)
            for r, w in ((reader, writer), (stalled_reader, stalled_writer)):
                with contextlib.suppress(ConnectionResetError):
                    assert await asyncio.wait_for(r.read(), TIMEOUT) == b""
                w.close()
                await w.wait_closed()
        finally:
            await web.close()  # a second close is harmless

    asyncio.run(scenario())


def test_start_fails_with_oserror_when_an_address_is_taken(lab: RunningLab) -> None:
    async def scenario() -> None:
        twin = WebLab(lab.topology, lab.pki)
        with pytest.raises(OSError):
            await twin.start()
        await twin.close()

    asyncio.run(scenario())
    assert_page(fetch_https(lab, lab.free, "static.lab.test"), "static.lab.test")


def test_no_connection_outlives_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_module, "CONNECTION_LIMIT", 0.3)

    async def scenario() -> bytes:
        topology, web = await start_lab(LabPKI())
        try:
            address = topology.true_a("tarpit.lab.test")[0]
            reader, writer = await asyncio.open_connection(
                address, topology.ports.http, local_addr=(topology.free_vantage, 0)
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: tarpit.lab.test\r\n\r\n")
            # The tarpit trickles over a megabyte a byte at a time: only the limit can end the
            # connection before TIMEOUT, which would raise here.
            received = b""
            with contextlib.suppress(ConnectionResetError):
                received = await asyncio.wait_for(reader.read(), TIMEOUT)
            writer.close()
            await writer.wait_closed()
            return received
        finally:
            await web.close()

    assert len(asyncio.run(scenario())) < 1 << 20
