"""Rows for OONI's QA scenarios (probe-cli internal/webconnectivityqa) that the lab does not
reproduce: each built from what our probe would record in that scenario, named ``qa:`` and
referred to by the parity table (tests/parity/)."""

from __future__ import annotations

from censorcheck.models import Control, HTTPFetch, HTTPHop, TCPConnect
from tests.verdict.builders import (
    CONTROL_R,
    HTTP_URL,
    SITE,
    SITE_CERT,
    SITE_PAGE,
    Case,
    body,
    cert,
    control,
    fetched,
    hs,
    ok_page,
    q,
    server,
)
from tests.verdict.cases_field import BOGON
from tests.verdict.cases_ooni import HELPER_DOWN, helper

SHORT = "https://short.example/x"  # a link shortener that redirects to the site
WWW_HTTP, WWW_HTTPS = "http://www.site.example/", "https://www.site.example/"
PROXY = "185.18.54.80"  # an ISP's address that the probe's resolver hands out
EXPIRED = cert("site.example", sha="ee")
WRONG = cert("other.example", sha="ff")


def _to(url: str) -> HTTPHop:
    """The shortener's answer: a redirect to ``url``, over a handshake validated for it."""
    return HTTPHop(url=SHORT, address=SITE, tls=hs(sni="short.example"),
                   response=body("", status=302))  # fmt: skip


def _control_via(url: str) -> Control:
    """The control server followed the shortener to ``url`` and loaded the site there."""
    return server(dns=[q([SITE], resolver="udp://control", hostname="short.example")],
                  http=HTTPFetch(hops=[_to(url), HTTPHop(url=url, address=SITE,
                                                         response=body(SITE_PAGE))]))  # fmt: skip


def _stuck(url: str, failure: str, **layers: object) -> HTTPFetch:
    """The probe followed the shortener to ``url`` and failed there with ``failure``."""
    hop = HTTPHop(url=url, address=SITE, failure=failure, **layers)  # type: ignore[arg-type]
    return HTTPFetch(hops=[_to(url), hop], failure=failure)


def _tls_hop(failure: str) -> HTTPFetch:
    return _stuck(WWW_HTTPS, failure, tcp=TCPConnect(address=SITE, port=443),
                  tls=hs(failure=failure, sni="www.site.example"))  # fmt: skip


def _http_hop(failure: str) -> HTTPFetch:
    return _stuck(WWW_HTTP, failure, tcp=TCPConnect(address=SITE, port=80))


def _refused(url: str, port: int) -> HTTPFetch:
    return _stuck(url, "tcp.refused", tcp=TCPConnect(address=SITE, port=port,
                                                     failure="tcp.refused"))  # fmt: skip


def _broken_everywhere(failure: str, leaf: object) -> Control:
    return server(tls=[hs(failure=failure, chain=[leaf])],  # type: ignore[list-item]
                  http=HTTPFetch(failure=failure))  # fmt: skip


def _own_failure(failure: str, url: str) -> HTTPFetch:
    return fetched((url, body("", status=302)), failure=failure)


SHORT_DNS = [q([SITE], hostname="short.example")]
IDN = "xn--d1acpjx3f.xn--p1ai"
BAD_REDIRECT, LOOP = "http.bad_redirect", "http.too_many_redirects"
GONE = control(rcode="NXDOMAIN")
HTTPS_VIA_HELPER_DOWN = Control(source="server", failure="control.unreachable")

