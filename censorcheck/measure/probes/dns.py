"""The DNS probe: what one resolver says about a name, asked over UDP, TCP, DoT or DoH.

Measured for each of A and AAAA (and HTTPS, ``https_record``, which decides only whether QUIC
is tried): the response code, the addresses (or HTTPS records) and CNAME chain, the smallest
TTL, the time to answer and, over UDP, every further reply to the same query that differs from
the first. Two different answers to one query mean something on the path forged one of them.
Failures are recorded as ``dns.*`` codes; nothing here raises on network trouble.

A NOERROR reply is an answer even when it holds no address of the asked type: its failure is
None and its addresses are empty (an AAAA query for an IPv4-only site gets just that). Whether a
target has no address at all is a judgement over both queries, left to the verdict. So
``dns.no_answer`` is never set here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.svcbbase

from censorcheck.errors import ConfigError
from censorcheck.measure.bogons import is_ip
from censorcheck.measure.probes import dnstransport
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dnsreply import Reply, rcode_text
from censorcheck.measure.probes.dnstransport import Exchange
from censorcheck.measure.probes.dnswire import Query
from censorcheck.measure.running import together
from censorcheck.models import DNSAnswer, DNSQuery, HTTPSRecord, ResolverStatus

Scheme = Literal["system", "udp", "tcp", "tls", "https"]
QType = Literal["A", "AAAA", "HTTPS"]

_DEFAULT_PORTS: dict[str, int] = {"udp": 53, "tcp": 53, "tls": 853, "https": 443}
_RCODE_FAILURES = {
    dns.rcode.NXDOMAIN: "dns.nxdomain",
    dns.rcode.REFUSED: "dns.refused",
    dns.rcode.SERVFAIL: "dns.servfail",
}
_DOH_PATH = "/dns-query"
_LINGER_FLOOR = 0.02
_MAX_CHAIN = 16
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_FORMS = "use system, udp://IP[:PORT], tcp://IP[:PORT], tls://IP[:PORT] or https://HOST[:PORT]/PATH"


@dataclass(frozen=True)
class Resolver:
    """A resolver to ask, parsed from the URI the user gave (which results record as is)."""

    scheme: Scheme
    host: str  # an IP address, or for https a host name too; "" for system
    port: int
    path: str  # the DoH path; "" for the others
    uri: str
    nameservers: tuple[str, ...] = ()  # system only: /etc/resolv.conf's, see expand_system


# --- configuration ---------------------------------------------------------------------------


def parse_resolver(uri: str) -> Resolver:
    """Parse a resolver URI; ConfigError with a one-line reason if it cannot work."""
    text = uri.strip()
    if text == "system":
        return Resolver("system", "", 53, "", text)

    def bad(what: str) -> ConfigError:
        return ConfigError(f"resolver {uri!r}: {what}")

    scheme, sep, _ = text.partition("://")
    if not sep:
        raise bad(f"not a resolver URI; {_FORMS}")
    if scheme.lower() not in _DEFAULT_PORTS:
        raise bad(f"unknown scheme {scheme!r}; {_FORMS}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad(
            "bad host or port (IPv6 addresses go in brackets: udp://[2001:db8::1]:53)"
        ) from None
    host = parts.hostname or ""
    kind: Scheme = parts.scheme  # type: ignore[assignment]  # checked against _DEFAULT_PORTS
    if not host:
        raise bad("no host")
    if parts.username is not None or parts.query or parts.fragment:
        raise bad("user info, query and fragment are not allowed")
    if port == 0:
        raise bad("port 0 is not a port")
    if "[" in parts.netloc and ":" not in host:
        raise bad("only IPv6 addresses go in brackets")
    if kind != "https":
        if not is_ip(host):
            raise bad(f"{kind}:// needs an IP address; only https:// takes a host name")
        if parts.path not in ("", "/"):
            raise bad(f"{kind}:// takes no path")
        return Resolver(kind, host, port or _DEFAULT_PORTS[kind], "", text)
    if not is_ip(host) and not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise bad(f"{host!r} is not a valid host name")
    path = parts.path if parts.path not in ("", "/") else _DOH_PATH
    return Resolver(kind, host, port or _DEFAULT_PORTS[kind], path, text)


def expand_system(resolver: Resolver, filename: str = "/etc/resolv.conf") -> Resolver:
    """``system`` with the nameservers of ``filename`` filled in; ConfigError if it has none."""
    if resolver.scheme != "system" or resolver.nameservers:
        return resolver
    # Imported here: dns.resolver pulls in dnspython's whole query stack, aioquic included,
    # which cost every run a tenth of a second of start-up to read one file.
    import dns.resolver

    try:
        configured = dns.resolver.Resolver(filename=filename, configure=True).nameservers
    except dns.exception.DNSException as exc:  # missing file, or no nameserver line in it
        raise ConfigError(f"resolver 'system': no usable nameserver in {filename} ({exc})") from exc
    addresses = tuple(str(ns) for ns in configured if is_ip(str(ns)))
    if not addresses:
        raise ConfigError(f"resolver 'system': no nameserver address in {filename}")
    return replace(resolver, nameservers=addresses)


# --- reading replies -------------------------------------------------------------------------


def read_answer(reply: dns.message.Message, t: float) -> DNSAnswer:
    """Record a reply: its rcode, the CNAME chain from the question, the addresses at its end."""
    rcode = dns.rcode.to_text(reply.rcode())
    if not reply.question:  # error replies may omit the question, and then carry no data
        return DNSAnswer(rcode=rcode, t=t)
    question = reply.question[0]
    chain: list[dns.name.Name] = [question.name]
    while len(chain) <= _MAX_CHAIN:
        target = next(
            (
                rdata.target
                for rrset in reply.answer
                if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == chain[-1]
                for rdata in rrset
                if isinstance(rdata, dns.rdtypes.ANY.CNAME.CNAME)
            ),
            None,
        )
        if target is None or target in chain:  # end of the chain, or a loop
            break
        chain.append(target)
    addresses: list[str] = []
    records: list[HTTPSRecord] = []
    ttls: list[int] = []
    for rrset in reply.answer:
        if rrset.rdtype == question.rdtype and rrset.name in chain:
            if rrset.rdtype == dns.rdatatype.HTTPS:
                # Only what dnspython parsed as HTTPS (another class comes back as opaque data).
                svcb = dns.rdtypes.svcbbase.SVCBBase
                found_records = [_https_record(r) for r in rrset if isinstance(r, svcb)]
                records += found_records
                ttls += [rrset.ttl] if found_records else []
                continue
            # Only records dnspython read as addresses: one of another class (CH, or a class
            # number it does not know) comes back as opaque data ('\\# 4 c000020a'), no address.
            found = [
                r.address
                for r in rrset
                if isinstance(r, dns.rdtypes.IN.A.A | dns.rdtypes.IN.AAAA.AAAA)
            ]
            addresses += found
            ttls += [rrset.ttl] if found else []
    return DNSAnswer(
        rcode=rcode,
        addresses=addresses,
        cnames=[name.to_text(omit_final_dot=True) for name in chain[1:]],
        ttl=min(ttls) if ttls else None,
        t=t,
        records=records,
    )


def _read(reply: Reply, t: float) -> DNSAnswer:
    """read_answer's record of a reply, from what dnsreply read when it could."""
    reading = reply.reading
    if reading is None:
        return read_answer(reply.message, t)
    if reading.bare:  # the same fields set as read_answer sets
        return DNSAnswer(rcode=rcode_text(reply.rcode()), t=t)
    return DNSAnswer(
        rcode=rcode_text(reply.rcode()),
        addresses=list(reading.addresses),
        cnames=list(reading.cnames),
        ttl=reading.ttl,
        t=t,
        records=[],
    )


