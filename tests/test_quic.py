"""The QUIC probe against a real HTTP/3 server (aioquic) on loopback, and against silence, a
closed port and a certificate from the wrong CA."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from pathlib import Path

import pytest
import trustme

from censorcheck.lab.quic import Drop, Page, serve_h3
from censorcheck.lab.quicpeek import initial_server_name
from censorcheck.measure.probes import quic
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import QUICFetch
from censorcheck.settings import Settings

HOST = "h3.example"
PAGE = b"<title>over HTTP/3</title>" + b"z" * 50_000


def _page(host: str, path: str) -> Page:
    if host != HOST:
        return 421, [], b"misdirected"
    return 200, [(b"content-type", b"text/html; charset=utf-8")], PAGE


def _address() -> str:
    return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.{random.randint(2, 250)}"


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def _settings(ca: trustme.CA, tmp_path: Path, **more: object) -> Settings:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    values: dict[str, object] = {
        "timeout": 1.0,
        "ca_bundle": tmp_path / "ca.pem",
        "treat_as_public": ["127.0.0.0/8"],
    }
    return Settings(**{**values, **more})  # type: ignore[arg-type]


async def _against_server(tmp_path: Path, server_ca: trustme.CA, trusted_ca: trustme.CA,
                          drop: Drop | None = None, **more: object) -> QUICFetch:  # fmt: skip
    server_ca.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "site.pem")
    )
    address = _address()
    port = _free_udp_port(address)
    server = await serve_h3(address, port, str(tmp_path / "site.pem"), str(tmp_path / "site.pem"),
                            _page, drop)  # fmt: skip
    ctx = ProbeContext.create(_settings(trusted_ca, tmp_path, **more), False)
    try:
        return await quic.measure(HOST, "/", address, port, ctx, set())
    finally:
        await ctx.aclose()
        server.close()


def test_http3_loads_the_page_over_a_validated_handshake(tmp_path: Path) -> None:
    ca = trustme.CA()
    fetch = asyncio.run(_against_server(tmp_path, ca, ca))
    assert fetch.failure is None, fetch
    hs = fetch.handshake
    assert hs is not None
    assert (hs.failure, hs.version, hs.alpn, hs.trusted, hs.sni) == (None, "1", "h3", True, HOST)
    assert hs.chain and HOST in hs.chain[0].sans
    response = fetch.response
    assert response is not None
    assert (response.status, response.protocol, response.title) == (200, "HTTP/3", "over HTTP/3")
    assert response.body_length == len(PAGE)
    assert response.transfer is not None and response.transfer.complete


def test_a_certificate_from_another_ca_fails_validation_and_is_recorded(tmp_path: Path) -> None:
    fetch = asyncio.run(_against_server(tmp_path, trustme.CA(), trustme.CA()))
    hs = fetch.handshake
    assert hs is not None and fetch.response is None
    assert (fetch.failure, hs.failure, hs.trusted) == (
        "quic.invalid_certificate",
        "quic.invalid_certificate",
        False,
    )
    assert hs.validation_error
    # The neutral handshake does not check the chain: the server answers whatever the name.
    assert hs.neutral is not None and hs.neutral.failure is None


def _probe_at(address: str, port: int, tmp_path: Path, **more: object) -> QUICFetch:
    async def main() -> QUICFetch:
        ctx = ProbeContext.create(_settings(trustme.CA(), tmp_path, **more), False)
        try:
            return await quic.measure(HOST, "/", address, port, ctx, set())
        finally:
            await ctx.aclose()

    return asyncio.run(main())


def test_udp_that_vanishes_is_a_timeout_for_both_names(tmp_path: Path) -> None:
    address = _address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:  # bound, never answers
        hole.bind((address, 0))
        fetch = _probe_at(address, hole.getsockname()[1], tmp_path)
    hs = fetch.handshake
    assert hs is not None and hs.neutral is not None
    assert (fetch.failure, hs.failure, hs.neutral.failure) == ("quic.timeout",) * 3


class _Peer(asyncio.DatagramProtocol):
    """A UDP peer that says nothing, or (``chatty``) answers every datagram with one that is no
    QUIC at all."""

    def __init__(self, chatty: bool) -> None:
        self.chatty = chatty

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.chatty:
            self.transport.sendto(b"not quic", addr)


@pytest.mark.parametrize("chatty", [False, True])
def test_the_neutral_twin_is_hedged_only_while_nothing_comes_back(
    tmp_path: Path, chatty: bool
) -> None:
    """Silence gets the neutral handshake beside the one naming the host; a peer that answered
    anything shows the path carries this name's Initials, so the neutral one only follows a
    failure."""
    address = _address()

    async def main() -> QUICFetch:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Peer(chatty), local_addr=(address, 0)
        )
        run_ctx = ProbeContext.create(_settings(trustme.CA(), tmp_path), False)
        try:
            port = transport.get_extra_info("sockname")[1]
            ctx = run_ctx.for_target(time.monotonic())  # observations then record their start
            return await quic.measure(HOST, "/", address, port, ctx, set())
        finally:
            await run_ctx.aclose()
            transport.close()

    hs = asyncio.run(main()).handshake
    assert hs is not None and hs.neutral is not None
    assert (hs.failure, hs.neutral.failure) == ("quic.timeout", "quic.timeout")
    assert hs.t0 is not None and hs.neutral.t0 is not None
    # Began after the first had ended (``t`` is rounded to 0.1 ms), or beside it.
    assert (hs.neutral.t0 >= hs.t0 + hs.t - 0.001) == chatty


def test_a_handshake_given_up_on_sends_nothing_later(tmp_path: Path) -> None:
    """A timed-out handshake's socket is closed while its retransmission timer is still armed;
    when that timer fires, nothing may try to send on the closed socket (aioquic logs an error
    through the loop for each one). No event marks "nothing happened", so the loop is kept
    running past the retransmissions that were due: well beyond the 1 s timeout's next one."""
    ca = trustme.CA()
    address = _address()
    errors: list[dict[str, object]] = []

    async def main() -> QUICFetch:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        ctx = ProbeContext.create(_settings(ca, tmp_path), False)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
            hole.bind((address, 0))
            try:
                fetch = await quic.measure(HOST, "/", address, hole.getsockname()[1], ctx, set())
            finally:
                await ctx.aclose()
        await asyncio.sleep(3.0)
        return fetch

    fetch = asyncio.run(main())
    assert fetch.failure == "quic.timeout"
    assert not errors, errors


