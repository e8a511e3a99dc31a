"""OONI's Web Connectivity test-helper protocol (ooni/spec ts-017, probe-cli model/th.go), both
ways: a helper's answer as our :class:`~censorcheck.models.Control`, and our own control
measurement as a helper's answer, for the control server's ``/ooni/`` endpoint.

The models ignore fields they do not know, because the helpers add fields as they evolve. What
a helper reports is less than our control server's: one lookup's addresses, a status per endpoint,
and only the final page of its fetch (no address, no body, no certificate), so every rule that
needs those finds nothing to use and claims nothing.
"""

from __future__ import annotations

import ipaddress

import httpx
from pydantic import BaseModel, ConfigDict, Field

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.failures import from_ooni, to_ooni, to_ooni_helper_dns
from censorcheck.measure.probes.tls import CERT_FAILURES
from censorcheck.models import (
    Control,
    DNSAnswer,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    QUICFetch,
    QUICHandshake,
    TCPConnect,
    TLSHandshake,
)

MAX_URL = 2048
# A probe sends each address with ports 80 and 443 for http://, and at most a handful of them.
MAX_ENDPOINTS = 32
QUIC_CERT_FAILURES = frozenset("quic." + f.partition(".")[2] for f in CERT_FAILURES)
# ip_info flags (model/th.go).
RESOLVED_BY_PROBE = 1
RESOLVED_BY_HELPER = 2
VALID_FOR_DOMAIN = 8


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class THRequest(_Tolerant):
    """What a probe POSTs to a test helper."""

    http_request: str = Field(max_length=MAX_URL)
    http_request_headers: dict[str, list[str]] = Field(default_factory=dict)
    tcp_connect: list[str] = Field(default_factory=list, max_length=MAX_ENDPOINTS)
    x_quic_enabled: bool = False


class THTCPConnect(_Tolerant):
    status: bool = False
    failure: str | None = None


class THTLSHandshake(_Tolerant):
    server_name: str = ""
    status: bool = False
    failure: str | None = None


class THHTTPRequest(_Tolerant):
    body_length: int = -1
    discovered_h3_endpoint: str = ""
    failure: str | None = None
    title: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    status_code: int = -1


class THDNS(_Tolerant):
    failure: str | None = None
    addrs: list[str] | None = None


class THIPInfo(_Tolerant):
    asn: int = 0
    flags: int = 0


class THResponse(_Tolerant):
    """What a test helper answers."""

    tcp_connect: dict[str, THTCPConnect] = Field(default_factory=dict)
    tls_handshake: dict[str, THTLSHandshake] | None = None
    quic_handshake: dict[str, THTLSHandshake] | None = None
    http_request: THHTTPRequest | None = None
    http3_request: THHTTPRequest | None = None
    dns: THDNS | None = None
    ip_info: dict[str, THIPInfo] | None = None


