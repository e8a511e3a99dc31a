"""One URL through the layers: TCP and TLS to every address, then HTTP over a connection that
worked. Shared by the probe (``api``) and the control server, so both measure the same way.

Observations land in a :class:`Partial` the moment they exist, so a deadline that cancels the
pipeline half-way keeps everything seen until then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

import httpx

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.probes import http, tcp, tls
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dns import Resolver, https_record
from censorcheck.measure.probes.tcp import Stream
from censorcheck.measure.running import each
from censorcheck.measure.verdict import HTTP_INTERFERENCE
from censorcheck.models import (
    DNSQuery,
    HTTPFetch,
    HTTPResponse,
    QUICFetch,
    TCPConnect,
    TLSHandshake,
)

# QUIC is tried at this many of the addresses: enough to tell one address from the site.
QUIC_ADDRESSES = 2


@dataclass
class Partial:
    """Observations so far, kept outside the pipeline so a deadline does not lose them."""

    dns: list[DNSQuery] = field(default_factory=list)
    tcp: list[TCPConnect] = field(default_factory=list)
    tls: list[TLSHandshake] = field(default_factory=list)
    http: HTTPFetch | None = None
    quic: list[QUICFetch] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    dns_https: list[DNSQuery] = field(default_factory=list)
    https_asked: asyncio.Future[None] | None = None  # the HTTPS record queries, while they run

    def ask_https_record(
        self, url: httpx.URL, resolvers: list[Resolver], ctx: ProbeContext
    ) -> None:
        """Start asking each resolver for the HTTPS record of an https ``url`` when QUIC is
        ``auto``, as browsers do beside A and AAAA; the answers land in ``dns_https``.

        Nothing waits for them but the decision whether to try QUIC, made after the fetch over
        TCP: by then the queries, sent with A and AAAA, have mostly ended.
        """
        settings = ctx.settings
        # Behind a proxy QUIC is never tried (a proxy cannot carry it): nothing to decide.
        if settings.quic != "auto" or settings.proxy is not None:
            return
        if url.scheme != "https" or is_ip(url.host):
            return
        port = http.default_port(url)

        answered: list[DNSQuery | None] = [None] * len(resolvers)

        async def one(i: int, resolver: Resolver) -> None:
            answered[i] = await https_record(url.host, port, resolver, ctx)
            # Kept as each ends, in the resolvers' order as ``dns`` is: a deadline cutting a
            # slow one loses nothing the others said.
            self.dns_https[:] = [q for q in answered if q is not None]

        async def ask() -> None:
            await each(one(i, r) for i, r in enumerate(resolvers))

        self.https_asked = asyncio.ensure_future(ask())

    async def https_answered(self, limit: float) -> None:
        """Wait up to ``limit`` seconds for the HTTPS record queries still running.

        Each ends within one timeout by itself. Waited for when the pipeline is done, so that
        every query asked is in the result whether or not a QUIC decision needed it: what is
        recorded must not depend on which finished first. Only what is left of the target's
        deadline cuts them, and what had ended by then is kept."""
        if self.https_asked is not None and not self.https_asked.done():
            await asyncio.wait({self.https_asked}, timeout=limit)

    async def aclose(self) -> None:
        """Close every connection the pipeline opened (they are all closed once, at the end)."""
        if self.https_asked is not None:
            self.https_asked.cancel()
        for stream in self.streams:
            with contextlib.suppress(Exception):
                await stream.aclose()


def all_addresses(q: DNSQuery) -> list[str]:
    """Every address in a query's first and late answers."""
    answers = ([q.answer] if q.answer else []) + list(q.late_answers)
    return [a for ans in answers for a in ans.addresses]