def test_a_closed_connection_sends_nothing_later(tmp_path: Path) -> None:
    """A fetched page's connection is closed without waiting out its closing period, whose
    timers still fire after the socket is gone: nothing may be sent or logged then. As above,
    the loop runs on past them (the closing period is three probe timeouts, well under 1 s on
    loopback)."""
    errors: list[dict[str, object]] = []

    async def main() -> QUICFetch:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        fetch = await _against_server(tmp_path, ca, ca)
        await asyncio.sleep(2.0)
        return fetch

    ca = trustme.CA()
    fetch = asyncio.run(main())
    assert fetch.failure is None and fetch.response is not None
    assert not errors, errors


def test_a_closed_udp_port_is_refused(tmp_path: Path) -> None:
    address = _address()
    fetch = _probe_at(address, _free_udp_port(address), tmp_path)
    assert fetch.failure == "quic.refused"


@pytest.mark.parametrize(
    ("more", "why"),
    [
        ({"proxy": "socks5://127.0.0.1:1080", "resolvers": ["tcp://127.0.0.1"]}, "proxy"),
        ({"treat_as_public": []}, "bogon"),
    ],
)
def test_nothing_is_sent_behind_a_proxy_or_to_a_bogon(
    tmp_path: Path, more: dict[str, object], why: str
) -> None:
    address = _address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as watch:
        watch.bind((address, 0))
        watch.setblocking(False)
        fetch = _probe_at(address, watch.getsockname()[1], tmp_path, **more)
        with pytest.raises(BlockingIOError):
            watch.recv(2048)  # not one datagram arrived
    assert fetch.handshake is None and fetch.skipped is not None and why in fetch.skipped


def test_the_lab_censor_reads_the_sni_of_an_initial_and_drops_only_that_name(
    tmp_path: Path,
) -> None:
    """The censor decrypts each Initial (its keys are public), reads the ClientHello's name and
    drops those naming the host: the handshake naming it times out, the neutral one completes."""
    seen: list[str | None] = []

    def drop(source: str, datagram: bytes) -> bool:
        name = initial_server_name(datagram)
        if name is not None:
            seen.append(name)
        return name == HOST

    ca = trustme.CA()
    fetch = asyncio.run(_against_server(tmp_path, ca, ca, drop=drop))
    hs = fetch.handshake
    assert hs is not None and hs.neutral is not None
    assert (fetch.failure, hs.failure, hs.neutral.failure) == ("quic.timeout", "quic.timeout", None)
    assert HOST in seen and "example.org" in seen
    assert fetch.response is None


@pytest.mark.parametrize(
    "datagram", [b"", b"\x40" + b"\x00" * 40, b"\xc0\x00\x00\x00\x01\x08" + b"\x11" * 60]
)
def test_what_is_not_a_readable_initial_names_nothing(datagram: bytes) -> None:
    # Empty, a short-header packet, and an Initial whose protection does not decrypt.
    assert initial_server_name(datagram) is None
