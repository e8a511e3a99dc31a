"""Rows from the field (issue 12) and from OONI's QA suite: an address nothing vouches for, a
resolver pointing at a notice server, a site that is up elsewhere, and the traps OONI knows."""

from __future__ import annotations

from censorcheck.models import TCPConnect
from tests.verdict.builders import (
    EDGE,
    GEO_451,
    HTTP_URL,
    RUSSIAN_PAGE,
    SERVER_HTTP,
    SITE,
    SITE_CERT,
    SITE_PAGE,
    Case,
    body,
    control,
    fetched,
    hs,
    ok_page,
    q,
    server,
)

BOGON = "10.10.34.35"
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
]  # fmt: skip