def endpoint(address: str, port: int) -> str:
    """``ip:port``, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_endpoint(text: str) -> tuple[str, int] | None:
    """``(address, port)`` of an ``ip:port`` key, or None when it is not one."""
    host, _, port = text.rpartition(":")
    try:
        return str(ipaddress.ip_address(host.strip("[]"))), int(port)
    except ValueError:
        return None


def url_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def request_for(url: str, addresses: list[str], user_agent: str, quic: bool = False) -> THRequest:
    """The request a probe sends: its addresses on ports 80 and 443 for http://, as OONI's do
    (the helper learns whether the site does https there too), the URL's port otherwise.
    ``quic`` asks for QUIC handshakes too (``x_quic_enabled``), which a helper makes only when
    the page advertises HTTP/3."""
    parsed = httpx.URL(url)
    ports = [80, 443] if parsed.scheme == "http" and parsed.port is None else [url_port(parsed)]
    return THRequest(
        http_request=url,
        http_request_headers={"User-Agent": [user_agent]},
        tcp_connect=[endpoint(a, p) for a in addresses for p in ports][:MAX_ENDPOINTS],
        x_quic_enabled=quic,
    )


# --- a helper's answer as our Control ---------------------------------------------------------


def _lookup(dns: THDNS, host: str, resolver: str) -> DNSQuery:
    addrs = [a for a in dns.addrs or [] if is_ip(a)]
    if dns.failure is None:
        rcode_failure = None if addrs else "dns.no_answer"
        answer = DNSAnswer(rcode="NOERROR", addresses=addrs, t=0.0)
        return DNSQuery(
            resolver=resolver, hostname=host, qtype="A", failure=rcode_failure, answer=answer, t=0.0
        )
    failure = from_ooni(dns.failure, "dns")
    denied = DNSAnswer(rcode="NXDOMAIN", t=0.0) if failure == "dns.nxdomain" else None
    return DNSQuery(
        resolver=resolver, hostname=host, qtype="A", failure=failure, answer=denied, t=0.0
    )


def _connects(th: THResponse, port: int) -> list[TCPConnect]:
    # Only the URL's port: the rules look a connection up by address, and a probe's http://
    # endpoints come with port 443 too, whose outcome says nothing about port 80.
    found = []
    for key, r in th.tcp_connect.items():
        where = parse_endpoint(key)
        if where is None or where[1] != port:
            continue
        failure = None if r.status else from_ooni(r.failure or "unknown_error", "tcp")
        found.append(TCPConnect(address=where[0], port=where[1], failure=failure))
    return found


def _handshakes(th: THResponse, host: str) -> list[TLSHandshake]:
    found = []
    for key, r in (th.tls_handshake or {}).items():
        where = parse_endpoint(key)
        if where is None:
            continue
        # The helper's status is a handshake validated against its system trust store.
        failure = None if r.status else from_ooni(r.failure or "unknown_error", "tls")
        found.append(
            TLSHandshake(
                address=where[0],
                port=where[1],
                sni=r.server_name or host,
                failure=failure,
                trusted=True if r.status else (False if failure in CERT_FAILURES else None),
            )
        )
    return found


def _quic_handshakes(th: THResponse, host: str) -> list[QUICFetch]:
    """The helper's QUIC handshakes, each as a fetch that never asked for the page: the helper
    reports a handshake's outcome per endpoint, not where its HTTP/3 request went."""
    found = []
    for key, r in (th.quic_handshake or {}).items():
        where = parse_endpoint(key)
        if where is None:
            continue
        # As over TCP, the status is a handshake naming the host, validated by the helper.
        failure = None if r.status else from_ooni(r.failure or "unknown_error", "quic")
        handshake = QUICHandshake(
            address=where[0],
            port=where[1],
            sni=r.server_name or host,
            failure=failure,
            alpn="h3" if r.status else None,
            trusted=True if r.status else (False if failure in QUIC_CERT_FAILURES else None),
        )
        found.append(
            QUICFetch(address=where[0], port=where[1], handshake=handshake, failure=failure)
        )
    return found


def _fetch(r: THHTTPRequest, url: str) -> HTTPFetch:
    if r.failure is not None or r.status_code < 0:
        failure = from_ooni(r.failure or "unknown_error", "http")
        return HTTPFetch(hops=[HTTPHop(url=url, failure=failure)], failure=failure)
    response = HTTPResponse(
        status=r.status_code,
        headers=list(r.headers.items()),
        title=r.title or None,
        body_length=max(r.body_length, 0),
        body_sha256="",  # the helper reports no body, so nothing to hash or compare
    )
    return HTTPFetch(hops=[HTTPHop(url=url, response=response)])


def to_control(th: THResponse, url: str, helper: str) -> Control:
    """A helper's answer for ``url`` as a control measured by ``helper`` (its host name)."""
    parsed = httpx.URL(url)
    dns = [] if th.dns is None or is_ip(parsed.host) else [_lookup(th.dns, parsed.host, helper)]
    tcp = _connects(th, url_port(parsed))
    tls = _handshakes(th, parsed.host)
    http = _fetch(th.http_request, url) if th.http_request is not None else None
    quic = _quic_handshakes(th, parsed.host)
    worked = (
        any(q.answer is not None for q in dns)
        or any(c.failure is None for c in tcp)
        or any(h.failure is None for h in tls)
        or (http is not None and http.failure is None)
    )
    failure = None
    if not worked:
        seen = [q.failure for q in dns] + [c.failure for c in tcp]
        seen += [http.failure] if http is not None else []
        failure = next((f for f in seen if f), "http.error")
    return Control(source="ooni", dns=dns, tcp=tcp, tls=tls, http=http, quic=quic, failure=failure)


