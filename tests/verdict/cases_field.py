"""Rows from the field (issue 12) and from OONI's QA suite: an address nothing vouches for, a
resolver pointing at a notice server, a site that is up elsewhere, and the traps OONI knows."""

from __future__ import annotations

from censorcheck.models import Control, HTTPFetch, HTTPHop, TCPConnect
from tests.verdict.builders import (
    EDGE,
    GEO_451,
    HTTP_URL,
    NOTICE,
    RUSSIAN_PAGE,
    SERVER_HTTP,
    SITE,
    SITE_CERT,
    SITE_PAGE,
    Case,
    body,
    control,
    failed_page,
    fetched,
    hs,
    ok_page,
    q,
    server,
)

BOGON = "10.10.34.35"
NOTICE_IP = "198.51.100.7"
CHALLENGE = (
    "<html><head><title>DDoS protection</title></head><body><p>Checking your browser"
    "</p><script>var a=1;</script></body></html>"
)
SITE_HEADERS = [("x-served-by", "cache-fra1"), ("x-amz-cf-pop", "FRA56")]
WWW_URL = "http://www.site.example/"
TO_WWW = HTTPHop(url=HTTP_URL, address=SITE, response=body("", status=301))
WWW_DENIED = HTTPHop(
    url=WWW_URL,
    failure="http.unreachable",
    dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain", hostname="www.site.example")],
)
WWW_REFUSED = HTTPHop(
    url=WWW_URL,
    address=EDGE,
    failure="tcp.refused",
    tcp=TCPConnect(address=EDGE, port=80, failure="tcp.refused"),
)


def control_via_www(address: str = EDGE) -> Control:
    """The control server's fetch: the site redirects to www., which it loads from ``address``."""
    return server(
        tls=[],
        http=HTTPFetch(
            hops=[TO_WWW, HTTPHop(url=WWW_URL, address=address, response=body(SITE_PAGE))]
        ),
    )


TLS_TIMEOUT_TWICE_AT_EDGE = hs(EDGE, failure="tls.timeout", repeat=hs(EDGE, failure="tls.timeout"))

