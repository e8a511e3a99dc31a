"""Verdict rows about the probe's own measurement at the control's addresses
(``/control_addresses``): the site working from this vantage where the control says it lives,
while the probe's resolver sent it elsewhere. Most rows need no control server.

The first rows claim something only because of ``/control_addresses`` (without it they are
inconclusive, or lack the cited evidence); the traps below them must not be claimed."""

from __future__ import annotations

from censorcheck.models import AtControlAddresses, HTTPFetch, HTTPHop, TCPConnect
from tests.verdict.builders import (
    EDGE,
    HTTP_URL,
    NOTICE,
    SITE,
    SITE_CERT,
    SITE_PAGE,
    V6,
    Case,
    body,
    fetched,
    hs,
    q,
    server,
)

NOTICE_IP = "185.7.214.10"  # the ISP's notice server, public like any other
SPLASH = (
    "<html><head><title>Choose your country</title></head><body><p>Pick a regional edition "
    "of Site news.</p></body></html>"
)
SPLASH_TITLE = "Choose your country"


def there(*, http: HTTPFetch | None = None, tls_ok: bool = True, port: int = 443,
          failure: str | None = None) -> AtControlAddresses:  # fmt: skip
    """The vantage at the control's address SITE: connected (or ``failure``), and over https a
    handshake validated for the host (``tls_ok``) or reset twice."""
    tcp = [TCPConnect(address=SITE, port=port, failure=failure)]
    tls = []
    if port == 443 and failure is None:
        tls = [hs(chain=[SITE_CERT]) if tls_ok else
               hs(failure="tls.reset", repeat=hs(failure="tls.reset"))]  # fmt: skip
    return AtControlAddresses(source="resolvers", addresses=[SITE], tcp=tcp, tls=tls, http=http)


SITE_THERE = there(http=fetched((HTTP_URL, body(SITE_PAGE))), port=80)
NOTICE_HERE = fetched((HTTP_URL, body(NOTICE)), address=NOTICE_IP)
HTTPS_THERE = there(http=fetched(("https://site.example/", body(SITE_PAGE))))

