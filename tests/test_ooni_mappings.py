"""OONI export, the pure mappings: our failure codes in OONI's words, OONI's time format, and the
page comparisons Web Connectivity makes."""

from __future__ import annotations

import pytest

from censorcheck.models import HTTPResponse
from censorcheck.results.ooni import (
    headers_match,
    ooni_failure,
    ooni_time,
    status_code_match,
    title_match,
)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (None, None),
        ("dns.nxdomain", "dns_nxdomain_error"),
        ("dns.refused", "dns_refused_error"),
        ("dns.servfail", "dns_servfail_error"),
        ("dns.no_answer", "dns_no_answer"),
        ("dns.bad_response", "dns_server_misbehaving"),
        ("dns.timeout", "generic_timeout_error"),
        ("dns.deadline", "generic_timeout_error"),
        ("tcp.refused", "connection_refused"),
        ("tcp.reset", "connection_reset"),
        ("tcp.timeout", "generic_timeout_error"),
        ("tls.timeout", "generic_timeout_error"),
        ("tls.reset", "connection_reset"),
        ("tls.eof", "eof_error"),
        ("tls.alert", "ssl_failed_handshake"),
        ("tls.untrusted", "ssl_unknown_authority"),
        ("tls.hostname_mismatch", "ssl_invalid_hostname"),
        ("tls.expired", "ssl_invalid_certificate"),
        ("tls.invalid_certificate", "ssl_invalid_certificate"),
        ("http.reset", "connection_reset"),
        ("http.eof", "eof_error"),
        ("http.timeout", "generic_timeout_error"),
        ("control.timeout", "generic_timeout_error"),
        ("tcp.unreachable", "unknown_failure: tcp.unreachable"),
        ("http.protocol_error", "unknown_failure: http.protocol_error"),
        ("http.too_many_redirects", "unknown_failure: http.too_many_redirects"),
        ("control.unauthorized", "unknown_failure: control.unauthorized"),
        ("proxy.refused", "unknown_failure: proxy.refused"),
        ("dns.error", "unknown_failure: dns.error"),
    ],
)
def test_failure_mapping(ours: str | None, theirs: str | None) -> None:
    assert ooni_failure(ours) == theirs


def test_ooni_time_is_utc_to_the_second() -> None:
    assert ooni_time("2026-11-24T15:27:02.137Z") == "2026-11-24 15:27:02"
    assert ooni_time("2026-11-24T01:00:00+02:00") == "2026-11-23 23:00:00"


def response(status: int, title: str | None, headers: list[tuple[str, str]]) -> HTTPResponse:
    return HTTPResponse(
        status=status, headers=headers, title=title, body_length=10, body_sha256="0" * 64
    )


def test_page_comparisons_follow_web_connectivity() -> None:
    ok = response(200, "Example Domain Homepage", [("Server", "x"), ("X-Site", "1")])
    assert status_code_match(response(200, None, []), ok) is True
    assert status_code_match(response(403, None, []), ok) is False
    # A control that got an error cannot say the probe's different answer is wrong.
    assert status_code_match(response(200, None, []), response(503, None, [])) is None
    assert title_match(response(200, "example domain homepage", []), ok) is True
    assert title_match(response(200, "Access Denied", []), ok) is False
    assert title_match(response(200, None, []), ok) is None
    # Sharing only headers every server sends says nothing; sharing an unusual one does.
    shared = [("server", "y"), ("X-Site", "2"), ("X-Other", "3")]
    assert headers_match(response(200, None, shared), ok) is True
    assert headers_match(response(200, None, [("Server", "y"), ("Via", "isp")]), ok) is False
    assert headers_match(response(200, None, []), ok) is None
