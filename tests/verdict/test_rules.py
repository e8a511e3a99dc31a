"""The verdict rules, one row per rule and per false-positive trap. No sockets: pure data."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

import pytest

from censorcheck.measure.bogons import networks
from censorcheck.measure.verdict import JudgeContext, Observations, judge
from censorcheck.models import (
    Certificate,
    Control,
    DNSAnswer,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    Target,
    TCPConnect,
    TLSHandshake,
)

SITE = "93.184.215.14"  # what the control sees
EDGE = "151.101.65.1"  # another address of the same site (CDN edge)
PROBE_R = "udp://192.0.2.53"
CONTROL_R = "https://1.1.1.1/dns-query"


def q(
    addresses: list[str] | None = None,
    *,
    rcode: str = "NOERROR",
    failure: str | None = None,
    resolver: str = PROBE_R,
    qtype: str = "A",
    late: list[list[str]] | None = None,
    hostname: str = "site.example",
) -> DNSQuery:
    answer = None
    if failure is None or failure in ("dns.nxdomain", "dns.refused", "dns.servfail"):
        answer = DNSAnswer(rcode=rcode, addresses=addresses or [], t=0.01)
    return DNSQuery(
        resolver=resolver,
        hostname=hostname,
        qtype=qtype,  # type: ignore[arg-type]
        failure=failure,
        answer=answer,
        late_answers=[DNSAnswer(rcode="NOERROR", addresses=a, t=0.05) for a in late or []],
        t=0.01,
    )


def control(*addresses: str, rcode: str = "NOERROR", failure: str | None = None) -> Control:
    if failure == "dns.timeout":
        return Control(dns=[q(failure=failure, resolver=CONTROL_R)], failure=failure)
    return Control(dns=[q(list(addresses), rcode=rcode, failure=failure, resolver=CONTROL_R)])


def cert(*sans: str, issuer: str = "CN=Good CA", sha: str = "aa") -> Certificate:
    return Certificate(subject=f"CN={sans[0]}", issuer=issuer, sans=list(sans),
                       not_before="2026-01-01", not_after="2027-01-01", sha256=sha)  # fmt: skip


def hs(address: str = SITE, failure: str | None = None, *, trusted: bool | None = True,
       chain: list[Certificate] | None = None, neutral: TLSHandshake | None = None,
       repeat: TLSHandshake | None = None, sni: str = "site.example") -> TLSHandshake:  # fmt: skip
    if failure is not None and trusted is True:
        trusted = None
    return TLSHandshake(address=address, port=443, sni=sni, failure=failure, trusted=trusted,
                        chain=chain or [], neutral=neutral, repeat=repeat)  # fmt: skip


HTTP_URL = "http://site.example/"


def page(status: int = 200, fingerprint: str | None = None) -> HTTPResponse:
    return HTTPResponse(status=status, headers=[], body_length=10, body_sha256="00",
                        fingerprint=fingerprint)  # fmt: skip


def ok_page(status: int = 200, fingerprint: str | None = None, url: str = "https://site.example/",
            address: str = SITE) -> HTTPFetch:  # fmt: skip
    return HTTPFetch(hops=[HTTPHop(url=url, address=address, response=page(status, fingerprint))])


def failed_page(failure: str, url: str = "https://site.example/", neutral: HTTPHop | None = None,
                partial: bool = False) -> HTTPFetch:  # fmt: skip
    """A failed request; ``partial``: the status and headers had arrived before the failure."""
    hop = HTTPHop(url=url, address=SITE, failure=failure, response=page() if partial else None)
    return HTTPFetch(hops=[hop], failure=failure, neutral=neutral)


CANARY_OK = q(rcode="NXDOMAIN", failure="dns.nxdomain").model_copy(
    update={"hostname": "example.org"}
)
CANARY_LOST = q(failure="dns.timeout").model_copy(update={"hostname": "example.org"})
NEUTRAL_HOST_CERT = hs(sni="example.org", chain=[cert("site.example")])  # trusted, host's own

NEUTRAL_OK = HTTPHop(
    url="http://site.example/",
    address=SITE,
    response=HTTPResponse(status=200, headers=[], body_length=5, body_sha256="11"),
)


# --- a control server's view ---------------------------------------------------------------

SITE_PAGE = (
    "<!doctype html><html><head><title>Site news</title></head><body><h1>Site news</h1>"
    + "".join(f"<p>Story {w} about the city council and the weather today</p>" for w in
              ("one", "two", "three", "four", "five", "six", "seven", "eight"))
    + "</body></html>"
)  # fmt: skip
NOTICE = (
    "<html><head><title>Notice</title></head><body><div>Dear subscriber, this resource is "
    "unavailable under the law on communications.</div></body></html>"
)


def body(text: str, status: int = 200, title: str | None = None,
         headers: list[tuple[str, str]] | None = None) -> HTTPResponse:  # fmt: skip
    if title is None:
        title = "Site news" if "Site news" in text else "Notice"
    return HTTPResponse(status=status, headers=headers or [], title=title,
                        body_length=len(text), body_sha256="00", body_prefix=text)  # fmt: skip


def fetched(*hops: tuple[str, HTTPResponse | None], address: str = SITE,
            failure: str | None = None) -> HTTPFetch:  # fmt: skip
    return HTTPFetch(
        hops=[HTTPHop(url=u, address=address, response=r) for u, r in hops], failure=failure
    )


SITE_CERT = cert("site.example")  # the host's own leaf, as the control server validates it


def server(*, tcp: list[TCPConnect] | None = None, tls: list[TLSHandshake] | None = None,
           http: HTTPFetch | None = None, dns: list[DNSQuery] | None = None,
           failure: str | None = None) -> Control:  # fmt: skip
    """The control server's answer: it resolved the site and connected to SITE."""
    if failure is not None:
        return Control(source="server", failure=failure)
    return Control(
        source="server",
        dns=dns if dns is not None else [q([SITE], resolver="udp://control")],
        tcp=tcp if tcp is not None else [TCPConnect(address=SITE, port=443)],
        tls=tls if tls is not None else [hs(chain=[SITE_CERT])],
        http=http if http is not None else fetched(("https://site.example/", body(SITE_PAGE))),
    )