async def observe(
    url: httpx.URL,
    addresses: list[str],
    resolve: http.Resolve,
    ctx: ProbeContext,
    partial: Partial,
    fetch_over: Collection[str] | None = None,
    neutral: bool = True,
    quic_too: bool = True,
) -> None:
    """Connect (and shake hands) to every address at once, then GET ``url`` over the first
    connection that worked, among ``fetch_over`` when given.

    ``neutral`` adds, for a plain-HTTP request cut by a reset or EOF, the same request with a
    neutral Host on the same address. ``quic_too`` tries HTTP/3 as the settings say (``quic``):
    beside TCP for every https target, or after the fetch when the site advertised it (an
    Alt-Svc header, or an HTTPS record that ``Partial.ask_https_record`` asked for).
    """
    port = http.default_port(url)
    tcp_seen: list[TCPConnect | None] = [None] * len(addresses)
    tls_seen: list[TLSHandshake | None] = [None] * len(addresses)
    usable: list[Stream | None] = [None] * len(addresses)

    async def one(i: int, address: str) -> None:
        reason = tcp.skip_reason(address, ctx)
        if reason is not None:
            tcp_seen[i] = TCPConnect(address=address, port=port, skipped=reason)
            return
        tcp_seen[i], stream = await tcp.connect(address, port, ctx)
        if stream is not None:
            partial.streams.append(stream)
        if stream is not None and url.scheme == "https":
            tls_seen[i], stream = await tls.handshake(stream, address, port, url.host, ctx)
            if stream is not None:
                partial.streams.append(stream)
        usable[i] = stream

    keep_ips = set(addresses) | {a for q in partial.dns for a in all_addresses(q)}
    mode = ctx.settings.quic if quic_too else "never"
    quic_at = _quic_addresses(url, addresses, ctx) if mode == "always" else []
    # Asked for every https target, QUIC goes beside TCP: it is another path, not a later step.
    # (No task when there is nothing to try: a task per target costs more than its check.)
    early = (
        asyncio.ensure_future(_quic(url, quic_at, port, ctx, keep_ips, partial))
        if quic_at
        else None
    )
    try:
        await _layers(addresses, one, tcp_seen, tls_seen, partial)
        await _fetch(url, addresses, usable, fetch_over, resolve, ctx, partial, keep_ips, neutral)
        if mode == "auto" and (advertised := await _advertised(url, partial)) is not None:
            await _quic(url, _quic_addresses(url, addresses, ctx), advertised, ctx, keep_ips,
                        partial)  # fmt: skip
        if early is not None:
            await early
    finally:
        if early is not None:
            early.cancel()


async def _layers(
    addresses: list[str],
    one: Callable[[int, str], Awaitable[None]],
    tcp_seen: list[TCPConnect | None],
    tls_seen: list[TLSHandshake | None],
    partial: Partial,
) -> None:
    # Each observation is kept in address order, so a deadline in the middle loses nothing seen.
    try:
        await each(one(i, a) for i, a in enumerate(addresses))
    finally:
        partial.tcp.extend(c for c in tcp_seen if c is not None)
        partial.tls.extend(h for h in tls_seen if h is not None)


async def _fetch(
    url: httpx.URL,
    addresses: list[str],
    usable: list[Stream | None],
    fetch_over: Collection[str] | None,
    resolve: http.Resolve,
    ctx: ProbeContext,
    partial: Partial,
    keep_ips: set[str],
    neutral: bool,
) -> None:
    first = next(
        (
            (a, s)
            for a, s in zip(addresses, usable, strict=True)
            if s is not None and (fetch_over is None or a in fetch_over)
        ),
        None,
    )
    if first is None:
        return
    partial.http = await http.fetch(url, first, addresses, resolve, ctx, keep_ips)
    failure = partial.http.failure or ""
    if (
        neutral
        and url.scheme == "http"
        and len(partial.http.hops) == 1
        and failure.split(".", 1)[-1] in HTTP_INTERFERENCE
    ):
        request = await http.neutral_request(url, first[0], ctx, keep_ips)
        partial.http = partial.http.model_copy(update={"neutral": request})


def _quic_addresses(url: httpx.URL, addresses: list[str], ctx: ProbeContext) -> list[str]:
    """Where to try QUIC: the first addresses a packet may be sent to, for https only."""
    if url.scheme != "https":
        return []
    usable = [a for a in addresses if tcp.skip_reason(a, ctx) is None]
    return usable[:QUIC_ADDRESSES]