def _https_record(rdata: dns.rdtypes.svcbbase.SVCBBase) -> HTTPSRecord:
    """The parts of an HTTPS record that say where and how the site is served."""
    params = rdata.params
    key = dns.rdtypes.svcbbase.ParamKey
    alpn = params.get(key.ALPN)
    port = params.get(key.PORT)
    v4, v6 = params.get(key.IPV4HINT), params.get(key.IPV6HINT)
    return HTTPSRecord(
        priority=rdata.priority,
        target=rdata.target.to_text(),
        # Protocol ids are bytes that should be ASCII; a hostile one is kept readable, not fatal.
        alpn=[i.decode("ascii", "backslashreplace") for i in alpn.ids] if alpn else [],
        port=port.port if port else None,
        ipv4hint=list(v4.addresses) if v4 else [],
        ipv6hint=list(v6.addresses) if v6 else [],
        ech=key.ECH in params,
    )


def _failure(answer: DNSAnswer) -> str | None:
    if answer.rcode == "NOERROR":
        return None
    code = dns.rcode.from_text(answer.rcode)
    return _RCODE_FAILURES.get(code, "dns.error")


def _key(answer: DNSAnswer) -> tuple[str, list[str], list[str]]:
    return (
        answer.rcode,
        sorted(answer.addresses),
        sorted(r.model_dump_json() for r in answer.records),
    )