ERROR_503 = (
    "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
    "<p>The server is temporarily unable to service your request.</p></body></html>"
)
GEO_451 = (
    "<html><head><title>Not available in your region</title></head><body><p>This content is "
    "not available in your country.</p></body></html>"
)
RUSSIAN_PAGE = SITE_PAGE.replace("Site news", "Новости сайта").replace(
    "about the city council and the weather today", "о городском совете и погоде сегодня"
)
V6 = "2606:4700::6810:84e5"
UK_HOST = "news.example.co.uk"
UK_URL = f"http://{UK_HOST}/"


def live_page(clock: str) -> HTTPResponse:
    """The site's page with a clock in its title and a blob of random-looking data (another for
    each clock) inlined in a script, as pages carry session data or nonces."""
    blob = base64.b64encode(hashlib.shake_256(clock.encode()).digest(1500)).decode()
    title = f"Live: council vote, updated {clock}"
    text = (f"<html><head><title>{title}</title><script>var s=\"{blob}\";</script></head>"
            "<body>" + SITE_PAGE.split("<body>")[1])  # fmt: skip
    return body(text[:4096], title=title).model_copy(update={"body_length": len(text)})


DYNAMIC_PAGE = SITE_PAGE.replace("Story one", "Story 1732 nonce a8f3 updated 14:02 one")
TLS_RESET_TWICE = hs(failure="tls.reset", repeat=hs(failure="tls.reset"))
INTERCEPTED = hs(failure="tls.untrusted", trusted=False,
                 chain=[cert("site.example", issuer="CN=Interception", sha="bb")])  # fmt: skip
SERVER_HTTP = fetched((HTTP_URL, body(SITE_PAGE)))


@dataclass
class Case:
    id: str
    expect: tuple[str, str | None, str]
    dns: list[DNSQuery] = field(default_factory=lambda: [q([SITE])])
    control: Control = field(default_factory=lambda: control(SITE))
    tcp: list[TCPConnect] = field(default_factory=lambda: [TCPConnect(address=SITE, port=443)])
    tls: list[TLSHandshake] = field(default_factory=lambda: [hs()])
    http: HTTPFetch | None = field(default_factory=ok_page)
    url: str = "https://site.example/"
    deadline_hit: bool = False
    error: str | None = None
    dead: frozenset[str] = frozenset()
    cites: tuple[str, ...] = ()  # JSON pointers the verdict's evidence must include


