"""A control measurement made from here: the control server's work, and a control vantage's.

The same pipeline as the probe's, with two differences that make it a reference: the page is
fetched only through this network's own addresses, and the probe's addresses are connected to
and shaken hands with as well, so that "this address does not serve the site" can be checked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from typing import Literal

import httpx

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.pipeline import Partial, cap, observe, ordered_addresses
from censorcheck.measure.probes import dns
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import Control, DNSQuery


async def measure_here(
    url: str,
    addresses: list[str],
    ctx: ProbeContext,
    resolvers: list[dns.Resolver],
    deadline: float,
    *,
    user_agent: str | None = None,
    quic: Literal["auto", "always", "never"] | None = None,
    source: Literal["server", "vantage"] = "server",
    vantage: str | None = None,
) -> Control:
    """Measure ``url``: DNS, then TCP/TLS to our and the probe's ``addresses``, then HTTP
    through one of our own addresses; what was seen by ``deadline`` seconds is the answer."""
    parsed = httpx.URL(url)
    update: dict[str, object] = {}
    if user_agent is not None:
        update["user_agent"] = user_agent
    if quic is not None:
        update["quic"] = quic  # as the probe measures, so that there is something to compare
    if update:
        ctx = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update=update))

    async def resolve(host: str) -> tuple[list[DNSQuery], list[str]]:
        found = await asyncio.gather(*(dns.resolve(host, r, ctx) for r in resolvers))
        queries = [q for batch in found for q in batch]
        return queries, ordered_addresses(host, queries)

    partial = Partial()

    async def run() -> None:
        if is_ip(parsed.host):
            own = [str(ipaddress.ip_address(parsed.host))]
        else:
            # Its own HTTPS record may lead the control to QUIC as the probe's leads the probe;
            # it is not part of the answer (the protocol has no place for it).
            partial.ask_https_record(parsed, resolvers, ctx)
            queries, own = await resolve(parsed.host)
            partial.dns.extend(queries)
        own = cap(own, ctx.settings.max_addresses)
        theirs = [a for a in addresses if a not in own]
        await observe(
            parsed, own + theirs, resolve, ctx, partial, fetch_over=set(own), neutral=False
        )

    deadline_hit = False
    try:
        await asyncio.wait_for(run(), deadline)
    except asyncio.TimeoutError:
        deadline_hit = True  # what was seen by the deadline is the answer, marked as partial
    finally:
        await partial.aclose()
    worked = (
        any(q.answer is not None for q in partial.dns)
        or any(c.failure is None and c.skipped is None for c in partial.tcp)
        or (partial.http is not None and partial.http.failure is None)
    )
    failure = None
    refused = [c for c in partial.tcp if (c.skipped or "").startswith("forbidden address")]
    dialled = [c for c in partial.tcp if c.skipped is None]
    if refused and not dialled:
        # Said where it happened: the guard, not the site (a literal that is refused is no
        # deadline, and a name that resolves only to such addresses no success). A redirect
        # the guard would not follow is said on its hop (``skipped``) only: what the control
        # saw before it (its DNS, connections, first page) stays usable to the verdict.
        failure = "control.forbidden_address"
    elif not worked:
        failures = [q.failure for q in partial.dns] + [c.failure for c in partial.tcp]
        failure = next((f for f in failures if f), "http.deadline" if not partial.dns else None)
    return Control(
        source=source,
        vantage=vantage,
        dns=partial.dns,
        tcp=partial.tcp,
        tls=partial.tls,
        http=partial.http,
        quic=partial.quic,
        deadline_hit=deadline_hit,
        failure=failure,
    )
