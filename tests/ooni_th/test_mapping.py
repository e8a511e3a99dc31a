"""The test-helper answers mapped into our Control, and ours mapped back, one row per field."""

from __future__ import annotations

import pytest

from censorcheck.control.ooni import THResponse, request_for, to_control, to_response
from censorcheck.measure.failures import FAILURES
from censorcheck.models import Control, HTTPResponse, QUICFetch, QUICHandshake, TCPConnect
from tests.ooni_th import document
from tests.verdict.builders import SITE, hs, q, server

HELPER = "ooni:th.example"


def mapped(name: str, url: str = "https://site.example/") -> Control:
    return to_control(THResponse.model_validate(document(name)), url, HELPER)


def test_a_working_site() -> None:
    c = mapped("site_ok")
    assert c.source == "ooni" and c.failure is None
    [lookup] = c.dns
    assert (lookup.resolver, lookup.hostname, lookup.qtype) == (HELPER, "site.example", "A")
    assert lookup.failure is None and lookup.answer is not None
    assert (lookup.answer.rcode, lookup.answer.addresses) == ("NOERROR", [SITE])
    # Only the URL's port: port 80's outcome says nothing about an https:// URL.
    assert [(t.address, t.port, t.failure) for t in c.tcp] == [(SITE, 443, None)]
    [tls] = c.tls
    assert (tls.sni, tls.failure, tls.trusted, tls.chain) == ("site.example", None, True, [])
    assert c.http is not None and c.http.failure is None
    [hop] = c.http.hops
    assert (hop.url, hop.address) == ("https://site.example/", None)
    assert hop.response is not None
    assert (hop.response.status, hop.response.title, hop.response.body_length) == (
        200,
        "Site news",
        5120,
    )
    assert ("X-Site-Edge", "fra1") in hop.response.headers
    assert hop.response.body_prefix == "" and hop.response.body_sha256 == ""


def test_port_80_for_a_plain_http_url() -> None:
    c = mapped("site_ok", "http://site.example/")
    assert [(t.address, t.port) for t in c.tcp] == [(SITE, 80)]


def test_nxdomain() -> None:
    c = mapped("nxdomain")
    [lookup] = c.dns
    assert lookup.failure == "dns.nxdomain"
    assert lookup.answer is not None and lookup.answer.rcode == "NXDOMAIN"
    assert c.http is not None and c.http.failure == "http.nxdomain"
    assert c.tcp == [] and c.tls == []
    assert c.failure is None  # an NXDOMAIN answer is an observation: the name does not exist


FAILED_TCP = {
    "151.101.65.1": "tcp.timeout",
    "192.0.2.7": "tcp.refused",
    "2001:db8::7": "tcp.error",  # a string this version does not know
}
FAILED_TLS = {
    SITE: ("tls.hostname_mismatch", False),
    "151.101.65.1": ("tls.untrusted", False),
    "192.0.2.8": ("tls.invalid_certificate", False),
    "192.0.2.9": ("tls.reset", None),
    "192.0.2.10": ("tls.timeout", None),
    "192.0.2.11": ("tls.eof", None),
}


def test_failures_become_our_codes() -> None:
    c = mapped("failures")
    assert {t.address: t.failure for t in c.tcp if t.failure} == FAILED_TCP
    assert {h.address: (h.failure, h.trusted) for h in c.tls} == FAILED_TLS
    assert c.dns[0].failure == "dns.error" and c.dns[0].answer is None
    assert c.http is not None and c.http.failure == "http.reset"
    assert c.http.hops[0].response is None
    codes = [t.failure for t in c.tcp] + [h.failure for h in c.tls] + [c.dns[0].failure]
    assert {f for f in codes if f} <= FAILURES


@pytest.mark.parametrize(
    ("dns", "failure", "answer"),
    [
        ({"failure": None, "addrs": []}, "dns.no_answer", "NOERROR"),
        ({"failure": "dns_nxdomain_error", "addrs": None}, "dns.nxdomain", "NXDOMAIN"),
        ({"failure": "dns_no_answer"}, "dns.no_answer", None),
        ({"failure": "unknown_error"}, "dns.error", None),
    ],
)
def test_dns_rows(dns: dict[str, object], failure: str, answer: str | None) -> None:
    c = to_control(THResponse.model_validate({"dns": dns}), "https://site.example/", HELPER)
    assert c.dns[0].failure == failure
    assert (c.dns[0].answer.rcode if c.dns[0].answer else None) == answer


def test_an_ip_literal_url_has_no_lookup() -> None:
    c = to_control(THResponse.model_validate(document("site_ok")), f"https://{SITE}/", HELPER)
    assert c.dns == []


def test_an_answer_with_nothing_that_worked_is_a_failed_control() -> None:
    c = to_control(THResponse.model_validate({}), "https://site.example/", HELPER)
    assert c.failure is not None and c.failure in FAILURES


def test_the_request_sends_both_web_ports_for_plain_http() -> None:
    plain = request_for("http://site.example/", [SITE, "2001:db8::1"], "UA")
    assert plain.tcp_connect == [f"{SITE}:80", f"{SITE}:443", "[2001:db8::1]:80",
                                 "[2001:db8::1]:443"]  # fmt: skip
    assert plain.http_request_headers == {"User-Agent": ["UA"]}
    assert request_for("https://site.example:8443/", [SITE], "UA").tcp_connect == [f"{SITE}:8443"]


