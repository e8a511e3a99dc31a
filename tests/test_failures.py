"""Exceptions to failure codes: the one translation table, and the vocabulary it draws from."""

from __future__ import annotations

import asyncio
import errno
import ssl

import anyio
import httpcore
import pytest

from censorcheck.measure.failures import FAILURES, classify


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def cert_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    return exc


def cancelled_read_timeout() -> BaseException:
    """What anyio leaves when a TLS read is cut by a timeout: the noise must not win."""
    noise = ssl.SSLWantReadError(2, "read would block")
    cancelled = asyncio.CancelledError()
    cancelled.__context__ = noise
    timeout = TimeoutError()
    timeout.__context__ = cancelled
    return chained(httpcore.ConnectTimeout("timed out"), timeout)


CASES = [
    (ConnectionResetError(errno.ECONNRESET, "reset"), "tcp", "tcp.reset"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "tcp", "tcp.refused"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "dns", "dns.unreachable"),
    (OSError(errno.ENETUNREACH, "unreachable"), "tcp", "tcp.unreachable"),
    (chained(httpcore.ConnectError("x"), OSError(errno.EHOSTUNREACH, "no route")), "tcp",
     "tcp.unreachable"),
    (cancelled_read_timeout(), "tls", "tls.timeout"),
    (asyncio.TimeoutError(), "dns", "dns.timeout"),
    (httpcore.ReadTimeout("slow"), "http", "http.timeout"),
    (chained(httpcore.ConnectError("x"), cert_error(10)), "tls", "tls.expired"),
    (chained(httpcore.ConnectError("x"), cert_error(62)), "tls", "tls.hostname_mismatch"),
    (chained(httpcore.ConnectError("x"), cert_error(20)), "tls", "tls.untrusted"),
    (chained(httpcore.ConnectError("x"), cert_error(18)), "tls", "tls.untrusted"),
    (chained(httpcore.ConnectError("x"), cert_error(50)), "tls", "tls.invalid_certificate"),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "tls", "tls.eof"),
    (ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure"), "tls",
     "tls.alert"),
    (chained(httpcore.ConnectError("x"), anyio.BrokenResourceError()), "tls", "tls.reset"),
    (chained(httpcore.ReadError("x"), anyio.EndOfStream()), "http", "http.eof"),
    (httpcore.RemoteProtocolError("Server disconnected without sending a response."), "http",
     "http.eof"),
    (httpcore.RemoteProtocolError("illegal header"), "http", "http.protocol_error"),
    (ValueError("something else"), "http", "http.error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exc", "layer", "code"), CASES, ids=[c[2] + "/" + type(c[0]).__name__ for c in CASES]
)
def test_classify(exc: BaseException, layer: str, code: str) -> None:
    assert classify(exc, layer) == code
    assert code in FAILURES


def test_chain_cycles_terminate() -> None:
    a, b = OSError("a"), OSError("b")
    a.__context__, b.__context__ = b, a
    assert classify(a, "tcp") == "tcp.error"