QA_CASES = [
    # badssl: the site's own certificate is broken for everyone.
    Case("qa: expired certificate for everyone, server", ("down", None, "tls.expired"),
         tls=[hs(failure="tls.expired", trusted=False, chain=[EXPIRED])], http=None,
         control=_broken_everywhere("tls.expired", EXPIRED)),
    Case("qa: expired certificate, resolvers only", ("inconclusive", None, "tls.expired"),
         tls=[hs(failure="tls.expired", trusted=False, chain=[EXPIRED])], http=None),
    Case("qa: certificate for another name for everyone, server",
         ("down", None, "tls.hostname_mismatch"), http=None,
         tls=[hs(failure="tls.hostname_mismatch", trusted=False, chain=[WRONG])],
         control=_broken_everywhere("tls.hostname_mismatch", WRONG)),
    Case("qa: certificate for another name, resolvers only",
         ("inconclusive", None, "tls.hostname_mismatch"), http=None,
         tls=[hs(failure="tls.hostname_mismatch", trusted=False, chain=[WRONG])]),
    # The control server is unreachable; the site works.
    Case("qa: control server unreachable, https page validated", ("accessible", None, "accessible"),
         control=HTTPS_VIA_HELPER_DOWN),
    # Resolver answers with no address (what Android's getaddrinfo reports as no data).
    Case("qa: no address from the probe's resolver, control resolves",
         ("blocked", "dns", "dns.no_answer"), dns=[q(failure="dns.no_answer")], tcp=[], tls=[],
         http=None),
    Case("qa: a private address, control public", ("blocked", "dns", "dns.bogon"),
         dns=[q([BOGON])], tcp=[TCPConnect(address=BOGON, port=443, skipped="bogon")], tls=[],
         http=None),
    # The name exists nowhere, yet the probe's resolver answers with a blockpage server.
    Case("qa: ghost name, plain HTTP, a blockpage from the resolver's address",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, control=GONE,
         dns=[q([PROXY])], tcp=[TCPConnect(address=PROXY, port=80)], tls=[],
         http=ok_page(fingerprint="lab.blockpage", url=HTTP_URL, address=PROXY)),
    Case("qa: ghost name, https, refused at the resolver's address",
         ("inconclusive", None, "dns.inconsistent"), control=GONE, dns=[q([PROXY])],
         tcp=[TCPConnect(address=PROXY, port=443, failure="tcp.refused")], tls=[], http=None),
    # Both resolvers answer 127.0.0.1: the site's own misconfiguration.
    Case("qa: loopback from both resolvers, plain HTTP", ("down", None, "dns.bogon"),
         url=HTTP_URL, dns=[q(["127.0.0.1"])], control=control("127.0.0.1"), tls=[],
         tcp=[TCPConnect(address="127.0.0.1", port=80, skipped="bogon")], http=None),
    Case("qa: loopback from both resolvers, https", ("down", None, "dns.bogon"),
         dns=[q(["127.0.0.1"])], control=control("127.0.0.1"), tls=[],
         tcp=[TCPConnect(address="127.0.0.1", port=443, skipped="bogon")], http=None),
    # An IDNA name: the target is its A-label; the verdict does not care about the script.
    Case("qa: an IDNA name, page from the control's address", ("accessible", None, "accessible"),
         url=f"http://{IDN}/", tls=[], dns=[q([SITE], hostname=IDN)],
         control=Control(dns=[q([SITE], resolver=CONTROL_R, hostname=IDN)]),
         http=ok_page(url=f"http://{IDN}/")),
    # A redirect whose Location cannot be followed, for everyone.
    Case("qa: broken redirect for everyone, plain HTTP", ("down", None, BAD_REDIRECT),
         url=HTTP_URL, tls=[], http=_own_failure(BAD_REDIRECT, HTTP_URL),
         control=server(tls=[], http=_own_failure(BAD_REDIRECT, HTTP_URL))),
    Case("qa: broken redirect for everyone, https", ("down", None, BAD_REDIRECT),
         http=_own_failure(BAD_REDIRECT, "https://site.example/"),
         control=server(http=_own_failure(BAD_REDIRECT, "https://site.example/"))),
    Case("qa: more redirects than allowed, for everyone", ("down", None, LOOP),
         url=HTTP_URL, tls=[], http=_own_failure(LOOP, HTTP_URL),
         control=server(tls=[], http=_own_failure(LOOP, HTTP_URL))),
    Case("qa: more redirects than allowed, for everyone, https", ("down", None, LOOP),
         http=_own_failure(LOOP, "https://site.example/"),
         control=server(http=_own_failure(LOOP, "https://site.example/"))),
    # A shortener redirects to the site, whose hop the censor breaks.
    Case("qa: redirect, then refused over plain HTTP", ("blocked", "tcp", "tcp.refused"),
         url=SHORT, dns=SHORT_DNS, http=_refused(WWW_HTTP, 80), control=_control_via(WWW_HTTP)),
    Case("qa: redirect, then refused over https", ("blocked", "tcp", "tcp.refused"),
         url=SHORT, dns=SHORT_DNS, http=_refused(WWW_HTTPS, 443), control=_control_via(WWW_HTTPS)),
    Case("qa: redirect, then the request reset", ("blocked", "http", "http.reset"),
         url=SHORT, dns=SHORT_DNS, http=_http_hop("http.reset"), control=_control_via(WWW_HTTP)),
    # A hop's handshake is tried once; a failure must repeat before it counts (rules 4).
    Case("qa: redirect, then the handshake reset", ("inconclusive", None, "tls.reset"),
         url=SHORT, dns=SHORT_DNS, http=_tls_hop("tls.reset"), control=_control_via(WWW_HTTPS)),
    Case("qa: redirect, then the request cut (EOF)", ("blocked", "http", "http.eof"),
         url=SHORT, dns=SHORT_DNS, http=_http_hop("http.eof"), control=_control_via(WWW_HTTP)),
    Case("qa: redirect, then the handshake cut (EOF)", ("inconclusive", None, "tls.eof"),
         url=SHORT, dns=SHORT_DNS, http=_tls_hop("tls.eof"), control=_control_via(WWW_HTTPS)),
    Case("qa: redirect, then the request times out", ("inconclusive", None, "http.timeout"),
         url=SHORT, dns=SHORT_DNS, http=_http_hop("http.timeout"), control=_control_via(WWW_HTTP)),
    Case("qa: redirect, then the handshake times out", ("inconclusive", None, "tls.timeout"),
         url=SHORT, dns=SHORT_DNS, http=_tls_hop("tls.timeout"), control=_control_via(WWW_HTTPS)),
    # The censor's resolver answers an address where nothing listens.
    Case("qa: refused at an address only the probe's resolver gave",
         ("inconclusive", None, "tcp.refused"), url=HTTP_URL, dns=[q([PROXY])], tls=[],
         tcp=[TCPConnect(address=PROXY, port=80, failure="tcp.refused")], http=None,
         control=server(tls=[], http=fetched((HTTP_URL, body(SITE_PAGE))),
                        tcp=[TCPConnect(address=SITE, port=80),
                             TCPConnect(address=PROXY, port=80, failure="tcp.refused")])),
    # Throttled over https: the page never finished, the control loaded it at the same address.
    Case("qa: throttled over https, the control loaded the page",
         ("inconclusive", None, "http.timeout"), control=server(),
         http=HTTPFetch(hops=[HTTPHop(url="https://site.example/", address=SITE,
                                      failure="http.timeout")], failure="http.timeout")),
    # The probe's resolver sends it to an ISP proxy, and the handshake naming the host is reset.
    Case("qa: reset at an address only the probe's resolver gave, the control's handshake there ok",
         ("blocked", "tls", "tls.reset"), dns=[q([PROXY])],
         tcp=[TCPConnect(address=PROXY, port=443)], http=None,
         tls=[hs(PROXY, "tls.reset", repeat=hs(PROXY, "tls.reset"))],
         control=server(tcp=[TCPConnect(address=SITE, port=443),
                             TCPConnect(address=PROXY, port=443)],
                        tls=[hs(chain=[SITE_CERT]), hs(PROXY, chain=[SITE_CERT])])),
    Case("qa: no address for anyone", ("down", None, "dns.no_answer"),
         dns=[q(failure="dns.no_answer")], control=control(), tcp=[], tls=[], http=None),
]  # fmt: skip

