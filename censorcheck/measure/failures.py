"""The one place where exceptions become stable failure codes.

A failure code is ``<layer>.<what>``: ``tcp.refused``, ``tls.reset``, ``http.eof``... The vocabulary
is fixed (``FAILURES``) because analysts group and diff by it; adding a code is a schema change.
Probes never raise on network trouble: they call :func:`classify` and record the code.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import sys
from collections.abc import Iterator

import anyio
import h11
import httpcore

WHATS = (
    # DNS-specific answers
    "nxdomain",
    "refused",
    "servfail",
    "no_answer",
    "bad_response",
    # transport outcomes, shared by every layer
    "timeout",
    "reset",
    "eof",
    "unreachable",
    "deadline",
    # TLS
    "alert",
    "untrusted",
    "hostname_mismatch",
    "expired",
    "invalid_certificate",
    # HTTP
    "protocol_error",
    "too_many_redirects",
    "bad_redirect",
    # anything we could not name
    "error",
)
LAYERS = ("dns", "tcp", "tls", "http", "quic")
# What can go wrong with a control server itself, as opposed to the site it measured.
CONTROL_WHATS = (
    "unreachable",  # no connection to the server
    "timeout",  # it did not answer within the target's deadline
    "unauthorized",  # 401: the token is wrong
    "rate_limited",  # 429: too many measurements for this token
    "rejected",  # another 4xx: it would not measure this URL
    "bad_response",  # 5xx, or a body that is not a control document
    "forbidden_address",  # its dial guard refused every address it would have measured
)
# What can go wrong with a vantage's proxy itself, as opposed to the connection it was asked for.
PROXY_WHATS = (
    "unreachable",  # no connection to the proxy
    "refused",  # the proxy will not connect there for us (its rules, or authentication)
    "error",  # a failure it did not explain
)
FAILURES = (
    frozenset(f"{layer}.{what}" for layer in LAYERS for what in WHATS)
    | frozenset(f"control.{what}" for what in CONTROL_WHATS)
    | frozenset(f"proxy.{what}" for what in PROXY_WHATS)
)

# OONI's failure strings (probe-cli internal/netxlite, and the test helper's own DNS words) and
# what each means in ours. Strings not listed become ``<layer>.error``.
_FROM_OONI = {
    "dns_nxdomain_error": "nxdomain",
    "dns_name_error": "nxdomain",  # the test helper's word for NXDOMAIN
    "dns_no_answer": "no_answer",
    "dns_refused_error": "refused",
    "dns_servfail_error": "servfail",
    "dns_server_misbehaving": "bad_response",
    "dns_server_failure": "error",  # the helper folds refused, misbehaving and temporary here
    "connection_refused": "refused",
    "connection_reset": "reset",
    "connection_aborted": "reset",
    "network_reset": "reset",
    "generic_timeout_error": "timeout",
    "timed_out": "timeout",
    "eof_error": "eof",
    "connection_already_closed": "eof",
    "host_unreachable": "unreachable",
    "network_unreachable": "unreachable",
    "network_down": "unreachable",
    "ssl_invalid_hostname": "hostname_mismatch",
    "ssl_unknown_authority": "untrusted",
    "ssl_invalid_certificate": "invalid_certificate",
    "ssl_failed_handshake": "alert",
    # QUIC (netxlite's QUIC classifier): a version the server would not speak is the server's
    # business, not a named interference.
    "quic_incompatible_version": "error",
}
# Ours in OONI's words, where OONI names the meaning exactly.
_TO_OONI = {
    "dns.nxdomain": "dns_nxdomain_error",
    "dns.refused": "dns_refused_error",
    "dns.servfail": "dns_servfail_error",
    "dns.no_answer": "dns_no_answer",
    "dns.bad_response": "dns_server_misbehaving",
    "tcp.refused": "connection_refused",
    "tls.alert": "ssl_failed_handshake",
    "tls.untrusted": "ssl_unknown_authority",
    "tls.hostname_mismatch": "ssl_invalid_hostname",
    "tls.expired": "ssl_invalid_certificate",
    "tls.invalid_certificate": "ssl_invalid_certificate",
    # A QUIC handshake carries TLS, and OONI gives it the same words; a CONNECTION_REFUSED
    # close and a port-unreachable ICMP both read connection_refused there, as here.
    "quic.refused": "connection_refused",
    "quic.alert": "ssl_failed_handshake",
    "quic.untrusted": "ssl_unknown_authority",
    "quic.hostname_mismatch": "ssl_invalid_hostname",
    "quic.expired": "ssl_invalid_certificate",
    "quic.invalid_certificate": "ssl_invalid_certificate",
}
# Transport outcomes mean the same whatever the layer. A deadline is a timer that expired too.
_TRANSPORT_TO_OONI = {
    "timeout": "generic_timeout_error",
    "deadline": "generic_timeout_error",
    "reset": "connection_reset",
    "eof": "eof_error",
}

# SOCKS5 reply codes (RFC 1928) about the destination, as the proxy saw it from its network.
_SOCKS_REPLY = {3: "unreachable", 4: "unreachable", 5: "refused", 6: "timeout"}
# A CONNECT proxy's answers about the destination: bad gateway, gateway timeout.
_CONNECT_STATUS = {502: "unreachable", 504: "timeout"}

# OpenSSL X509_V_ERR_* codes, grouped by what they mean for a verdict.
_EXPIRED = {9, 10}  # not yet valid, expired
_HOSTNAME = {62, 63, 64}  # hostname, email, IP mismatch
_UNTRUSTED = {2, 18, 19, 20, 21, 27, 28}  # unknown issuer, self-signed, untrusted, rejected

_ERRNO = {
    errno.ECONNRESET: "reset",
    errno.ECONNABORTED: "reset",
    errno.EPIPE: "reset",
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
    errno.EADDRNOTAVAIL: "unreachable",
    errno.ENETDOWN: "unreachable",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_TIMEOUTS = (TimeoutError, asyncio.TimeoutError, httpcore.TimeoutException)
# Left behind as the context of a cancelled read or write; they say nothing about the failure.
_NOISE = (ssl.SSLWantReadError, ssl.SSLWantWriteError, asyncio.CancelledError)


def _what(exc: BaseException) -> str:
    causes = [c for c in _chain(exc) if not isinstance(c, _NOISE)]
    if any(isinstance(c, _TIMEOUTS) for c in causes):
        return "timeout"
    # The innermost concrete cause is the most precise, so look at causes from the inside out.
    for cause in reversed(causes):
        if isinstance(cause, ssl.SSLCertVerificationError):
            code = cause.verify_code
            if code in _EXPIRED:
                return "expired"
            if code in _HOSTNAME:
                return "hostname_mismatch"
            if code in _UNTRUSTED:
                return "untrusted"
            return "invalid_certificate"
        if isinstance(cause, ssl.SSLEOFError):
            return "eof"
        if isinstance(cause, ssl.SSLError):
            text = f"{getattr(cause, 'reason', None) or ''} {cause}".upper()
            if "UNEXPECTED_EOF" in text or "EOF OCCURRED" in text:
                return "eof"
            if "ALERT" in text:
                return "alert"
            return "error"
        if isinstance(cause, OSError) and cause.errno in _ERRNO:
            return _ERRNO[cause.errno]
    for cause in causes:
        if isinstance(cause, (anyio.EndOfStream, anyio.IncompleteRead, EOFError)):
            return "eof"
        if isinstance(cause, ConnectionResetError):
            return "reset"
        if isinstance(cause, (httpcore.RemoteProtocolError, h11.RemoteProtocolError)):
            if "without sending" in str(cause) or "disconnected" in str(cause).lower():
                return "eof"
            return "protocol_error"
        if isinstance(cause, anyio.BrokenResourceError):
            return "reset"
        if isinstance(cause, anyio.ClosedResourceError):
            return "eof"
    return "error"


def proxy_errors() -> tuple[type[Exception], ...]:
    """The exceptions python_socks raises for a proxy's failures (not all of them OSErrors),
    or none while nothing has imported it. Only a connection through a proxy does
    (``probes.proxy``): before that none of them can have been raised, and importing the
    library just to look would cost every run without a proxy its import."""
    if "python_socks" not in sys.modules:
        return ()
    from python_socks import ProxyConnectionError, ProxyError

    return (ProxyConnectionError, ProxyError)


def _through_proxy(exc: BaseException, layer: str) -> str | None:
    """The code for a failure a proxy reported: the destination's, or the proxy's own."""
    if not proxy_errors():
        return None  # nothing went through a proxy
    from python_socks import ProxyConnectionError, ProxyError

    for cause in _chain(exc):
        if isinstance(cause, ProxyConnectionError):
            return "proxy.unreachable"
        if isinstance(cause, ProxyError):
            code = cause.error_code or 0
            what = _CONNECT_STATUS.get(code) if code >= 100 else _SOCKS_REPLY.get(code)
            if what is not None:
                return f"{layer}.{what}"
            return "proxy.refused" if code in (2, 403, 407) else "proxy.error"
    return None


def classify(exc: BaseException, layer: str) -> str:
    """Map an exception raised at ``layer`` to a failure code from ``FAILURES``."""
    proxied = _through_proxy(exc, layer)
    if proxied is not None:
        return proxied
    what = _what(exc)
    if layer == "dns" and what == "refused":
        # Nothing listening (ICMP port unreachable, TCP RST) must not read as a REFUSED rcode.
        what = "unreachable"
    return f"{layer}.{what}"


def certificate_problem(exc: BaseException) -> str | None:
    """OpenSSL's words for a certificate that failed validation, if that is what ``exc`` is."""
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message)
    return None