FIELD_CASES = [
    # A page is accessible only when something ties it to the site.
    Case("plain-HTTP page from an address only the probe's resolver gave",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, dns=[q([EDGE])], tls=[],
         tcp=[TCPConnect(address=EDGE, port=80)], http=ok_page(url=HTTP_URL, address=EDGE),
         cites=("/http/hops/0", "/dns/0", "/control/dns/0")),
    Case("https page from another address, with the host's valid certificate: a CDN edge",
         ("accessible", None, "accessible"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)], tls=[hs(EDGE)], http=ok_page(address=EDGE)),
    Case("server: a resolver pointing at a transparent proxy that serves the real page",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE])], tls=[],
         tcp=[TCPConnect(address=EDGE, port=80)], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(SITE_PAGE)), address=EDGE)),
    Case("plain-HTTP page and the control resolvers failed: nothing vouches",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], control=control(failure="dns.timeout"),
         http=ok_page(url=HTTP_URL)),
    # The probe's resolver sent it elsewhere (the notice server's row is in cases_server).
    Case("server: another address serving a regional edition is geo-DNS",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(RUSSIAN_PAGE, title="Новости сайта")), address=EDGE)),
    Case("server: a CAPTCHA (403) served to the vantage only",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(GEO_451, status=403, title="Just a moment...")),
                      address=EDGE)),
    # A notice sent as HTTP 451.
    Case("a plain-HTTP 451 with no control page to weigh it against",
         ("inconclusive", None, "http.451"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], http=ok_page(status=451, url=HTTP_URL)),
    Case("a 451 over a handshake validated for the host is the site's own",
         ("accessible", None, "accessible"), http=ok_page(status=451)),
    # Down only when the control could not reach the site anywhere.
    Case("server: handshakes fail for both at the probe's address, the site is up at another",
         ("inconclusive", None, "tls.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)], tls=[TLS_TIMEOUT_TWICE_AT_EDGE], http=None,
         control=server(tcp=[TCPConnect(address=SITE, port=443),
                             TCPConnect(address=EDGE, port=443)],
                        tls=[hs(chain=[SITE_CERT]), hs(EDGE, failure="tls.timeout")]),
         cites=("/tls/0", "/control/tls/0", "/control/tls/1")),
    # OONI's traps.
    Case("one bogon among real addresses", ("accessible", None, "accessible"),
         dns=[q([SITE, BOGON])]),
    # From the review of rules 4.
    Case("the probe's answer overlaps the control's; the page came from its other address",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE, SITE])], tls=[],
         tcp=[TCPConnect(address=EDGE, port=80), TCPConnect(address=SITE, port=80)],
         http=fetched((HTTP_URL, body(SITE_PAGE)), address=EDGE)),
    Case("a redirect to www., whose name the probe's resolver sends to a notice server",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)],
         http=HTTPFetch(hops=[
             HTTPHop(url=HTTP_URL, address=SITE, response=body("", status=301)),
             HTTPHop(url=WWW_URL, address=NOTICE_IP,
                     dns=[q([NOTICE_IP], hostname="www.site.example")], response=body(NOTICE))]),
         cites=("/http/hops/1",)),
    Case("http to https on the same site, from an edge with the host's valid certificate",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE])], tls=[],
         tcp=[TCPConnect(address=EDGE, port=80)],
         http=HTTPFetch(hops=[
             HTTPHop(url=HTTP_URL, address=EDGE, response=body("", status=301)),
             HTTPHop(url="https://site.example/", address=EDGE, tls=hs(EDGE),
                     response=body(SITE_PAGE))])),
    Case("the control server failed and the page is plain HTTP: nothing vouches",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)],
         control=Control(source="server", failure="control.unreachable"),
         http=fetched((HTTP_URL, body(SITE_PAGE))), cites=("/control/failure",)),
    Case("server: a datacenter control got a challenge page, the probe the site from an edge",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)],
         control=server(tls=[], http=fetched((HTTP_URL, body(CHALLENGE, title="DDoS protection")))),
         http=fetched((HTTP_URL, body(SITE_PAGE)), address=EDGE)),
    Case("server: same address, a datacenter control got a challenge page",
         ("inconclusive", None, "http.diff"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)],
         control=server(tls=[], http=fetched((HTTP_URL, body(CHALLENGE, title="DDoS protection")))),
         http=fetched((HTTP_URL, body(SITE_PAGE)))),
    Case("server: the probe's answer overlaps the control's and its other address serves a notice",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE, SITE])],
         tcp=[TCPConnect(address=EDGE, port=80)], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(NOTICE)), address=EDGE)),
    Case("server: a shorter page from another edge with the site's own CDN headers",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)],
         control=server(tls=[], http=fetched((HTTP_URL, body(SITE_PAGE, headers=SITE_HEADERS)))),
         http=fetched((HTTP_URL, body(NOTICE, headers=SITE_HEADERS)), address=EDGE)),
    Case("server: the same 451 for the control is the site's own",
         ("accessible", None, "accessible"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)],
         control=server(tls=[], http=fetched((HTTP_URL, body(GEO_451, status=451,
                                                             title="Not available")))),
         http=fetched((HTTP_URL, body(GEO_451, status=451, title="Not available")))),
    Case("server: TLS fails at the probe's address; cited where the control validated first",
         ("inconclusive", None, "tls.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)], tls=[TLS_TIMEOUT_TWICE_AT_EDGE], http=None,
         control=server(dns=[q(["151.101.9.9", "151.101.0.1"], resolver="udp://control")],
                        tcp=[TCPConnect(address=EDGE, port=443)],
                        tls=[hs("151.101.9.9", chain=[SITE_CERT]),
                             hs("151.101.0.1", chain=[SITE_CERT]),
                             hs(EDGE, failure="tls.timeout")]),
         cites=("/control/tls/1", "/tls/0")),
    Case("server: the probe fails twice where the control's repeat validated the host",
         ("blocked", "tls", "tls.timeout"), tls=[hs(failure="tls.timeout",
                                                    repeat=hs(failure="tls.timeout"))],
         http=None, control=server(tls=[hs(failure="tls.timeout",
                                           repeat=hs(chain=[SITE_CERT]))]),
         cites=("/tls/0/repeat", "/control/tls/0/repeat")),
    Case("server: TLS fails for both at the only address, yet the control loaded the page",
         ("inconclusive", None, "tls.timeout"), http=None,
         tls=[hs(failure="tls.timeout", repeat=hs(failure="tls.timeout"))],
         control=server(tls=[hs(failure="tls.timeout")]), cites=("/control/http/hops/0",)),
    # A reset right after a completed handshake.
    Case("server: reset after a validated handshake, the control fetched from the same address",
         ("blocked", "http", "http.reset"), control=server(), http=failed_page("http.reset"),
         cites=("/http/hops/0", "/control/http/hops/0")),
    Case("reset after a validated handshake with no control fetch", ("inconclusive", None,
         "http.reset"), http=failed_page("http.reset")),
    Case("server: reset after the answer began is the site's or the path's, not a box's",
         ("inconclusive", None, "http.reset"), control=server(),
         http=failed_page("http.reset", partial=True)),
    # A redirect the probe could not follow, against the control's fetch of the same hop.
    Case("server: the probe's resolver denies the host the site redirects to",
         ("blocked", "dns", "dns.nxdomain"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], control=control_via_www(),
         http=HTTPFetch(hops=[TO_WWW, WWW_DENIED], failure="http.unreachable"),
         cites=("/http/hops/1/dns/0", "/http/hops/0", "/control/http/hops/1")),
    Case("the probe's resolver denies the redirect's host, and there is no control fetch",
         ("inconclusive", None, "http.unreachable"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)],
         http=HTTPFetch(hops=[TO_WWW, WWW_DENIED], failure="http.unreachable")),
    Case("server: refused at the redirect's host, where the control fetched the same URL",
         ("blocked", "tcp", "tcp.refused"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], control=control_via_www(),
         http=HTTPFetch(hops=[TO_WWW, WWW_REFUSED], failure="tcp.refused"),
         cites=("/http/hops/1/tcp", "/control/http/hops/1")),
    Case("server: refused at the redirect's host; the control fetched it at another address",
         ("inconclusive", None, "tcp.refused"), url=HTTP_URL, tls=[],
         tcp=[TCPConnect(address=SITE, port=80)], control=control_via_www(address=NOTICE_IP),
         http=HTTPFetch(hops=[TO_WWW, WWW_REFUSED], failure="tcp.refused")),
]  # fmt: skip