# The same scenarios with an OONI test helper as the control, its answer put through the mapping
# the client uses: no body, no address for its fetch, no certificates.
HELPER_PROXY_REFUSED = helper(HTTP_URL, tcp_connect={
    f"{SITE}:80": {"status": True, "failure": None},
    f"{PROXY}:80": {"status": False, "failure": "connection_refused"}})  # fmt: skip
HELPER_EXPIRED = helper(
    tls_handshake={f"{SITE}:443": {"server_name": "site.example", "status": False,
                                   "failure": "ssl_invalid_certificate"}},
    http_request={"body_length": -1, "failure": "ssl_invalid_certificate", "title": "",
                  "headers": {}, "status_code": -1, "discovered_h3_endpoint": ""},
)  # fmt: skip

QA_OONI_CASES = [
    Case("qa ooni: expired certificate for everyone", ("down", None, "tls.expired"),
         tls=[hs(failure="tls.expired", trusted=False, chain=[EXPIRED])], http=None,
         control=HELPER_EXPIRED),
    Case("qa ooni: helper unreachable, https page validated", ("accessible", None, "accessible"),
         control=HELPER_DOWN),
    Case("qa ooni: helper unreachable, plain-HTTP page", ("inconclusive", None, "dns.unverified"),
         url=HTTP_URL, tls=[], tcp=[TCPConnect(address=SITE, port=80)], control=HELPER_DOWN,
         http=fetched((HTTP_URL, body(SITE_PAGE)))),
    # Without a body, the helper's title and status are what match the page, as for our server.
    Case("qa ooni: a transparent proxy serving the real page, as the helper titles it",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([PROXY])], tls=[],
         tcp=[TCPConnect(address=PROXY, port=80)], control=helper(HTTP_URL),
         http=fetched((HTTP_URL, body(SITE_PAGE)), address=PROXY)),
    Case("qa ooni: refused at an address only the probe's resolver gave",
         ("inconclusive", None, "tcp.refused"), url=HTTP_URL, dns=[q([PROXY])], tls=[],
         tcp=[TCPConnect(address=PROXY, port=80, failure="tcp.refused")], http=None,
         control=HELPER_PROXY_REFUSED),
    Case("qa ooni: throttled plain HTTP, the helper loaded the page",
         ("inconclusive", None, "http.timeout"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], control=helper(HTTP_URL),
         http=HTTPFetch(hops=[HTTPHop(url=HTTP_URL, address=SITE, failure="http.timeout")],
                        failure="http.timeout")),
    # The helper reports only where the redirects ended, not the hops: no hop to compare with.
    Case("qa ooni: redirect, then refused; the helper reports no hops",
         ("inconclusive", None, "tcp.refused"), url=SHORT, dns=SHORT_DNS,
         http=_refused(WWW_HTTP, 80), control=helper(SHORT, dns={"failure": None,
                                                                  "addrs": [SITE]})),
    Case("qa ooni: no address for anyone", ("down", None, "dns.no_answer"),
         dns=[q(failure="dns.no_answer")], tcp=[], tls=[], http=None,
         # A real helper reports no address as no failure and no addresses (oohelperd).
         control=helper(dns={"failure": None, "addrs": []}, tcp_connect={},
                        tls_handshake={}, http_request={
                            "body_length": -1, "failure": "dns_no_answer", "title": "",
                            "headers": {}, "status_code": -1, "discovered_h3_endpoint": ""})),
]  # fmt: skip
