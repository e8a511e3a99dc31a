"""The library entry point: ``measure(targets, settings)`` returns the run document.

One run: check the resolvers and the control answer at all (``controls``), then measure every
target concurrently (DNS through the probe's and the control's resolvers, TCP and TLS to every
address, HTTP over the first connection that worked), judge each from its observations, and hand
each result to ``on_result`` as soon as it exists so the caller can journal it. Nothing here prints.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import httpx

from censorcheck import __version__
from censorcheck.errors import ConfigError, NothingMeasured
from censorcheck.measure.bogons import is_ip
from censorcheck.measure.controls import OnControl
from censorcheck.measure.elsewhere import Elsewhere
from censorcheck.measure.failures import describe
from censorcheck.measure.fingerprints import Fingerprints, load_fingerprints
from censorcheck.measure.handover import Handover, prepare, vantage_info
from censorcheck.measure.pipeline import Partial, all_addresses, cap, observe, ordered_addresses
from censorcheck.measure.privacy import redact_address
from censorcheck.measure.probes import dns
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.running import each, gather_or_cancel, run_blocking, within
from censorcheck.measure.vantages import Vantage
from censorcheck.measure.verdict import (
    RULES_VERSION,
    JudgeContext,
    Observations,
    safe_judge,
    safe_judge_quic,
)
from censorcheck.measure.verdict.baseline import settle
from censorcheck.models import (
    Control,
    DNSQuery,
    Result,
    Run,
    Summary,
    Target,
    Tool,
    VantageInfo,
)
from censorcheck.settings import Settings

if TYPE_CHECKING:
    from censorcheck.measure.controls import Server

T = TypeVar("T")

OnResult = Callable[[Result], None]
# Asked after a timeout to tell a resolver silent about one name from one that is not there.
CANARY = "example.org"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Run:
    """Shared state of one run: the context, the parsed resolvers, the judge's view."""

    def __init__(
        self,
        ctx: ProbeContext,
        resolvers: list[dns.Resolver],
        controls: list[dns.Resolver],
        judge_ctx: JudgeContext,
        server: Server | None = None,
        server_failure: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.resolvers = resolvers
        self.controls = controls
        self.judge_ctx = judge_ctx
        self.server = server
        self.server_failure = server_failure
        self._owned: Server | None = None
        self.source: Literal["resolvers", "server", "vantage", "ooni"] = (
            "resolvers" if server is None else server.source
        )

    @classmethod
    def of(cls, handover: Handover, ctx: ProbeContext, server: Server | None) -> _Run:
        """The run of ``handover``'s vantage, measuring with ``ctx`` and ``server`` (which it
        closes in ``aclose``)."""
        h = handover
        run = cls(
            ctx,
            list(h.resolvers),
            list(h.control_resolvers),
            JudgeContext.of(ctx.public, h.statuses),
            server,
            h.server_failure,
        )
        run._owned = server
        return run

    async def aclose(self) -> None:
        await self.ctx.aclose()
        if self._owned is not None:
            await self._owned.aclose()

    async def resolve(
        self, host: str, ctx: ProbeContext | None = None
    ) -> tuple[list[DNSQuery], list[str]]:
        """All probe resolvers; the usable addresses in answer order (A first), deduplicated.
        ``ctx`` is the target's context (the run's when None).

        A resolver that times out is asked a canary name at once: answering it shows the silence
        was about this name, not a resolver that died or a lost packet on a flaky link.
        """
        ctx = ctx or self.ctx
        found = await each(self._resolve_one(host, r, ctx) for r in self.resolvers)
        queries = [q for batch in found for q in batch]
        return queries, ordered_addresses(host, queries)

    async def _resolve_one(
        self, host: str, resolver: dns.Resolver, ctx: ProbeContext
    ) -> list[DNSQuery]:
        queries = await dns.resolve(host, resolver, ctx)
        if any(q.failure == "dns.timeout" for q in queries):
            queries.append(await dns.lookup(CANARY, "A", resolver, ctx, retry=False))
        return queries

    async def control(
        self,
        target: Target,
        resolved: asyncio.Future[list[str]],
        deadline_at: float,
        ctx: ProbeContext,
    ) -> Control:
        """The control: from the control server when there is one, else the control resolvers."""
        if self.server is not None:
            if self.server_failure is not None:
                return Control(source=self.source, failure=self.server_failure)
            # The server is told what the probe resolved, so it waits for the probe's lookups.
            addresses = await resolved
            # It must answer before the probe's own deadline, with time to spare for the way back.
            left = deadline_at - time.monotonic()
            return await self.server.measure(target.url, addresses, max(left * 0.9 - 0.1, 0.1))
        host = target.domain
        if is_ip(host) or not self.controls:
            return Control(failure=None if is_ip(host) else "dns.error")
        found = await each(dns.resolve(host, r, ctx) for r in self.controls)
        queries = [q for batch in found for q in batch]
        answered = any(q.answer is not None for q in queries)
        return Control(dns=queries, failure=None if answered else queries[0].failure)

    async def target(self, target: Target) -> Result:
        started_at, start = utc_now(), time.monotonic()
        # Observations of this target record when they began, counted from ``start``.
        ctx = self.ctx.for_target(start)
        resolve = functools.partial(self.resolve, ctx=ctx)
        deadline = self.ctx.settings.target_deadline
        partial = Partial()
        resolved: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        control = asyncio.ensure_future(self.control(target, resolved, start + deadline, ctx))
        # The control's addresses, measured from here beside the probe's own as soon as the
        # control has answered, when the probe's DNS failed or disagreed with it.
        elsewhere = Elsewhere()
        url = httpx.URL(target.url)
        extra = asyncio.ensure_future(elsewhere.run(url, control, resolved, partial, resolve, ctx))
        deadline_hit = False
        error = None
        try:
            await within(self._pipeline(target, url, partial, resolved, ctx), deadline)
            await partial.https_answered(deadline - (time.monotonic() - start))
        except asyncio.TimeoutError as exc:
            # Only the deadline's own expiry counts as the deadline; a stray TimeoutError is a bug.
            if time.monotonic() - start >= deadline * 0.99:
                deadline_hit = True
            else:
                error = describe(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one target, never the run
            error = describe(exc)
        except asyncio.CancelledError:
            extra.cancel()  # the run is being stopped: nothing must dial on after it
            raise
        finally:
            if not resolved.done():
                resolved.set_result(_addresses_in(partial.dns))
            await partial.aclose()
        try:
            await asyncio.wait_for(extra, max(deadline - (time.monotonic() - start), 0.05))
        except asyncio.TimeoutError:
            elsewhere.deadline_hit = True
        except Exception as exc:  # noqa: BLE001
            error = error or describe(exc)
        finally:
            await elsewhere.partial.aclose()
        try:
            # The control ran alongside; it gets what is left of the target's deadline.
            remaining = max(deadline - (time.monotonic() - start), 0.05)
            control_result = await asyncio.wait_for(control, remaining)
        except asyncio.TimeoutError:
            failure = "control.timeout" if self.server is not None else "dns.deadline"
            control_result = Control(source=self.source, failure=failure)
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
            control_addresses=elsewhere.result(),
            quic=partial.quic,
        )
        return Result(
            vantage=self.ctx.settings.vantage,
            started_at=started_at,
            t=round(time.monotonic() - start, 6),
            verdict=safe_judge(obs, self.judge_ctx),
            quic_verdict=safe_judge_quic(obs),
            dns_https=partial.dns_https,
            **obs.fields(),
        )

    async def _pipeline(
        self,
        target: Target,
        url: httpx.URL,
        partial: Partial,
        resolved: asyncio.Future[list[str]],
        ctx: ProbeContext,
    ) -> None:
        resolve = functools.partial(self.resolve, ctx=ctx)
        if is_ip(target.domain):
            addresses = [target.domain]
        else:
            partial.ask_https_record(url, self.resolvers, ctx)
            queries, addresses = await resolve(target.domain)
            partial.dns.extend(queries)
        addresses = cap(addresses, self.ctx.settings.max_addresses)
        resolved.set_result(addresses)
        await observe(url, addresses, resolve, ctx, partial)


def runnable(settings: Settings, vantage: str | None = None) -> Settings:
    """``settings`` once every resolver URI in them parses: what ``run`` checks before it
    measures, and ``vantage add`` before it saves (one-line ConfigError otherwise)."""
    for uri in [*settings.resolvers, *settings.control_resolvers]:
        try:
            dns.parse_resolver(uri)
        except ConfigError as exc:
            raise ConfigError(f"vantage {vantage}: {exc}" if vantage else str(exc)) from None
    return settings


def _addresses_in(queries: Sequence[DNSQuery]) -> list[str]:
    return list(dict.fromkeys(a for q in queries for a in all_addresses(q)))


def public_settings(settings: Settings) -> dict[str, object]:
    """The settings as recorded: no public source address, no local paths (they name people)."""
    data = settings.model_dump(mode="json")
    data["source_address"] = redact_address(settings.source_address)
    data["ca_bundle"] = settings.ca_bundle.name if settings.ca_bundle else None
    data["geo_db"] = settings.geo_db.name if settings.geo_db else None
    data["fingerprints"] = [Path(p).name for p in settings.fingerprints]
    data["control_token"] = "redacted" if settings.control_token else None
    return data


async def ameasure(
    targets: Sequence[Target],
    settings: Settings,
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
    about: Vantage | None = None,
    control_vantage: Settings | None = None,
    on_control: OnControl | None = None,
) -> Run:
    """Measure ``targets`` from one vantage and return the run document.

    ``about`` is what the user configured about the vantage (recorded, never dialled);
    ``control_vantage`` makes another vantage the control, in place of resolvers or a server;
    ``on_control`` hears which control the pre-flight chose, before any target is measured.
    """
    started_at = utc_now()
    if fingerprints is None:
        fingerprints = load_fingerprints(settings.fingerprints)
    prepared = await prepare(settings, fingerprints, about, control_vantage, on_control)
    run = _Run.of(prepared.handover, prepared.ctx, prepared.server)
    try:
        semaphore = asyncio.Semaphore(settings.concurrency)

        async def bounded(target: Target) -> Result:
            async with semaphore:
                result = await run.target(target)
            if on_result is not None:
                on_result(result)
            return result

        results = await gather_or_cancel(bounded(t) for t in targets)
    finally:
        await run.aclose()
    # Run-level baseline (issue 14): every result of the vantage settled against the others.
    settled, baselines = settle(results)
    return Run(
        run_id=str(uuid.uuid4()),
        started_at=started_at,
        finished_at=utc_now(),
        tool=Tool(version=__version__),
        vantage=prepared.handover.info,
        vantages=[prepared.handover.info],
        settings=public_settings(settings),
        rules_version=RULES_VERSION,
        results=settled,
        summary=Summary.of(settled),
        baselines=baselines,
    )


# One vantage's share of a run: its settings, what the user said about it, its targets.
VantageTargets = tuple[Settings, "Vantage | None", Sequence[Target]]


async def ameasure_many(
    plans: Sequence[VantageTargets],
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
    control_vantage: Settings | None = None,
    on_control: OnControl | None = None,
) -> Run:
    """Measure from every vantage at once; one run document with all of them.

    A vantage whose resolvers all fail is recorded with its failure and the others go on; the
    run fails only when no vantage could measure anything.
    """
    if fingerprints is None:
        fingerprints = load_fingerprints(plans[0][0].fingerprints)
    if len(plans) == 1:
        settings, about, targets = plans[0]
        return await ameasure(
            targets, settings, on_result, fingerprints, about, control_vantage, on_control
        )
    started_at = utc_now()
    outcomes = await asyncio.gather(
        *(
            ameasure(targets, s, on_result, fingerprints, about, control_vantage, on_control)
            for s, about, targets in plans
        ),
        return_exceptions=True,
    )
    runs: list[Run] = []
    infos: list[VantageInfo] = []
    for (settings, about, _), outcome in zip(plans, outcomes, strict=True):
        if isinstance(outcome, NothingMeasured):
            info = vantage_info(settings, [], False, about, None, control_vantage)
            infos.append(info.model_copy(update={"failure": str(outcome)}))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            runs.append(outcome)
            infos.append(outcome.vantage)
    if not runs:
        failed = [o for o in outcomes if isinstance(o, NothingMeasured)]
        raise NothingMeasured("; ".join(f"{i.name}: {i.failure}" for i in infos)) from failed[0]
    results = [r for run in runs for r in run.results]
    return runs[0].model_copy(
        update={
            "run_id": str(uuid.uuid4()),
            "started_at": started_at,
            "finished_at": utc_now(),
            "vantage": infos[0],
            "vantages": infos,
            "results": results,
            "summary": Summary.of(results),
            "baselines": [b for run in runs for b in run.baselines],
        }
    )


def measure(
    targets: Sequence[Target],
    settings: Settings,
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
) -> Run:
    """Blocking wrapper around :func:`ameasure`."""
    return run_blocking(ameasure(targets, settings, on_result, fingerprints))


def measure_many(
    plans: Sequence[VantageTargets],
    on_result: OnResult | None = None,
    fingerprints: Fingerprints | None = None,
    control_vantage: Settings | None = None,
    on_control: OnControl | None = None,
) -> Run:
    """Blocking wrapper around :func:`ameasure_many`."""
    return run_blocking(ameasure_many(plans, on_result, fingerprints, control_vantage, on_control))
