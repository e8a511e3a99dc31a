"""The library entry point: ``measure(targets, settings)`` returns the run document.

One run: check the resolvers answer at all, then measure every target concurrently (DNS through the
probe's and the control's resolvers, TCP and TLS to every address, HTTP over the first connection
that worked), judge each from its observations, and hand each result to ``on_result`` as soon as it
exists so the caller can journal it. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import httpx

from censorcheck import __version__
from censorcheck.bogons import is_ip
from censorcheck.errors import ConfigError, NothingMeasured
from censorcheck.failures import describe
from censorcheck.fingerprints import Fingerprints, load_fingerprints
from censorcheck.models import (
    Control,
    DNSQuery,
    Evidence,
    HTTPFetch,
    ResolverStatus,
    Result,
    Run,
    Summary,
    Target,
    TCPConnect,
    TLSHandshake,
    Tool,
    VantageInfo,
    Verdict,
)
from censorcheck.privacy import redact_address
from censorcheck.probes import dns, http, tcp, tls
from censorcheck.probes.context import ProbeContext
from censorcheck.probes.tcp import Stream
from censorcheck.settings import Settings
from censorcheck.verdict import (
    HTTP_INTERFERENCE,
    RULES_VERSION,
    JudgeContext,
    Observations,
    judge,
)

OnResult = Callable[[Result], None]
# Asked after a timeout to tell a resolver silent about one name from one that is not there.
CANARY = "example.org"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def detect_ipv6(settings: Settings) -> bool:
    """Whether this vantage can reach IPv6 destinations at all.

    A UDP ``connect`` only asks the kernel for a route; no packet is sent.
    """
    if settings.ipv6 != "auto":
        return settings.ipv6 == "on"
    if settings.source_address is not None:
        return ipaddress.ip_address(settings.source_address).version == 6
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.connect(("2001:4860:4860::8888", 53))
        return not ipaddress.ip_address(s.getsockname()[0]).is_link_local
    return False


@dataclass
class _Partial:
    """Observations so far, kept outside the pipeline so a deadline does not lose them."""

    dns: list[DNSQuery] = field(default_factory=list)
    tcp: list[TCPConnect] = field(default_factory=list)
    tls: list[TLSHandshake] = field(default_factory=list)
    http: HTTPFetch | None = None
    streams: list[Stream] = field(default_factory=list)


class _Run:
    """Shared state of one run: the context, the parsed resolvers, the judge's view."""

    def __init__(
        self,
        ctx: ProbeContext,
        resolvers: list[dns.Resolver],
        controls: list[dns.Resolver],
        judge_ctx: JudgeContext,
    ) -> None:
        self.ctx = ctx
        self.resolvers = resolvers
        self.controls = controls
        self.judge_ctx = judge_ctx

    async def resolve(self, host: str) -> tuple[list[DNSQuery], list[str]]:
        """All probe resolvers; the usable addresses in answer order (A first), deduplicated.

        A resolver that times out is asked a canary name at once: answering it shows the silence
        was about this name, not a resolver that died or a lost packet on a flaky link.
        """
        found = await asyncio.gather(*(self._resolve_one(host, r) for r in self.resolvers))
        queries = [q for batch in found for q in batch]
        return queries, _ordered_addresses(host, queries)

    async def _resolve_one(self, host: str, resolver: dns.Resolver) -> list[DNSQuery]:
        queries = await dns.resolve(host, resolver, self.ctx)
        if any(q.failure == "dns.timeout" for q in queries):
            queries.append(await dns.lookup(CANARY, "A", resolver, self.ctx, retry=False))
        return queries

    async def control(self, host: str) -> Control:
        if is_ip(host) or not self.controls:
            return Control(failure=None if is_ip(host) else "dns.error")
        found = await asyncio.gather(*(dns.resolve(host, r, self.ctx) for r in self.controls))
        queries = [q for batch in found for q in batch]
        answered = any(q.answer is not None for q in queries)
        return Control(dns=queries, failure=None if answered else queries[0].failure)

    async def target(self, target: Target) -> Result:
        started_at, start = utc_now(), time.monotonic()
        deadline = self.ctx.settings.target_deadline
        partial = _Partial()
        control = asyncio.ensure_future(self.control(target.domain))
        deadline_hit = False
        error = None
        try:
            await asyncio.wait_for(self._pipeline(target, partial), deadline)
        except asyncio.TimeoutError as exc:
            # Only the deadline's own expiry counts as the deadline; a stray TimeoutError is a bug.
            if time.monotonic() - start >= deadline * 0.99:
                deadline_hit = True
            else:
                error = describe(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one target, never the run
            error = describe(exc)
        finally:
            for stream in partial.streams:
                with contextlib.suppress(Exception):
                    await stream.aclose()
        try:
            # The control ran alongside; it gets what is left of the target's deadline.
            remaining = max(deadline - (time.monotonic() - start), 0.05)
            control_result = await asyncio.wait_for(control, remaining)
        except asyncio.TimeoutError:
            control_result = Control(failure="dns.deadline")
        except Exception as exc:  # noqa: BLE001
            control_result = Control(failure="dns.error")
            error = error or describe(exc)
        obs = Observations(
            target=target,
            dns=partial.dns,
            tcp=partial.tcp,
            tls=partial.tls,
            http=partial.http,
            control=control_result,
            deadline_hit=deadline_hit,
            error=error,
        )
        return Result(
            started_at=started_at,
            t=round(time.monotonic() - start, 6),
            verdict=safe_judge(obs, self.judge_ctx),
            **obs.fields(),
        )

    async def _pipeline(self, target: Target, partial: _Partial) -> None:
        ctx = self.ctx
        url = httpx.URL(target.url)
        port = http.default_port(url)
        if is_ip(target.domain):
            addresses = [target.domain]
        else:
            queries, addresses = await self.resolve(target.domain)
            partial.dns.extend(queries)
        addresses = _cap(addresses, ctx.settings.max_addresses)

        # TCP (and TLS) to every address at once. Each observation is kept the moment it exists,
        # in address order, so a deadline in the middle loses nothing already seen.
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

        try:
            await asyncio.gather(*(one(i, a) for i, a in enumerate(addresses)))
        finally:
            partial.tcp.extend(c for c in tcp_seen if c is not None)
            partial.tls.extend(h for h in tls_seen if h is not None)
        first = next(
            ((a, s) for a, s in zip(addresses, usable, strict=True) if s is not None), None
        )
        if first is None:
            return
        keep_ips = set(addresses) | {a for q in partial.dns for a in _all_addresses(q)}
        partial.http = await http.fetch(url, first, addresses, self.resolve, ctx, keep_ips)
        failure = partial.http.failure or ""
        if (
            url.scheme == "http"
            and len(partial.http.hops) == 1
            and failure.split(".", 1)[-1] in HTTP_INTERFERENCE
        ):
            neutral = await http.neutral_request(url, first[0], ctx, keep_ips)
            partial.http = partial.http.model_copy(update={"neutral": neutral})


def _all_addresses(q: DNSQuery) -> list[str]:
    answers = ([q.answer] if q.answer else []) + list(q.late_answers)
    return [a for ans in answers for a in ans.addresses]


def _ordered_addresses(host: str, queries: Sequence[DNSQuery]) -> list[str]:
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


def _cap(addresses: list[str], per_family: int) -> list[str]:
    v4 = [a for a in addresses if ":" not in a][:per_family]
    v6 = [a for a in addresses if ":" in a][:per_family]
    return [a for a in addresses if a in v4 or a in v6]


def _public_settings(settings: Settings) -> dict[str, object]:
    """The settings as recorded: no public source address, no local paths (they name people)."""
    data = settings.model_dump(mode="json")
    data["source_address"] = redact_address(settings.source_address)
    data["ca_bundle"] = settings.ca_bundle.name if settings.ca_bundle else None
    data["fingerprints"] = [Path(p).name for p in settings.fingerprints]
    return data


def safe_judge(obs: Observations, ctx: JudgeContext) -> Verdict:
    """The verdict, or ``verdict.error`` when a rule fails: a bug must not cost the observations."""
    try:
        return judge(obs, ctx)
    except Exception as exc:  # noqa: BLE001 - a rule's bug must not cost the observations
        return Verdict(
            status="inconclusive",
            outcome="verdict.error",
            confidence=0.0,
            reason="The verdict rules failed on these observations (a bug in censorcheck).",
            evidence=[Evidence(ref="", fact=describe(exc))],
        )


def summarise(results: Sequence[Result]) -> Summary:
    by_status = Counter(r.verdict.status for r in results)
    by_blocking = Counter(r.verdict.blocking for r in results if r.verdict.blocking)
    return Summary(total=len(results), by_status=dict(by_status), by_blocking=dict(by_blocking))


async def _preflight(
    resolvers: list[dns.Resolver], role: Literal["probe", "control"], ctx: ProbeContext
) -> list[ResolverStatus]:
    return list(await asyncio.gather(*(dns.preflight(r, ctx, role=role) for r in resolvers)))


def _context(settings: Settings, fingerprints: Fingerprints | None) -> ProbeContext:
    if settings.ca_bundle is not None and not settings.ca_bundle.is_file():
        raise ConfigError(f"--ca-bundle {settings.ca_bundle}: no such file")
    try:
        return ProbeContext.create(settings, detect_ipv6(settings), fingerprints)
    except ssl.SSLError as exc:
        raise ConfigError(f"--ca-bundle {settings.ca_bundle}: not a PEM CA bundle ({exc})") from exc


async def ameasure(
    targets: Sequence[Target],
    settings: Settings,
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
) -> Run:
    """Measure ``targets`` and return the run document."""
    started_at = utc_now()
    # `system` reads /etc/resolv.conf once here, not once per lookup.
    resolvers = [dns.expand_system(dns.parse_resolver(u)) for u in settings.resolvers]
    controls = [dns.expand_system(dns.parse_resolver(u)) for u in settings.control_resolvers]
    if fingerprints is None:
        fingerprints = load_fingerprints(settings.fingerprints)
    ctx = _context(settings, fingerprints)
    try:
        probes, checks = await asyncio.gather(
            _preflight(resolvers, "probe", ctx), _preflight(controls, "control", ctx)
        )
        statuses = probes + checks  # each pre-flight also stored its round trip in ctx
        probe_status = [s for s in statuses if s.role == "probe"]
        if not any(s.alive for s in probe_status):
            detail = ", ".join(f"{s.uri} ({s.failure})" for s in probe_status)
            raise NothingMeasured(f"no probe resolver answered: {detail}")
        run = _Run(ctx, resolvers, controls, JudgeContext.of(ctx.public, statuses))
        semaphore = asyncio.Semaphore(settings.concurrency)

        async def bounded(target: Target) -> Result:
            async with semaphore:
                result = await run.target(target)
            if on_result is not None:
                on_result(result)
            return result

        results = await asyncio.gather(*(bounded(t) for t in targets))
    finally:
        await ctx.aclose()
    return Run(
        run_id=str(uuid.uuid4()),
        started_at=started_at,
        finished_at=utc_now(),
        tool=Tool(version=__version__),
        vantage=VantageInfo(
            name=settings.vantage,
            source_address=redact_address(settings.source_address),
            resolvers=statuses,
            ipv6=ctx.ipv6,
        ),
        settings=_public_settings(settings),
        rules_version=RULES_VERSION,
        results=list(results),
        summary=summarise(results),
    )


def measure(
    targets: Sequence[Target],
    settings: Settings,
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
) -> Run:
    """Blocking wrapper around :func:`ameasure`."""
    box: list[Run] = []

    async def main() -> None:
        # The main task returns nothing on purpose: on the way out asyncio.run formats the main
        # task's repr, result included, which for a large run document costs most of a second.
        box.append(await ameasure(targets, settings, on_result, fingerprints))

    asyncio.run(main())
    return box[0]