CASES = [
    Case("plain accessible", ("accessible", None, "accessible")),
    Case("nxdomain, control resolves", ("blocked", "dns", "dns.nxdomain"),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], tcp=[], tls=[], http=None),
    Case("nxdomain for the control too: down, not blocked", ("down", None, "dns.nxdomain"),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], control=control(rcode="NXDOMAIN"),
         tcp=[], tls=[], http=None),
    Case("nxdomain, control silent: no claim", ("inconclusive", None, "dns.nxdomain"),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], control=control(failure="dns.timeout"),
         tcp=[], tls=[], http=None),
    Case("silence from a resolver that answers a canary at once", ("blocked", "dns", "dns.timeout"),
         dns=[q(failure="dns.timeout"), CANARY_OK], tcp=[], tls=[], http=None),
    Case("silence, and no canary answer either", ("inconclusive", None, "dns.timeout"),
         dns=[q(failure="dns.timeout"), CANARY_LOST], tcp=[], tls=[], http=None),
    Case("resolver unreachable is not about the name", ("inconclusive", None, "dns.unreachable"),
         dns=[q(failure="dns.unreachable")], tcp=[], tls=[], http=None),
    Case("address for a name the control says is gone", ("inconclusive", None, "dns.inconsistent"),
         control=control(rcode="NXDOMAIN")),
    Case("silence from a resolver that was dead all along", ("inconclusive", None, "dns.timeout"),
         dns=[q(failure="dns.timeout"), CANARY_OK], tcp=[], tls=[], http=None,
         dead=frozenset({PROBE_R})),
    Case("servfail for the control too", ("down", None, "dns.servfail"),
         dns=[q(rcode="SERVFAIL", failure="dns.servfail")],
         control=control(rcode="SERVFAIL", failure="dns.servfail"), tcp=[], tls=[], http=None),
    Case("0.0.0.0, control public", ("blocked", "dns", "dns.bogon"),
         dns=[q(["0.0.0.0"])], tcp=[TCPConnect(address="0.0.0.0", port=443, skipped="bogon")],
         tls=[], http=None),
    Case("private answer that the control shares", ("inconclusive", None, "dns.bogon"),
         dns=[q(["10.1.2.3"])], control=control("10.1.2.3"), tcp=[], tls=[], http=None),
    Case("forged answer then the genuine one", ("blocked", "dns", "dns.injected"),
         dns=[q(["192.0.2.1"], late=[[SITE]])]),
    Case("duplicate answers, the first genuine", ("accessible", None, "accessible"),
         dns=[q([SITE], late=[[EDGE]])]),
    Case("CDN edge unlike the control's but with a valid certificate",
         ("accessible", None, "accessible"),
         dns=[q([EDGE])], tcp=[TCPConnect(address=EDGE, port=443)], tls=[hs(EDGE)]),
    Case("other address without a valid certificate", ("blocked", "dns", "dns.inconsistent"),
         dns=[q([EDGE])], tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.hostname_mismatch", trusted=False)], http=None),
    Case("plain-HTTP name on another address serving a blockpage",
         ("blocked", "dns", "dns.blockpage"), url="http://site.example/",
         dns=[q([EDGE])], tls=[], http=ok_page(fingerprint="lab.blockpage", url=HTTP_URL,
                                               address=EDGE)),
    Case("geo-DNS edge that times out is not DNS tampering", ("inconclusive", None, "tcp.timeout"),
         dns=[q([EDGE])], tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")],
         tls=[], http=None),
    Case("two answers on a plain-HTTP site, the first a working edge",
         ("accessible", None, "accessible"), url="http://site.example/",
         dns=[q([EDGE], late=[[SITE]])], tls=[], http=ok_page(url=HTTP_URL, address=EDGE)),
    Case("plain-HTTP name on another address, ordinary page", ("accessible", None, "accessible"),
         url="http://site.example/", dns=[q([EDGE])], tls=[], http=ok_page()),
    Case("reset naming the host twice, neutral name gets the host's certificate",
         ("blocked", "tls", "tls.sni_blocking"),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"), neutral=NEUTRAL_HOST_CERT)],
         http=None),
    Case("stall naming the host twice, neutral name gets the host's certificate",
         ("blocked", "tls", "tls.sni_blocking"),
         tls=[hs(failure="tls.timeout", repeat=hs(failure="tls.timeout"),
                 neutral=NEUTRAL_HOST_CERT)], http=None),
    Case("reset once, the repeat goes through: packet loss", ("accessible", None, "accessible"),
         tls=[hs(failure="tls.reset", repeat=hs(), neutral=None)]),
    Case("reset twice but the neutral name gets someone else's certificate (an SNI router)",
         ("inconclusive", None, "tls.reset"),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"),
                 neutral=hs(sni="example.org", trusted=False, chain=[cert("default.host")]))],
         http=None),
    Case("an alert naming the host is the server's own choice", ("inconclusive", None, "tls.alert"),
         tls=[hs(failure="tls.alert", repeat=hs(failure="tls.alert"), neutral=NEUTRAL_HOST_CERT)],
         http=None),
    Case("SNI blocking but the control failed", ("inconclusive", None, "tls.sni_blocking"),
         control=control(failure="dns.timeout"),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"), neutral=NEUTRAL_HOST_CERT)],
         http=None),
    Case("reset whatever the name", ("inconclusive", None, "tls.reset"),
         tls=[hs(failure="tls.reset", neutral=hs(failure="tls.reset", sni="example.org"))],
         http=None),
    Case("untrusted for the host, trusted behind a neutral name", ("blocked", "tls", "tls.mitm"),
         tls=[hs(failure="tls.untrusted", trusted=False,
                 chain=[cert("site.example", issuer="CN=Interception", sha="bb")],
                 neutral=hs(sni="example.org", chain=[cert("site.example")]))], http=None),
    Case("an expired certificate for the name, a fresh one behind the default name",
         ("inconclusive", None, "tls.expired"),
         tls=[hs(failure="tls.expired", trusted=False, chain=[cert("site.example", sha="ee")],
                 neutral=hs(sni="example.org", chain=[cert("site.example")]))], http=None),
    Case("interception CA minting even the neutral name: the network, not the host",
         ("inconclusive", None, "tls.mitm"),
         tls=[hs(failure="tls.untrusted", trusted=False,
                 chain=[cert("site.example", issuer="CN=Interception", sha="bb")],
                 neutral=hs(sni="example.org", trusted=False,
                            chain=[cert("example.org", issuer="CN=Interception", sha="cc")]))],
         http=None),
    Case("the site's own self-signed certificate", ("inconclusive", None, "tls.untrusted"),
         tls=[hs(failure="tls.untrusted", trusted=False,
                 chain=[cert("site.example", issuer="CN=site.example", sha="dd")],
                 neutral=hs(sni="example.org", trusted=False,
                            chain=[cert("site.example", issuer="CN=site.example", sha="dd")]))],
         http=None),
    Case("no address accepts TCP", ("inconclusive", None, "tcp.timeout"),
         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout")], tls=[], http=None),
    Case("only IPv6 and no IPv6 here", ("inconclusive", None, "tcp.no_usable_address"),
         dns=[q(["2606:4700::6810:84e5"], qtype="AAAA")], control=control("2606:4700::6810:84e5"),
         tcp=[TCPConnect(address="2606:4700::6810:84e5", port=443, skipped="no IPv6")],
         tls=[], http=None),
    Case("blockpage fingerprint on the genuine address", ("blocked", "http", "http.blockpage"),
         url="http://site.example/", tls=[], http=ok_page(fingerprint="ir.iframe", url=HTTP_URL)),
    Case("an https article quoting a blockpage's markers", ("accessible", None, "accessible"),
         http=ok_page(fingerprint="ir.iframe")),
    Case("slow body on plain HTTP, neutral Host fine", ("inconclusive", None, "http.timeout"),
         url="http://site.example/", tls=[],
         http=failed_page("http.timeout", HTTP_URL, neutral=NEUTRAL_OK, partial=True)),
    Case("no answer on plain HTTP, neutral Host fine: could be the backend",
         ("inconclusive", None, "http.timeout"), url="http://site.example/", tls=[],
         http=failed_page("http.timeout", HTTP_URL, neutral=NEUTRAL_OK)),
    Case("reset after the answer began", ("inconclusive", None, "http.reset"),
         url="http://site.example/", tls=[],
         http=failed_page("http.reset", HTTP_URL, neutral=NEUTRAL_OK, partial=True)),
    Case("reset after the request, neutral Host fine", ("blocked", "http", "http.reset"),
         url="http://site.example/", tls=[],
         http=failed_page("http.reset", "http://site.example/", neutral=NEUTRAL_OK)),
    Case("reset after the request whatever the Host", ("inconclusive", None, "http.reset"),
         url="http://site.example/", tls=[],
         http=failed_page("http.reset", "http://site.example/",
                          neutral=HTTPHop(url="http://site.example/", failure="http.reset"))),
    Case("slow body over TLS", ("inconclusive", None, "http.timeout"),
         http=failed_page("http.timeout")),
    Case("accessible with the control down", ("accessible", None, "accessible"),
         control=control(failure="dns.timeout")),
    Case("deadline during TLS", ("inconclusive", None, "tls.deadline"), tls=[], http=None,
         deadline_hit=True),
    Case("deadline during DNS", ("inconclusive", None, "dns.deadline"), dns=[], tcp=[], tls=[],
         http=None, deadline_hit=True),
    Case("an internal error costs one target", ("inconclusive", None, "http.error"),
         http=None, error="ValueError: boom"),
    Case("HTTP 500 from the real site is not blocking", ("accessible", None, "accessible"),
         http=ok_page(status=500)),
    # --- with a control server --------------------------------------------------------------
    Case("server: the control connects where the probe cannot", ("blocked", "tcp", "tcp.timeout"),
         control=server(), tls=[], http=None,
         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout")]),
    Case("server: nobody can connect", ("down", None, "tcp.refused"),
         control=server(tcp=[TCPConnect(address=SITE, port=443, failure="tcp.refused")], tls=[],
                        http=HTTPFetch(failure="tcp.refused")),
         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.refused")], tls=[], http=None),
    Case("server: it reached the site elsewhere only", ("inconclusive", None, "tcp.timeout"),
         control=server(tcp=[TCPConnect(address=SITE, port=443),
                             TCPConnect(address=EDGE, port=443, failure="tcp.timeout")]),
         dns=[q([EDGE])], tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")],
         tls=[], http=None),
    Case("server: reset twice, the control's handshake fine", ("blocked", "tls", "tls.reset"),
         control=server(), tls=[TLS_RESET_TWICE], http=None),
    Case("server: reset once only is packet loss", ("accessible", None, "accessible"),
         control=server(), tls=[hs(failure="tls.reset", repeat=hs())]),
    Case("server: reset twice and a neutral name passes", ("blocked", "tls", "tls.sni_blocking"),
         control=server(),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"),
                 neutral=hs(sni="example.org", trusted=False, chain=[cert("default.host")]))],
         http=None),
    Case("server: an untrusted certificate where the control gets the host's",
         ("blocked", "tls", "tls.mitm"), control=server(), tls=[INTERCEPTED], http=None,
         cites=("/tls/0", "/control/tls/0")),
    Case("server: interception of everything is the network's, not this host's",
         ("inconclusive", None, "tls.mitm"), control=server(),
         tls=[INTERCEPTED.model_copy(update={"neutral": hs(
             sni="example.org", trusted=False,
             chain=[cert("example.org", issuer="CN=Interception", sha="cc")])})], http=None),
    Case("server: the self-signed certificate is the same for the control", (
         "down", None, "tls.untrusted"),
         control=server(tls=[hs(failure="tls.untrusted", trusted=False)],
                        http=HTTPFetch(failure="tls.untrusted")),
         tls=[hs(failure="tls.untrusted", trusted=False)], http=None),
    Case("server: a plain-HTTP request cut, the control fetched it",
         ("blocked", "http", "http.reset"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=SERVER_HTTP), http=failed_page("http.reset", HTTP_URL),
         cites=("/http/hops/0", "/control/http/hops/0")),
    Case("server: a tarpit times out for the control too", ("down", None, "http.timeout"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=fetched(
             (HTTP_URL, None), failure="http.timeout")),
         http=failed_page("http.timeout", HTTP_URL)),
    Case("server: a probe-only timeout is no claim", ("inconclusive", None, "http.timeout"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=failed_page("http.timeout", HTTP_URL)),
    Case("server: another plain-HTTP page", ("blocked", "http", "http.diff"), url=HTTP_URL,
         tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(NOTICE)))),
    # A 403 from the control's own address may be the site's: an error status alone is no claim.
    Case("server: another page with another status", ("inconclusive", None, "http.diff"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(NOTICE, status=403)))),
    Case("server: dynamic parts differ, the page is the same", ("accessible", None, "accessible"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(DYNAMIC_PAGE)))),
    Case("server: same page under another status (a soft 404)",
         ("accessible", None, "accessible"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(SITE_PAGE, status=404)))),
    Case("server: an https page unlike the control's is still the site's own",
         ("accessible", None, "accessible"), control=server(),
         http=fetched(("https://site.example/", body(NOTICE)))),
    # An unseen redirect alone is not enough: the page it ends on must differ too.
    Case("server: redirected to a site the control never saw, the very same page",
         ("accessible", None, "accessible"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body("", status=302)),
                      ("https://warning.example.net/", body(SITE_PAGE)))),
    Case("server: redirected to a site the control never saw, serving a notice",
         ("blocked", "http", "http.diff"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body("", status=302)),
                      ("https://warning.example.net/", body(NOTICE))),
         cites=("/http/hops/1", "/http/hops/0", "/control/http/hops/0", "/control/dns/0")),
    Case("server: redirected to the site's own country edition", ("accessible", None, "accessible"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body("", status=302)),
                      ("http://kz.site.example/", body(DYNAMIC_PAGE)))),
    Case("server: another address serving another page could be geo-DNS",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, tls=[], dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(NOTICE)), address=EDGE)),
    Case("server: the probe's address fails the control's certificate check",
         ("blocked", "dns", "dns.inconsistent"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.timeout", repeat=hs(EDGE, "tls.timeout"))],
         control=server(tls=[hs(), hs(EDGE, "tls.hostname_mismatch", trusted=False)]),
         http=None, cites=("/dns/0", "/control/dns/0", "/control/tls/1", "/control/tls/0")),
    Case("server: the control's valid certificate at the probe's address clears a CDN edge",
         ("blocked", "tls", "tls.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.timeout", repeat=hs(EDGE, "tls.timeout"))],
         control=server(tls=[hs(), hs(EDGE)]), http=None),
    Case("server unreachable: an NXDOMAIN is no claim", ("inconclusive", None, "dns.nxdomain"),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")],
         control=server(failure="control.unreachable"), tcp=[], tls=[], http=None,
         cites=("/dns/0", "/control/failure")),
    Case("server unreachable: SNI blocking is no claim", ("inconclusive", None, "tls.sni_blocking"),
         control=server(failure="control.unreachable"),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"), neutral=NEUTRAL_HOST_CERT)],
         http=None),
    Case("server rate-limited: a cut request is no claim", ("inconclusive", None, "http.reset"),
         url=HTTP_URL, tls=[], control=server(failure="control.rate_limited"),
         http=failed_page("http.reset", HTTP_URL), cites=("/control/failure",)),
    Case("server unreachable: SNI blocking cites the control's failure",
         ("inconclusive", None, "tls.sni_blocking"), control=server(failure="control.unreachable"),
         tls=[hs(failure="tls.reset", repeat=hs(failure="tls.reset"), neutral=NEUTRAL_HOST_CERT)],
         http=None, cites=("/tls/0", "/tls/0/neutral", "/control/failure")),
    # --- false-"blocked" traps with a control server (review of rules 2) --------------------
    Case("server: the site's own 503", ("inconclusive", None, "http.diff"), url=HTTP_URL,
         tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(ERROR_503, status=503, title="503 Service Unavailable")))),
    Case("server: the site's own geo-blocking, 451", ("inconclusive", None, "http.diff"),
         url=HTTP_URL, tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(GEO_451, status=451, title="Not available")))),
    Case("server: the control got a firewall's 403, the probe a page",
         ("inconclusive", None, "http.diff"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=fetched((HTTP_URL, body(GEO_451, status=403,
                                                             title="Forbidden")))),
         http=fetched((HTTP_URL, body(SITE_PAGE)))),
    Case("server: redirected to the site's ccTLD, the same page",
         ("accessible", None, "accessible"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body("", status=302)), ("https://site.kz/", body(SITE_PAGE)))),
    Case("server: same address, the page in another language",
         ("inconclusive", None, "http.diff"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body(RUSSIAN_PAGE, title="Новости сайта")))),
    Case("server: a title with a clock and a random inline blob",
         ("accessible", None, "accessible"), url=HTTP_URL, tls=[],
         control=server(tls=[], http=fetched((HTTP_URL, live_page("14:03")))),
         http=fetched((HTTP_URL, live_page("14:02")))),
    Case("server: an empty 200 body", ("inconclusive", None, "http.diff"), url=HTTP_URL,
         tls=[], control=server(tls=[], http=SERVER_HTTP),
         http=fetched((HTTP_URL, body("").model_copy(update={"title": None})))),
    Case("server: the probe's clock is wrong, the same leaf as the control's",
         ("inconclusive", None, "tls.expired"), control=server(),
         tls=[hs(failure="tls.expired", trusted=False, chain=[SITE_CERT])], http=None,
         cites=("/tls/0", "/control/tls/0")),
    Case("server: the probe's trust store is stale, the same leaf as the control's",
         ("inconclusive", None, "tls.untrusted"), control=server(),
         tls=[hs(failure="tls.untrusted", trusted=False, chain=[SITE_CERT])], http=None),
    Case("server: the probe's clock is wrong at a geo edge the control never tried",
         ("inconclusive", None, "tls.expired"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.expired", trusted=False, chain=[SITE_CERT])], control=server(),
         http=None),
    Case("server: another leaf for another name at the control's address is not shown mitm",
         ("inconclusive", None, "tls.hostname_mismatch"), control=server(),
         tls=[hs(failure="tls.hostname_mismatch", trusted=False,
                 chain=[cert("other.example", sha="ff")])], http=None),
    Case("server: an untrusted certificate, the control's leaf not recorded",
         ("inconclusive", None, "tls.untrusted"), control=server(tls=[hs()]), tls=[INTERCEPTED],
         http=None),
    Case("server: an HTTP reset at a geo edge, the control fetched elsewhere",
         ("inconclusive", None, "http.reset"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         control=server(tls=[], tcp=[TCPConnect(address=SITE, port=80),
                                     TCPConnect(address=EDGE, port=80, failure="tcp.timeout")],
                        http=SERVER_HTTP),
         http=HTTPFetch(hops=[HTTPHop(url=HTTP_URL, address=EDGE, failure="http.reset")],
                        failure="http.reset")),
    Case("server: a timeout at a geo edge, the control's fetch timing out elsewhere",
         ("inconclusive", None, "http.timeout"), url=HTTP_URL, dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=80)], tls=[],
         control=server(tls=[], http=fetched((HTTP_URL, None), failure="http.timeout")),
         http=HTTPFetch(hops=[HTTPHop(url=HTTP_URL, address=EDGE, failure="http.timeout")],
                        failure="http.timeout")),
    Case("server: IPv6 unreachable at the probe, the control connected",
         ("inconclusive", None, "tcp.unreachable"), dns=[q([V6], qtype="AAAA")],
         tcp=[TCPConnect(address=V6, port=443, failure="tcp.unreachable")], tls=[], http=None,
         control=server(dns=[q([V6], qtype="AAAA", resolver="udp://control")],
                        tcp=[TCPConnect(address=V6, port=443)], tls=[hs(V6)])),
    Case("server: the control fails certificates at its own address too",
         ("inconclusive", None, "tls.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443)],
         tls=[hs(EDGE, "tls.timeout", repeat=hs(EDGE, "tls.timeout"))],
         control=server(tls=[hs(failure="tls.untrusted", trusted=False),
                             hs(EDGE, "tls.untrusted", trusted=False)],
                        http=HTTPFetch(failure="tls.untrusted")), http=None),
    Case("server: a partial control never tried the probe's address",
         ("inconclusive", None, "tcp.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")], tls=[], http=None,
         control=Control(source="server", dns=[q([SITE], resolver="udp://control")],
                         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout")])),
    Case("server: the probe's address dead for the control too, nothing reached: down",
         ("down", None, "tcp.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")], tls=[], http=None,
         control=server(tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout"),
                             TCPConnect(address=EDGE, port=443, failure="tcp.timeout")],
                        tls=[], http=HTTPFetch(failure="tcp.timeout"))),
    Case("server: dead alike, but the control's deadline cut it: not down",
         ("inconclusive", None, "tcp.timeout"), dns=[q([EDGE])],
         tcp=[TCPConnect(address=EDGE, port=443, failure="tcp.timeout")], tls=[], http=None,
         control=server(tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout"),
                             TCPConnect(address=EDGE, port=443, failure="tcp.timeout")],
                        tls=[], http=HTTPFetch(failure="tcp.timeout")).model_copy(
                            update={"deadline_hit": True})),
    Case("the vantage's proxy could not be reached: nothing is known of the site",
         ("inconclusive", None, "proxy.unreachable"), control=server(),
         tcp=[TCPConnect(address=SITE, port=443, failure="proxy.unreachable")], tls=[],
         http=None),
    Case("a proxy refusing the destination is its rule, not the path's",
         ("inconclusive", None, "proxy.refused"),
         dns=[DNSQuery(resolver="tcp://192.0.2.53", hostname="site.example", qtype="A",
                       failure="proxy.refused", t=0.01)], tcp=[], tls=[], http=None),
    Case("server: one TLS reset and no repeat", ("inconclusive", None, "tls.reset"),
         control=server(), tls=[hs(failure="tls.reset")], http=None),
    Case("server: a co.uk site redirected to an ISP's https page on another co.uk domain",
         ("blocked", "http", "http.diff"), url=UK_URL,
         dns=[q([SITE], hostname=UK_HOST)], tls=[],
         control=server(dns=[q([SITE], resolver="udp://control", hostname=UK_HOST)], tls=[],
                        http=fetched((UK_URL, body(SITE_PAGE)))),
         http=HTTPFetch(hops=[
             HTTPHop(url=UK_URL, address=SITE, response=body("", status=302)),
             HTTPHop(url="https://warning.isp.co.uk/", address="198.51.100.7",
                     tls=hs("198.51.100.7", sni="warning.isp.co.uk"), response=body(NOTICE))]),
         cites=("/http/hops/1", "/http/hops/0", "/control/http/hops/0")),
    Case("server: a co.uk site redirected within its own registrable domain",
         ("accessible", None, "accessible"), url=UK_URL,
         dns=[q([SITE], hostname=UK_HOST)], tls=[],
         control=server(dns=[q([SITE], resolver="udp://control", hostname=UK_HOST)], tls=[],
                        http=fetched((UK_URL, body(SITE_PAGE)))),
         http=HTTPFetch(hops=[
             HTTPHop(url=UK_URL, address=SITE, response=body("", status=302)),
             HTTPHop(url="https://www.example.co.uk/", address=SITE,
                     tls=hs(sni="www.example.co.uk"), response=body(NOTICE))])),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    domain = case.url.split("/")[2]
    obs = Observations(
        target=Target(url=case.url, domain=domain),
        dns=case.dns,
        tcp=case.tcp,
        tls=case.tls,
        http=case.http,
        control=case.control,
        deadline_hit=case.deadline_hit,
        error=case.error,
    )
    verdict = judge(obs, JudgeContext(dead_resolvers=case.dead))
    assert (verdict.status, verdict.blocking, verdict.outcome) == case.expect, verdict.reason
    assert verdict.reason.endswith(".")
    refs = {e.ref for e in verdict.evidence}
    assert set(case.cites) <= refs, f"evidence cites {sorted(refs)}"
    if verdict.status == "blocked":
        # A claim must point at what it rests on, including the reference it was compared with.
        assert len(verdict.evidence) >= 1
        assert verdict.confidence >= 0.7


