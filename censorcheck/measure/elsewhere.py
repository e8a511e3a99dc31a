"""The probe at the control's addresses.

When the probe's resolvers deny a name, or give only addresses the control never got, the
question is whether the site works from this very vantage at the control's addresses. If it
does, the probe's resolver is what kept the user away (OONI's Web Connectivity measures the
same way). The extra work starts the moment the control's answer and the probe's own lookups
are both known, and runs beside the probe's own connections under the same target deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx

from censorcheck.measure.pipeline import Partial, observe
from censorcheck.measure.probes import http, tcp
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import AtControlAddresses, Control, DNSQuery


def first_addresses(host: str, queries: Sequence[DNSQuery]) -> list[str]:
    """The addresses of the first answers for ``host``, A before AAAA, each once. Late answers
    are left out: on the control's side they would be the ones to doubt."""
    ordered: dict[str, None] = {}
    for qtype in ("A", "AAAA"):
        for q in queries:
            if q.hostname == host and q.qtype == qtype and q.answer is not None:
                ordered.update(dict.fromkeys(q.answer.addresses))
    return list(ordered)


def worth_measuring(
    host: str, probe: Sequence[DNSQuery], control: Control, ctx: ProbeContext
) -> list[str]:
    """The control's addresses to measure from the vantage: none when the probe's answers
    share one with the control's (they agree, nothing to check); never a bogon, nor an
    address this vantage cannot dial (IPv6 without a route); at most the configured number."""
    limit = ctx.settings.control_addresses
    theirs = first_addresses(host, control.dns)
    ours = set(first_addresses(host, probe))
    if limit == 0 or not theirs or ours & set(theirs):
        return []
    dialable = [
        a
        for a in theirs
        if not ctx.is_bogon(ipaddress.ip_address(a)) and tcp.skip_reason(a, ctx) is None
    ]
    return dialable[:limit]


@dataclass
class Elsewhere:
    """The measurement at the control's addresses, kept outside the task that makes it so that
    a deadline in the middle loses nothing already seen."""

    source: Literal["resolvers", "server", "vantage", "ooni"] | None = None
    addresses: list[str] = field(default_factory=list)
    partial: Partial = field(default_factory=Partial)
    deadline_hit: bool = False

    async def run(
        self,
        url: httpx.URL,
        control: asyncio.Future[Control],
        resolved: asyncio.Future[list[str]],
        probe: Partial,
        resolve: http.Resolve,
        ctx: ProbeContext,
    ) -> None:
        """Wait for the control and the probe's own lookups, then measure the control's
        addresses (TCP, TLS naming the host, and the fetch) as the probe measures its own."""
        # Shielded: this task's deadline must never cancel the control or the probe's lookups.
        try:
            answer = await asyncio.shield(control)
        except Exception:  # noqa: BLE001 - the target records the control's own failure
            return
        await asyncio.shield(resolved)
        host = url.host
        addresses = worth_measuring(host, probe.dns, answer, ctx)
        if not addresses:
            return
        self.source, self.addresses = answer.source, addresses
        # QUIC is the probe's own question about the site; here only its address is in doubt.
        await observe(url, addresses, resolve, ctx, self.partial, neutral=False, quic_too=False)

    def result(self) -> AtControlAddresses | None:
        """What was measured, or None when nothing was tried."""
        if self.source is None:
            return None
        return AtControlAddresses(
            source=self.source,
            addresses=self.addresses,
            tcp=self.partial.tcp,
            tls=self.partial.tls,
            http=self.partial.http,
            deadline_hit=self.deadline_hit,
        )
