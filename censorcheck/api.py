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
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import httpx

from censorcheck import __version__
from censorcheck.bogons import is_ip
from censorcheck.control.client import ControlClient
from censorcheck.errors import ConfigError, NothingMeasured
from censorcheck.failures import describe
from censorcheck.fingerprints import Fingerprints, load_fingerprints
from censorcheck.models import (
    Control,
    ControlServerStatus,
    DNSQuery,
    Evidence,
    ResolverStatus,
    Result,
    Run,
    Summary,
    Target,
    Tool,
    VantageInfo,
    Verdict,
)
from censorcheck.pipeline import Partial, all_addresses, cap, observe, ordered_addresses
from censorcheck.privacy import redact_address
from censorcheck.probes import dns
from censorcheck.probes.context import ProbeContext
from censorcheck.settings import Settings
from censorcheck.verdict import (
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


class _Run:
    """Shared state of one run: the context, the parsed resolvers, the judge's view."""

    def __init__(
        self,
        ctx: ProbeContext,
        resolvers: list[dns.Resolver],
        controls: list[dns.Resolver],
        judge_ctx: JudgeContext,
        server: ControlClient | None = None,
        server_failure: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.resolvers = resolvers
        self.controls = controls
        self.judge_ctx = judge_ctx
        self.server = server
        self.server_failure = server_failure

    async def resolve(self, host: str) -> tuple[list[DNSQuery], list[str]]:
        """All probe resolvers; the usable addresses in answer order (A first), deduplicated.

        A resolver that times out is asked a canary name at once: answering it shows the silence
        was about this name, not a resolver that died or a lost packet on a flaky link.
        """
        found = await asyncio.gather(*(self._resolve_one(host, r) for r in self.resolvers))
        queries = [q for batch in found for q in batch]
        return queries, ordered_addresses(host, queries)

    async def _resolve_one(self, host: str, resolver: dns.Resolver) -> list[DNSQuery]:
        queries = await dns.resolve(host, resolver, self.ctx)
        if any(q.failure == "dns.timeout" for q in queries):
            queries.append(await dns.lookup(CANARY, "A", resolver, self.ctx, retry=False))
        return queries

    async def control(
        self, target: Target, resolved: asyncio.Future[list[str]], deadline_at: float
    ) -> Control:
        """The control: from the control server when there is one, else the control resolvers."""
        if self.server is not None:
            if self.server_failure is not None:
                return Control(source="server", failure=self.server_failure)
            # The server is told what the probe resolved, so it waits for the probe's lookups.
            addresses = await resolved
            # It must answer before the probe's own deadline, with time to spare for the way back.
            left = deadline_at - time.monotonic()
            return await self.server.measure(target.url, addresses, max(left * 0.9 - 0.1, 0.1))
        host = target.domain
        if is_ip(host) or not self.controls:
            return Control(failure=None if is_ip(host) else "dns.error")
        found = await asyncio.gather(*(dns.resolve(host, r, self.ctx) for r in self.controls))
        queries = [q for batch in found for q in batch]
        answered = any(q.answer is not None for q in queries)
        return Control(dns=queries, failure=None if answered else queries[0].failure)

    async def target(self, target: Target) -> Result:
        started_at, start = utc_now(), time.monotonic()
        deadline = self.ctx.settings.target_deadline
        partial = Partial()
        resolved: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        control = asyncio.ensure_future(self.control(target, resolved, start + deadline))
        deadline_hit = False
        error = None
        try:
            await asyncio.wait_for(self._pipeline(target, partial, resolved), deadline)
        except asyncio.TimeoutError as exc:
            # Only the deadline's own expiry counts as the deadline; a stray TimeoutError is a bug.
            if time.monotonic() - start >= deadline * 0.99:
                deadline_hit = True
            else:
                error = describe(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one target, never the run
            error = describe(exc)
        finally:
            if not resolved.done():
                resolved.set_result(_addresses_in(partial.dns))
            await partial.aclose()
        try:
            # The control ran alongside; it gets what is left of the target's deadline.
            remaining = max(deadline - (time.monotonic() - start), 0.05)
            control_result = await asyncio.wait_for(control, remaining)
        except asyncio.TimeoutError:
            failure = "control.timeout" if self.server is not None else "dns.deadline"
            control_result = Control(
                source="server" if self.server is not None else "resolvers", failure=failure
            )
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

    async def _pipeline(
        self, target: Target, partial: Partial, resolved: asyncio.Future[list[str]]
    ) -> None:
        url = httpx.URL(target.url)
        if is_ip(target.domain):
            addresses = [target.domain]
        else:
            queries, addresses = await self.resolve(target.domain)
            partial.dns.extend(queries)
        addresses = cap(addresses, self.ctx.settings.max_addresses)
        resolved.set_result(addresses)
        await observe(url, addresses, self.resolve, self.ctx, partial)


def _addresses_in(queries: Sequence[DNSQuery]) -> list[str]:
    return list(dict.fromkeys(a for q in queries for a in all_addresses(q)))


def _public_settings(settings: Settings) -> dict[str, object]:
    """The settings as recorded: no public source address, no local paths (they name people)."""
    data = settings.model_dump(mode="json")
    data["source_address"] = redact_address(settings.source_address)
    data["ca_bundle"] = settings.ca_bundle.name if settings.ca_bundle else None
    data["fingerprints"] = [Path(p).name for p in settings.fingerprints]
    data["control_token"] = "redacted" if settings.control_token else None
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


async def _check_server(server: ControlClient | None) -> ControlServerStatus | None:
    if server is None:
        return None
    failure, version = await server.health()
    if failure == "control.unauthorized":
        raise ConfigError(f"--control {server.url}: the server did not accept the control token")
    return ControlServerStatus(
        url=_without_credentials(server.url),
        alive=failure is None,
        version=version,
        failure=failure,
    )


def _without_credentials(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


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
    server = server_status = None
    if settings.control_url is not None:
        controls = []  # the server is the control; its resolvers are its own
        server = ControlClient(
            settings.control_url,
            settings.control_token,
            ctx.verify,
            settings.source_address,
            settings.timeout,
            settings.user_agent,
        )
    try:
        probes, checks, server_status = await asyncio.gather(
            _preflight(resolvers, "probe", ctx),
            _preflight(controls, "control", ctx),
            _check_server(server),
        )
        statuses = probes + checks  # each pre-flight also stored its round trip in ctx
        probe_status = [s for s in statuses if s.role == "probe"]
        if not any(s.alive for s in probe_status):
            detail = ", ".join(f"{s.uri} ({s.failure})" for s in probe_status)
            raise NothingMeasured(f"no probe resolver answered: {detail}")
        run = _Run(
            ctx,
            resolvers,
            controls,
            JudgeContext.of(ctx.public, statuses),
            server,
            server_status.failure if server_status else None,
        )
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
        if server is not None:
            await server.aclose()
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
            control_server=server_status,
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