# --- asking ----------------------------------------------------------------------------------


def _lingering(resolver: Resolver, ctx: ProbeContext) -> Callable[[float], float]:
    """How long to keep listening after a first UDP reply that took ``rtt`` seconds.

    An injector on the path answers before the real resolver, whose usual round trip the
    pre-flight measured: listening for twice that catches the real answer behind a forged one.
    """
    known = ctx.resolver_rtt.get(resolver.uri, 0.0)
    cap = ctx.settings.dns_linger_max
    return lambda rtt: min(cap, max(_LINGER_FLOOR, 3 * rtt, 2 * known))


async def _ask_udp(
    query: Query, host: str, port: int, resolver: Resolver, ctx: ProbeContext
) -> Exchange:
    source, timeout = ctx.settings.source_address, ctx.settings.timeout
    result = await dnstransport.udp(
        query, host, port, source=source, timeout=timeout, linger=_lingering(resolver, ctx)
    )
    if result.response is None or not result.response.flags & dns.flags.TC:
        return result
    # Truncated: the full answer only fits over TCP. Time counts from the UDP send.
    full = await dnstransport.stream(query, host, port, source=source, timeout=timeout)
    return replace(full, t=result.t + full.t, late=result.late)


async def _ask(query: Query, resolver: Resolver, ctx: ProbeContext) -> Exchange:
    """One query over the resolver's transport."""
    settings = ctx.settings
    if resolver.scheme == "system":
        result = Exchange(failure="dns.error")
        for address in resolver.nameservers:
            result = await _ask_udp(query, address, 53, resolver, ctx)
            # Like the system's stub, move on when a nameserver is plainly not there (an ICMP
            # error comes back at once), but not on a timeout, which is what blocking looks like.
            if result.response is not None or result.failure in ("dns.timeout", "dns.bad_response"):
                break
        return result
    if resolver.scheme == "udp":
        return await _ask_udp(query, resolver.host, resolver.port, resolver, ctx)
    if resolver.scheme == "https":
        host = f"[{resolver.host}]" if ":" in resolver.host else resolver.host
        url = f"https://{host}:{resolver.port}{resolver.path}"
        return await dnstransport.https(query, url, ctx.http, timeout=settings.timeout)
    tls = ctx.verify if resolver.scheme == "tls" else None
    return await dnstransport.stream(
        query,
        resolver.host,
        resolver.port,
        source=settings.source_address,
        timeout=settings.timeout,
        tls=tls,
        # An IP literal as server_hostname makes ssl check the certificate's IP SAN, sans SNI.
        server_hostname=resolver.host,
        through=settings.proxy,
    )


async def ask(query: Query, resolver: Resolver, ctx: ProbeContext) -> Exchange:
    """One query of any type over the resolver's transport, as sent (a whoami name, say)."""
    return await _ask(query, resolver, ctx)