# --- our control measurement as a helper's answer ------------------------------------------


def _page(control: Control) -> THHTTPRequest:
    http = control.http
    last = http.hops[-1].response if http is not None and http.hops else None
    if http is None or http.failure is not None or last is None:
        code = http.failure if http is not None else control.failure
        failure = to_ooni(code) or ("generic_timeout_error" if control.deadline_hit else None)
        return THHTTPRequest(failure=failure or "unknown_error")
    return THHTTPRequest(
        body_length=last.body_length,
        title=last.title or "",
        # One value per name, as the helper reports them: the last one wins, as in Go's map.
        headers=dict(last.headers),
        status_code=last.status,
    )


def _untrusted(h: TLSHandshake | QUICHandshake) -> str | None:
    return None if h.trusted else "ssl_invalid_certificate"


def _quic_answer(
    control: Control, host: str
) -> tuple[dict[str, THTLSHandshake], THHTTPRequest | None, str]:
    """Our QUIC in a helper's words: a handshake per endpoint, the page when one of them loaded
    it over HTTP/3, and the endpoint it was found at, as a helper reports the one it discovered."""
    handshakes = {}
    page = None
    for q in control.quic:
        h = q.handshake
        if h is None:
            continue
        handshakes[endpoint(q.address, q.port)] = THTLSHandshake(
            server_name=h.sni,
            status=h.failure is None and bool(h.trusted),
            failure=to_ooni(h.failure) if h.failure else _untrusted(h),
        )
        if page is None and q.response is not None and q.failure is None:
            page = THHTTPRequest(
                body_length=q.response.body_length,
                title=q.response.title or "",
                headers=dict(q.response.headers),
                status_code=q.response.status,
            )
    found = f"{host}:{control.quic[0].port}" if control.quic else ""
    return handshakes, page, found


def to_response(control: Control, url: str, probe_addresses: list[str]) -> THResponse:
    """Our control measurement of ``url`` in a helper's words. Addresses our guard skipped are
    left out: they were not measured, and OONI has no word for that."""
    host = httpx.URL(url).host
    if is_ip(host):
        dns = THDNS(addrs=[host])
    else:
        ours = [q for q in control.dns if q.hostname == host]
        addrs = list(dict.fromkeys(a for q in ours if q.answer for a in q.answer.addresses))
        failure = None if addrs else to_ooni_helper_dns(next((q.failure for q in ours), None))
        dns = THDNS(failure=failure, addrs=addrs)
    tcp = {
        endpoint(c.address, c.port): THTCPConnect(
            status=c.failure is None, failure=to_ooni(c.failure)
        )
        for c in control.tcp
        if c.skipped is None
    }
    tls = {
        endpoint(h.address, h.port): THTLSHandshake(
            server_name=h.sni,
            status=h.failure is None and bool(h.trusted),
            failure=to_ooni(h.failure) if h.failure else _untrusted(h),
        )
        for h in control.tls
    }
    quic, http3, discovered = _quic_answer(control, host)
    valid = {h.address for h in control.tls if h.failure is None and h.trusted}
    info: dict[str, THIPInfo] = {}
    for address in dict.fromkeys([*probe_addresses, *(dns.addrs or [])]):
        flags = (RESOLVED_BY_PROBE if address in probe_addresses else 0) | (
            RESOLVED_BY_HELPER if address in (dns.addrs or []) else 0
        )
        info[address] = THIPInfo(flags=flags | (VALID_FOR_DOMAIN if address in valid else 0))
    page = _page(control).model_copy(update={"discovered_h3_endpoint": discovered})
    return THResponse(
        tcp_connect=tcp,
        tls_handshake=tls,
        quic_handshake=quic,
        http_request=page,
        http3_request=http3,
        dns=dns,
        ip_info=info,
    )