def test_lab_networks_are_not_bogons() -> None:
    obs = Observations(
        target=Target(url="https://site.example/", domain="site.example"),
        dns=[q(["127.77.0.10"])],
        tcp=[TCPConnect(address="127.77.0.10", port=443)],
        tls=[hs("127.77.0.10")],
        http=ok_page(),
        control=control("127.77.0.10"),
    )
    assert judge(obs).outcome == "dns.bogon"
    assert judge(obs, JudgeContext(public=networks(["127.77.0.0/24"]))).status == "accessible"


def test_ip_literal_target_needs_no_dns() -> None:
    obs = Observations(
        target=Target(url=f"https://{SITE}/", domain=SITE),
        tcp=[TCPConnect(address=SITE, port=443)],
        tls=[hs()],
        http=ok_page(),
        control=Control(),
    )
    assert judge(obs).status == "accessible"


def test_evidence_refs_point_into_the_result() -> None:
    case = next(c for c in CASES if c.id.startswith("forged answer"))
    target = Target(url=case.url, domain="site.example")
    obs = Observations(target, case.dns, case.tcp, case.tls, case.http, case.control)
    refs = [e.ref for e in judge(obs).evidence]
    assert "/dns/0" in refs and "/dns/0/late_answers" in refs and "/control/dns/0" in refs