def test_our_control_in_the_helpers_words() -> None:
    ours = server(
        dns=[q([SITE], resolver="udp://control")],
        tcp=[TCPConnect(address=SITE, port=443),
             TCPConnect(address="192.0.2.7", port=443, failure="tcp.refused"),
             TCPConnect(address="10.0.0.1", port=443, skipped="forbidden address: private")],
        tls=[hs(), hs("192.0.2.9", failure="tls.reset")],
    )  # fmt: skip
    th = to_response(ours, "https://site.example/", ["192.0.2.7"])
    assert th.dns is not None and th.dns.addrs == [SITE] and th.dns.failure is None
    assert set(th.tcp_connect) == {f"{SITE}:443", "192.0.2.7:443"}  # the skipped one is left out
    assert th.tcp_connect["192.0.2.7:443"].failure == "connection_refused"
    assert th.tls_handshake is not None
    assert th.tls_handshake[f"{SITE}:443"].status is True
    assert th.tls_handshake["192.0.2.9:443"].failure == "connection_reset"
    assert th.http_request is not None and th.http_request.status_code == 200
    assert th.ip_info is not None and th.ip_info["192.0.2.7"].flags == 1
    assert th.ip_info[SITE].flags == 2 | 8
    # And back again: the probe reads what the server meant.
    back = to_control(th, "https://site.example/", HELPER)
    assert {t.address: t.failure for t in back.tcp} == {SITE: None, "192.0.2.7": "tcp.refused"}


def test_our_nxdomain_in_the_helpers_words() -> None:
    ours = server(dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], tcp=[], tls=[])
    th = to_response(ours.model_copy(update={"http": None}), "https://site.example/", [])
    assert th.dns is not None and th.dns.failure == "dns_name_error"
    back = to_control(th, "https://site.example/", HELPER)
    assert back.dns[0].failure == "dns.nxdomain"


def test_the_helpers_quic_handshakes() -> None:
    c = mapped("site_quic")
    seen = {
        (f.address, f.port): (f.failure, f.handshake.trusted if f.handshake else "none")
        for f in c.quic
    }
    assert seen == {
        (SITE, 443): (None, True),  # the helper validates the chain, naming the host
        ("93.184.215.15", 443): ("quic.timeout", None),
        ("192.0.2.7", 443): ("quic.hostname_mismatch", False),
        ("192.0.2.8", 443): ("quic.error", None),  # a version the server would not speak
        ("192.0.2.9", 443): ("quic.refused", None),
    }
    for f in c.quic:
        # A handshake per endpoint, never a page: the helper says not where its HTTP/3 went.
        assert f.response is None and f.handshake is not None
        assert (f.handshake.address, f.handshake.sni) == (f.address, "site.example")
        assert f.handshake.failure == f.failure
    assert mapped("site_ok").quic == []


def test_the_request_asks_for_quic_only_when_told() -> None:
    assert request_for("https://site.example/", [SITE], "UA", quic=True).x_quic_enabled is True
    assert request_for("https://site.example/", [SITE], "UA").x_quic_enabled is False


def test_our_quic_in_the_helpers_words_and_back() -> None:
    loaded = HTTPResponse(status=200, headers=[("server", "h3")], title="Site news",
                          body_length=700, body_sha256="00", protocol="HTTP/3")  # fmt: skip
    ok = QUICHandshake(address=SITE, port=443, sni="site.example", alpn="h3", trusted=True)
    silent = QUICHandshake(address="192.0.2.7", port=443, sni="site.example",
                           failure="quic.timeout")  # fmt: skip
    foreign = QUICHandshake(address="192.0.2.8", port=443, sni="site.example",
                            trusted=False, validation_error="unknown issuer")  # fmt: skip
    ours = server(dns=[q([SITE], resolver="udp://control")]).model_copy(
        update={"quic": [
            QUICFetch(address=SITE, port=443, handshake=ok, response=loaded),
            QUICFetch(address="192.0.2.7", port=443, handshake=silent, failure="quic.timeout"),
            QUICFetch(address="192.0.2.8", port=443, handshake=foreign,
                      failure="quic.untrusted"),
            QUICFetch(address="10.0.0.1", port=443, skipped="forbidden address: private"),
        ]}
    )  # fmt: skip
    th = to_response(ours, "https://site.example/", [])
    assert th.quic_handshake is not None
    assert {k: (v.status, v.failure) for k, v in th.quic_handshake.items()} == {
        f"{SITE}:443": (True, None),
        "192.0.2.7:443": (False, "generic_timeout_error"),
        "192.0.2.8:443": (False, "ssl_invalid_certificate"),  # completed, but not trusted
    }
    assert th.http3_request is not None
    assert (th.http3_request.status_code, th.http3_request.title) == (200, "Site news")
    assert th.http_request is not None
    assert th.http_request.discovered_h3_endpoint == "site.example:443"
    back = to_control(th, "https://site.example/", HELPER)
    assert [(f.address, f.failure) for f in back.quic] == [
        (SITE, None),
        ("192.0.2.7", "quic.timeout"),
        ("192.0.2.8", "quic.invalid_certificate"),
    ]


def test_no_quic_is_no_quic_in_the_helpers_words() -> None:
    th = to_response(server(), "https://site.example/", [])
    assert th.quic_handshake == {} and th.http3_request is None
    assert th.http_request is not None and th.http_request.discovered_h3_endpoint == ""
