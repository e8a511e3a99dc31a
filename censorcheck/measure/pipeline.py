"""One URL through the layers: TCP and TLS to every address, then HTTP over a connection that
worked. Shared by the probe (``api``) and the control server, so both measure the same way.

Observations land in a :class:`Partial` the moment they exist, so a deadline that cancels the
pipeline half-way keeps everything seen until then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass, field

import httpx

from censorcheck.measure.probes import http, tcp, tls
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.tcp import Stream
from censorcheck.measure.verdict import HTTP_INTERFERENCE
from censorcheck.models import DNSQuery, HTTPFetch, TCPConnect, TLSHandshake


@dataclass
class Partial:
    """Observations so far, kept outside the pipeline so a deadline does not lose them."""

    dns: list[DNSQuery] = field(default_factory=list)
    tcp: list[TCPConnect] = field(default_factory=list)
    tls: list[TLSHandshake] = field(default_factory=list)
    http: HTTPFetch | None = None
    streams: list[Stream] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close every connection the pipeline opened (they are all closed once, at the end)."""
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
) -> None:
    """Connect (and shake hands) to every address at once, then GET ``url`` over the first
    connection that worked, among ``fetch_over`` when given.

    ``neutral`` adds, for a plain-HTTP request cut by a reset or EOF, the same request with a
    neutral Host on the same address.
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

    # Each observation is kept in address order, so a deadline in the middle loses nothing seen.
    try:
        await asyncio.gather(*(one(i, a) for i, a in enumerate(addresses)))
    finally:
        partial.tcp.extend(c for c in tcp_seen if c is not None)
        partial.tls.extend(h for h in tls_seen if h is not None)
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
    keep_ips = set(addresses) | {a for q in partial.dns for a in all_addresses(q)}
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