def describe(exc: BaseException) -> str:
    """A short, stable-ish human description of the innermost cause, for logs."""
    inner = list(_chain(exc))[-1]
    return f"{type(inner).__name__}: {inner}"[:200]


def from_ooni(failure: str, layer: str) -> str:
    """Our code at ``layer`` for one of OONI's failure strings."""
    return f"{layer}.{_FROM_OONI.get(failure, 'error')}"


def to_ooni(code: str | None) -> str | None:
    """OONI's failure string for one of our failure codes (None stays None)."""
    if code is None:
        return None
    if code in _TO_OONI:
        return _TO_OONI[code]
    _, _, what = code.partition(".")
    if what in _TRANSPORT_TO_OONI:
        return _TRANSPORT_TO_OONI[what]
    return f"unknown_failure: {code}"


def to_ooni_helper_dns(code: str | None) -> str | None:
    """The DNS failure a Web Connectivity test helper reports for our lookup failure: its own
    short list (oohelperd's dnsMapFailure), which probes compare against by string."""
    if code is None or code == "dns.no_answer":
        return None  # the helper answers an empty list with no failure
    if code == "dns.nxdomain":
        return "dns_name_error"
    if code in ("dns.refused", "dns.servfail", "dns.bad_response"):
        return "dns_server_failure"
    return "unknown_error"