ELSEWHERE_CASES = [
    Case("notice server via DNS, the control's address serves the site here",
         ("blocked", "dns", "dns.inconsistent"), url=HTTP_URL, dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=80)], tls=[], http=NOTICE_HERE,
         control_addresses=SITE_THERE,
         cites=("/control_addresses/http/hops/0/response", "/http/hops/0/response", "/dns/0",
                "/control/dns/0")),
    Case("geo-DNS edge serving this vantage the page it gets at the control's address",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=fetched((HTTP_URL, body(SITE_PAGE)), address=EDGE), control_addresses=SITE_THERE),
    # The README's known limit until rules 5: the control server's page is not this vantage's
    # (a country splash page at the edge), and the control's address serves the same splash here.
    Case("country splash page from a geo edge, the same at the control's address",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=fetched((HTTP_URL, body(SPLASH, title=SPLASH_TITLE)), address=EDGE),
         control=server(tcp=[TCPConnect(address=SITE, port=80)], tls=[],
                        http=fetched((HTTP_URL, body(SITE_PAGE)))),
         control_addresses=there(http=fetched((HTTP_URL, body(SPLASH, title=SPLASH_TITLE))),
                                 port=80)),
    Case("https blockpage address resets the handshake, the control's address validates here",
         ("blocked", "dns", "dns.inconsistent"), dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=443)],
         tls=[hs(NOTICE_IP, "tls.reset", repeat=hs(NOTICE_IP, "tls.reset"))], http=None,
         control_addresses=HTTPS_THERE, cites=("/control_addresses/tls/0", "/tls/0", "/dns/0")),
    Case("https blockpage address refuses connections, the control's address validates here",
         ("blocked", "dns", "dns.inconsistent"), dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=443, failure="tcp.refused")], tls=[], http=None,
         control_addresses=HTTPS_THERE, cites=("/control_addresses/tls/0", "/tcp/0")),
    Case("plain-HTTP name on an address where nothing answers, the control's serves the page",
         ("blocked", "dns", "dns.inconsistent"), url=HTTP_URL, dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=80, failure="tcp.timeout")], tls=[], http=None,
         control_addresses=SITE_THERE, cites=("/control_addresses/http/hops/0/response",)),
    Case("nxdomain, and the site works here at the control's address",
         ("blocked", "dns", "dns.nxdomain"), dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")],
         tcp=[], tls=[], http=None, control_addresses=HTTPS_THERE,
         cites=("/dns/0", "/control/dns/0", "/control_addresses/tls/0")),
    # --- traps: the control's addresses are no reference, or the probe's answer is the site --
    Case("the control's address fails here too: left to the connection rules",
         ("inconclusive", None, "tcp.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")], tls=[], http=None,
         control_addresses=there(failure="tcp.timeout")),
    Case("the control's address resets the handshake here too (SNI blocking everywhere)",
         ("inconclusive", None, "tls.reset"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.reset", repeat=hs(EDGE, "tls.reset"))], http=None,
         control_addresses=there(tls_ok=False)),
    Case("plain-HTTP site down at the control's address here too",
         ("inconclusive", None, "tcp.refused"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80, failure="tcp.refused")], tls=[], http=None,
         control_addresses=there(port=80, failure="tcp.refused")),
    Case("https edge with a valid certificate for the host is not blocking",
         ("accessible", None, "accessible"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)], tls=[hs(EDGE)],
         http=fetched(("https://site.example/", body(SITE_PAGE)), address=EDGE),
         control_addresses=HTTPS_THERE),
    Case("a page unlike the one at the control's address, but longer: an edition, no claim",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=fetched((HTTP_URL, body(NOTICE * 20, title="Other")), address=EDGE),
         control_addresses=SITE_THERE),
    Case("the control's address answers here with an error page: no reference",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=80)], tls=[], http=NOTICE_HERE,
         control_addresses=there(http=fetched((HTTP_URL, body(SITE_PAGE, status=503))),
                                 port=80)),
    Case("a page there only after a redirect looked up through the probe's resolver",
         ("inconclusive", None, "dns.unverified"), url=HTTP_URL, dns=[q([NOTICE_IP])],
         tcp=[TCPConnect(address=NOTICE_IP, port=80)], tls=[], http=NOTICE_HERE,
         control_addresses=there(http=HTTPFetch(hops=[
             fetched((HTTP_URL, body("", status=301))).hops[0],
             fetched(("http://www.site.example/", body(SITE_PAGE)), address=EDGE).hops[0],
         ]), port=80)),
    Case("the probe's only address is IPv6 and this vantage has no route: nothing failed",
         ("inconclusive", None, "tcp.no_usable_address"), dns=[q([V6], qtype="AAAA")],
         tcp=[TCPConnect(address=V6, port=443, skipped="no IPv6 connectivity at this vantage")],
         tls=[], http=None, control_addresses=HTTPS_THERE),
    Case("no route to the probe's address: this network's trouble, not the resolver's",
         ("inconclusive", None, "tcp.unreachable"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.unreachable")], tls=[], http=None,
         control_addresses=HTTPS_THERE),
    Case("a handshake at the probe's address reset once, never repeated: no claim",
         ("inconclusive", None, "tls.reset"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)], tls=[hs(EDGE, "tls.reset")], http=None,
         control_addresses=HTTPS_THERE),
    Case("a plain-HTTP request at the probe's address timed out once: a slow edge, no claim",
         ("inconclusive", None, "http.timeout"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=HTTPFetch(hops=[HTTPHop(url=HTTP_URL, address=EDGE, failure="http.timeout")],
                        failure="http.timeout"),
         control_addresses=SITE_THERE),
    # The control server connected to the probe's own address, so the resolver gave one that
    # works; the path from here drops it (IP blocking of that edge): not the resolver's doing.
    Case("https: the probe's address times out, the control server connected to it",
         ("blocked", "tcp", "tcp.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")], tls=[], http=None,
         control=server(tcp=[TCPConnect(address=SITE, port=443),
                             TCPConnect(address=EDGE, port=443)]),
         control_addresses=HTTPS_THERE, cites=("/control/tcp/1",)),
    Case("plain HTTP: the request at the probe's address was reset, the control server was "
         "answered there", ("blocked", "http", "http.reset"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=HTTPFetch(hops=[HTTPHop(url=HTTP_URL, address=EDGE, failure="http.reset")],
                        failure="http.reset"),
         control=server(tcp=[TCPConnect(address=SITE, port=80), TCPConnect(address=EDGE, port=80)],
                        tls=[], http=fetched((HTTP_URL, body(SITE_PAGE)), address=EDGE)),
         control_addresses=SITE_THERE, cites=("/control/http/hops/0",)),
    # The plain-HTTP URL moved to https at the probe's own address, where the handshake was
    # validated for the host: that address is the site's, whatever page it chose to send.
    Case("plain HTTP upgraded to https at the probe's address, validated there: no DNS claim",
         ("accessible", None, "accessible"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         http=HTTPFetch(hops=[
             HTTPHop(url=HTTP_URL, address=EDGE, response=body("", status=301)),
             HTTPHop(url="https://site.example/", address=EDGE, tls=hs(EDGE, chain=[SITE_CERT]),
                     response=body(NOTICE, title="Checking your browser")),
         ]), control_addresses=SITE_THERE),
    # A route to IPv6 is no working IPv6 path: only an address of the family the site worked
    # over here says whether the resolver's answer is at fault.
    Case("the probe got only an IPv6 address, it timed out; the control's IPv4 one worked",
         ("inconclusive", None, "tcp.timeout"),
         dns=[q(failure="dns.timeout"), q([V6], qtype="AAAA")],
         tcp=[TCPConnect(address=V6, port=443, failure="tcp.timeout")], tls=[], http=None,
         control_addresses=HTTPS_THERE),
    Case("nxdomain, and the control's address fails here too: still blocked, no such evidence",
         ("blocked", "dns", "dns.nxdomain"), dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")],
         tcp=[], tls=[], http=None, control_addresses=there(failure="tcp.timeout")),
]  # fmt: skip
