"""The observations and controls the verdict tables are made of: one site, its addresses,
resolvers, certificates and pages, and a ``Case`` row whose defaults are an accessible site."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from censorcheck.models import (
    AtControlAddresses,
    Certificate,
    Control,
    DNSAnswer,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
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
                        body_length=len(text.encode()), body_sha256="00",
                        body_prefix=text)  # fmt: skip


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
    control_addresses: AtControlAddresses | None = None  # the probe at the control's addresses