def _make_query(hostname: str, qtype: QType, resolver: Resolver) -> Query:
    # RFC 8484 section 4.1: id 0 keeps DoH responses cacheable.
    return Query.build(hostname, qtype, query_id=0 if resolver.scheme == "https" else None)


async def lookup(
    hostname: str, qtype: QType, resolver: Resolver, ctx: ProbeContext, *, retry: bool = True
) -> DNSQuery:
    """One question to one resolver, SERVFAIL retried once when ``retry``.

    Never raises on network trouble; only ConfigError, for ``system`` without nameservers.
    """
    resolver = expand_system(resolver)
    start = time.monotonic()
    record = DNSQuery(
        resolver=resolver.uri, hostname=hostname, qtype=qtype, t=0.0, t0=ctx.since(start)
    )
    offset = 0.0  # when the attempt whose reply counts was sent
    try:
        result = await _ask(_make_query(hostname, qtype, resolver), resolver, ctx)
        first = result.response
        if retry and first is not None and first.rcode() == dns.rcode.SERVFAIL:
            # SERVFAIL is often transient upstream trouble, not censorship: ask once more with a
            # fresh id, and keep the first outcome if the second attempt gets nothing at all.
            again_at = time.monotonic() - start
            again = await _ask(_make_query(hostname, qtype, resolver), resolver, ctx)
            if again.response is not None:
                offset, result = again_at, replace(again, late=result.late + again.late)
    except (dns.exception.DNSException, ValueError):  # a name that cannot be put in a query
        return record.model_copy(update={"failure": "dns.error"})
    if result.response is None:
        return record.model_copy(update={"failure": result.failure or "dns.error", "t": result.t})
    answer = _read(result.response, result.t)
    late: list[DNSAnswer] = []
    seen = [_key(answer)]
    for reply, t in result.late:
        other = _read(reply, t)
        if _key(other) not in seen:
            seen.append(_key(other))
            late.append(other)
    return record.model_copy(
        update={
            "answer": answer,
            "late_answers": late,
            "failure": _failure(answer),
            "t": offset + result.t,
        }
    )


async def resolve(hostname: str, resolver: Resolver, ctx: ProbeContext) -> list[DNSQuery]:
    """A and AAAA for ``hostname``, asked concurrently: [A, AAAA]. Never raises on the network."""
    resolver = expand_system(resolver)
    a, aaaa = await together(
        lookup(hostname, "A", resolver, ctx), lookup(hostname, "AAAA", resolver, ctx)
    )
    return [a, aaaa]


def https_name(host: str, port: int) -> str:
    """Where an https origin's HTTPS record lives: the host itself on 443, else under a port
    prefix, ``_8443._https.host`` (RFC 9460 section 9.1)."""
    return host if port == 443 else f"_{port}._https.{host}"


async def https_record(host: str, port: int, resolver: Resolver, ctx: ProbeContext) -> DNSQuery:
    """The HTTPS record of the https origin ``host``:``port``, asked once (no SERVFAIL retry:
    it only decides whether QUIC is tried, so it gets no second query). Never raises on the
    network."""
    return await lookup(https_name(host, port), "HTTPS", resolver, ctx, retry=False)


async def preflight(
    resolver: Resolver,
    ctx: ProbeContext,
    canary: str = "example.org",
    *,
    role: Literal["probe", "control"] = "probe",
) -> ResolverStatus:
    """Is the resolver there at all? Alive on any reply, whatever its rcode.

    Tells a dead or unreachable resolver (a fatal error for the run) from one that is silent for
    some names (evidence of blocking). The round trip is stored in ``ctx.resolver_rtt``, where
    the UDP linger window reads it.
    """
    record = await lookup(canary, "A", resolver, ctx, retry=False)
    if record.answer is None:
        return ResolverStatus(uri=resolver.uri, role=role, alive=False, failure=record.failure)
    ctx.resolver_rtt[resolver.uri] = record.answer.t
    return ResolverStatus(uri=resolver.uri, role=role, alive=True, rtt=record.answer.t)