async def _quic(
    url: httpx.URL,
    addresses: list[str],
    port: int,
    ctx: ProbeContext,
    keep_ips: set[str],
    partial: Partial,
) -> None:
    if not addresses or partial.quic:
        return
    # Imported here, not at the top: aioquic and what it pulls in (pyOpenSSL, service_identity)
    # took a tenth of a second of every run's start, most of which never speaks QUIC.
    from censorcheck.measure.probes import quic

    path = url.raw_path.decode("ascii") or "/"

    async def at(address: str) -> None:
        # Kept as each ends, so that a deadline cutting the other loses nothing seen.
        partial.quic.append(await quic.measure(url.host, path, address, port, ctx, keep_ips))

    await asyncio.gather(*(at(a) for a in addresses))


async def _advertised(url: httpx.URL, partial: Partial) -> int | None:
    """The UDP port the site offers HTTP/3 on, by Alt-Svc or else by its HTTPS record."""
    if (port := _h3_port(url, partial.http)) is not None:
        return port
    if partial.https_asked is None:
        return None
    with contextlib.suppress(Exception):  # each lookup records its own failure; never ours
        await partial.https_asked
    return next(
        (p for q in partial.dns_https if (p := https_h3_port(q, http.default_port(url)))),
        None,
    )


def https_h3_port(query: DNSQuery, default: int) -> int | None:
    """The port an HTTPS record answer offers h3 on, for the origin itself, or None.

    As browsers read it: ServiceMode records, the lowest priority first, whose target is the
    origin ("."; another name would have addresses of its own, which are not looked up), with
    h3 among their ALPN ids; the record's ``port``, else the origin's.
    """
    if query.answer is None or query.failure is not None:
        return None
    asked = query.hostname.rstrip(".").lower()
    origin = ("", asked, asked.rsplit("._https.", 1)[-1])  # "." or the name, port prefix or not
    for record in sorted(query.answer.records, key=lambda r: r.priority):
        if (
            record.priority > 0
            and record.target.rstrip(".").lower() in origin
            and "h3" in record.alpn
        ):
            return record.port or default
    return None


def _h3_port(url: httpx.URL, fetch: HTTPFetch | None) -> int | None:
    """The UDP port an https response of the target's own host offers HTTP/3 on (Alt-Svc), or
    None. Only the same host counts: an alternative on another host is another site's QUIC."""
    if fetch is None:
        return None
    for hop in fetch.hops:
        # The header first: most responses offer no h3, and parsing the hop's URL costs more.
        if hop.response is None or (port := alt_svc_h3_port(hop.response)) is None:
            continue
        hop_url = httpx.URL(hop.url)
        if hop_url.scheme == "https" and hop_url.host == url.host:
            return port
    return None


def alt_svc_h3_port(response: HTTPResponse) -> int | None:
    """The port of the first ``h3`` alternative on the same host in the Alt-Svc header."""
    for name, value in response.headers:
        if name.lower() != "alt-svc":
            continue
        for entry in value.split(","):
            protocol, _, rest = entry.strip().partition("=")
            authority = rest.split(";", 1)[0].strip().strip('"')
            host, _, port = authority.rpartition(":")
            if protocol.strip() == "h3" and not host and port.isdigit():
                return int(port)
    return None


def ordered_addresses(host: str, queries: list[DNSQuery]) -> list[str]:
    """First answers (A before AAAA), then addresses only seen in late answers."""
    ordered: dict[str, None] = {}
    for late in (False, True):
        for qtype in ("A", "AAAA"):
            for q in queries:
                if q.qtype != qtype or q.hostname != host:
                    continue
                answers = list(q.late_answers) if late else ([q.answer] if q.answer else [])
                for answer in answers:
                    ordered.update(dict.fromkeys(answer.addresses))
    return list(ordered)


def cap(addresses: list[str], per_family: int) -> list[str]:
    """At most ``per_family`` addresses of each family, in the given order."""
    v4 = [a for a in addresses if ":" not in a][:per_family]
    v6 = [a for a in addresses if ":" in a][:per_family]
    return [a for a in addresses if a in v4 or a in v6]
