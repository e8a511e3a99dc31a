"""One scan, phase by phase: control, profile, query, discount, check, judge.

1. The control resolvers must answer a pre-flight query; then they are asked every name once.
2. Each resolver is asked the probe domains and a random name that does not exist
   (:mod:`censorcheck.scan.profile`). Resolvers that answer nothing, or answer wrongly, are
   dropped here: they are never asked the targets.
3. The rest are asked every domain, each resolver at its own pace and in its own random order
   (so that the domains' name servers do not see every resolver at once). A name that goes
   unanswered through every retry is followed by a probe domain, the canary.
4. Addresses a resolver gives for nearly every domain, unlike the control, are discounted.
5. Each answer is compared with the control's (:mod:`censorcheck.scan.checks`), by address, by
   ASN, and when both differ by a TLS handshake naming the domain.
6. Each pair gets its verdict (:mod:`censorcheck.scan.verdict`).
"""

from __future__ import annotations

import asyncio
import functools
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import dns.exception

from censorcheck import __version__
from censorcheck.errors import ConfigError
from censorcheck.measure.api import utc_now
from censorcheck.measure.privacy import redact_address
from censorcheck.measure.probes import dns as dnsprobe
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.running import run_blocking
from censorcheck.models import DNSQuery, Tool
from censorcheck.scan import profile
from censorcheck.scan.checks import ASNDatabase, TLSChecker, compare, is_bogon_in, needs_tls
from censorcheck.scan.models import (
    Canary,
    Checks,
    ControlAnswer,
    Observation,
    ScanDocument,
    ScanResolver,
    ScanResult,
    ScanSettings,
    ScanStats,
    ScanSummary,
)
from censorcheck.scan.query import Pacer, QueryEngine, Question, Reply
from censorcheck.scan.resolvers import ResolverSpec
from censorcheck.scan.verdict import Where, judge
from censorcheck.settings import Settings

OnProgress = Callable[[int, int], None]
"""Called with (pairs done, pairs in all) as the scan goes."""

_CONTROL_CONCURRENCY = 64
_TLS_CONCURRENCY = 64


def _question(name: str, what: str) -> Question:
    try:
        return Question.for_name(name)
    except (dns.exception.DNSException, ValueError):
        raise ConfigError(f"{what} {name!r}: not a domain name that can be asked") from None


def _observation(question: Question, reply: Reply, canary: Canary | None = None) -> Observation:
    return Observation(
        name=question.name,
        transport="tcp" if reply.transport == "tcp" else "udp",
        rcode=reply.rcode,
        addresses=reply.addresses,
        cnames=reply.cnames,
        failure=reply.failure,
        attempts=reply.attempts,
        t=round(reply.t, 6) if reply.t is not None else None,
        canary=canary,
    )


def probe_context(settings: ScanSettings) -> ProbeContext:
    """The context the control lookups and TLS checks share (SSL contexts, DoH client, bogons)."""
    values: dict[str, Any] = {
        "control_resolvers": settings.control_resolvers,
        "source_address": settings.source_address,
        "ca_bundle": settings.ca_bundle,
        "timeout": settings.timeout,
        "ipv6": "off",  # A records only: every address judged is IPv4
        "dns_linger_max": 0.0,  # control lookups need no watch for injected duplicates
        "port_map": settings.port_map,
        "treat_as_public": settings.treat_as_public,
    }
    # The CA bundle's errors (missing, a directory, unreadable, not PEM) are ConfigErrors.
    return ProbeContext.create(Settings(**values), False)


def _public_settings(settings: ScanSettings) -> dict[str, object]:
    """The settings as recorded: no public source address, no local paths (they name people)."""
    data = settings.model_dump(mode="json")
    data["source_address"] = redact_address(settings.source_address)
    data["ca_bundle"] = settings.ca_bundle.name if settings.ca_bundle else None
    data["asn_db"] = settings.asn_db.name if settings.asn_db else None
    return data


class _Scan:
    """The shared state of one scan."""

    def __init__(
        self,
        domains: Sequence[str],
        resolvers: Sequence[ResolverSpec],
        settings: ScanSettings,
        ctx: ProbeContext,
        asn_db: ASNDatabase | None,
        on_progress: OnProgress | None,
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.asn_db = asn_db
        self.on_progress = on_progress
        self.specs = list(resolvers)
        self.domains = list(dict.fromkeys(domains))
        self.targets = [_question(d, "target") for d in self.domains]
        self.probes = [_question(d, "--probe-domain") for d in settings.probe_domains]
        self.nonexistent = _question(f"{secrets.token_hex(5)}.{settings.probe_domains[0]}", "")
        self.controls = [
            dnsprobe.expand_system(dnsprobe.parse_resolver(u)) for u in settings.control_resolvers
        ]
        self.control_answers: dict[str, ControlAnswer] = {}
        self.control_queries = 0
        self.engine = QueryEngine(settings.timeout, settings.source_address)
        self.tls = TLSChecker(ctx, _TLS_CONCURRENCY)
        self.slots = asyncio.Semaphore(settings.concurrency)
        width = len(self.domains)
        self.observed: list[list[Observation | None]] = [[None] * width for _ in resolvers]
        self.profiles: list[tuple[profile.Profile, list[Observation]] | None] = [None] * len(
            self.specs
        )
        self.queries = [0] * len(self.specs)
        self.done = 0
        self.total = len(self.specs) * len(self.domains)

    # --- control -------------------------------------------------------------------------

    async def preflight(self) -> None:
        """Every control resolver must answer: without a control nothing can be judged."""
        canary = self.settings.probe_domains[0]
        statuses = await asyncio.gather(
            *(dnsprobe.preflight(r, self.ctx, canary, role="control") for r in self.controls)
        )
        for status in statuses:
            if not status.alive:
                raise ConfigError(
                    f"control resolver {status.uri} did not answer a query for {canary} "
                    f"({status.failure}); give one that works with --control-resolver"
                )

    async def control(self, names: Sequence[str]) -> None:
        """The control's answer for each of ``names``."""
        slots = asyncio.Semaphore(_CONTROL_CONCURRENCY)

        async def one(name: str) -> None:
            async with slots:
                queries = await asyncio.gather(
                    *(dnsprobe.lookup(name, "A", r, self.ctx) for r in self.controls)
                )
            self.control_queries += len(queries)
            self.control_answers[name] = self._control_answer(list(queries))

        await asyncio.gather(*(one(n) for n in names if n not in self.control_answers))

    def _control_answer(self, queries: list[DNSQuery]) -> ControlAnswer:
        addresses = list(
            dict.fromkeys(
                a for q in queries if q.answer and q.failure is None for a in q.answer.addresses
            )
        )
        if addresses:
            asns = self.asn_db.asns(addresses) if self.asn_db else None
            return ControlAnswer(status="resolved", addresses=addresses, asns=asns, queries=queries)
        gone = any(q.answer is not None and q.failure in (None, "dns.nxdomain") for q in queries)
        return ControlAnswer(status="gone" if gone else "failed", queries=queries)

    # --- the resolvers -------------------------------------------------------------------

    def _progress(self, n: int) -> None:
        self.done += n
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    async def _ask(self, ri: int, question: Question, pacer: Pacer) -> Reply:
        spec = self.specs[ri]
        retries = self.settings.retries
        reply = await self.engine.ask(question, spec.address, spec.port, retries, pacer.take)
        self.queries[ri] += reply.attempts
        return reply

    async def resolver(self, ri: int) -> None:
        """Profile one resolver; if it can be trusted, ask it every domain, paced."""
        pacer = Pacer(self.settings.rate, self.settings.burst)
        asked = [*self.probes, self.nonexistent]
        replies: list[Reply] = [Reply()] * len(asked)

        async def profile_one(i: int) -> None:
            replies[i] = await self._ask(ri, asked[i], pacer)

        await self._paced(pacer, [functools.partial(profile_one, i) for i in range(len(asked))])
        observed = [_observation(q, r) for q, r in zip(asked, replies, strict=True)]
        probes = [
            (obs, self.control_answers[obs.name], self._matches(obs))
            for obs in observed[: len(self.probes)]
        ]
        nonexistent = self.control_answers[self.nonexistent.name]
        found = profile.classify_resolver(probes, observed[-1], nonexistent)
        self.profiles[ri] = (found, observed)
        if found[0] in ("unresponsive", "failed_control"):
            self._progress(len(self.domains))
            return
        order = list(range(len(self.domains)))
        random.shuffle(order)
        await self._paced(pacer, [functools.partial(self._target, ri, di, pacer) for di in order])

    async def _paced(
        self, pacer: Pacer, jobs: Sequence[Callable[[], Coroutine[Any, Any, None]]]
    ) -> None:
        """Start each job in a free slot of the scan and a slot of the resolver's pace; wait.

        The slot is taken before the pace, so a resolver never holds more than one slot while
        it waits for its turn, and every query goes out the moment its turn comes.
        """
        tasks: set[asyncio.Task[None]] = set()
        try:
            for job in jobs:
                await self.slots.acquire()
                try:
                    await pacer.take()
                    task = asyncio.ensure_future(job())
                except BaseException:
                    self.slots.release()
                    raise
                task.add_done_callback(lambda _: self.slots.release())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _target(self, ri: int, di: int, pacer: Pacer) -> None:
        question = self.targets[di]
        reply = await self._ask(ri, question, pacer)
        canary = None
        if reply.failure == "dns.timeout":
            # Silence about one name, or a resolver gone? Ask a name it answered before.
            await pacer.take()
            probe = await self._ask(ri, self.probes[0], pacer)
            canary = Canary(name=self.probes[0].name, rcode=probe.rcode, failure=probe.failure)
        self.observed[ri][di] = _observation(question, reply, canary)
        self._progress(1)

    def _matches(self, obs: Observation) -> bool:
        control = self.control_answers[obs.name]
        if obs.failure is not None or not obs.addresses or control.status != "resolved":
            return False
        checks = self._compare(obs, control, ())
        return bool(checks.overlap or checks.asn_match)

    def _compare(
        self, obs: Observation, control: ControlAnswer, discounted: Sequence[str]
    ) -> Checks:
        return compare(
            obs.addresses,
            set(control.addresses),
            set(discounted),
            is_bogon_in(self.ctx),
            control.asns,
            self.asn_db,
        )

    # --- after the queries ---------------------------------------------------------------

    def settle(self) -> list[ScanResolver]:
        """Each resolver's final status: its profile's, or answers_everything from its answers."""
        settled = []
        for ri, spec in enumerate(self.specs):
            found = self.profiles[ri]
            assert found is not None
            (status, reason, everywhere), observed = found
            if status in ("ok", "answers_everything"):
                answers = [
                    (obs, self.control_answers[obs.name])
                    for obs in self.observed[ri]
                    if obs is not None and obs.addresses
                ]
                more, why = profile.everywhere_addresses(
                    answers,
                    len(self.domains),
                    self.settings.everywhere_fraction,
                    self.settings.everywhere_min,
                )
                if more:
                    everywhere = list(dict.fromkeys([*everywhere, *more]))
                    reason = why if status == "ok" else f"{reason}; {why}"
                    status = "answers_everything"
            settled.append(
                ScanResolver(
                    address=spec.address,
                    port=spec.port,
                    country=spec.country,
                    asn=spec.asn,
                    note=spec.note,
                    status=status,
                    reason=reason,
                    profile=observed,
                    everywhere=everywhere,
                    queries=self.queries[ri],
                )
            )
        return settled

    async def check(self, resolvers: Sequence[ScanResolver]) -> list[list[Checks | None]]:
        """The checks on every answer with addresses; TLS handshakes where only they can tell."""
        found: list[list[Checks | None]] = [[None] * len(self.domains) for _ in resolvers]
        handshakes = []
        for ri, resolver in enumerate(resolvers):
            for di, obs in enumerate(self.observed[ri]):
                if obs is None or obs.failure is not None or not obs.addresses:
                    continue
                checks = self._compare(obs, self.control_answers[obs.name], resolver.everywhere)
                found[ri][di] = checks
                if needs_tls(checks) and self.control_answers[obs.name].status == "resolved":
                    handshakes.append((ri, di, checks))

        async def handshake(ri: int, di: int, checks: Checks) -> None:
            addresses = checks.judged[: self.settings.max_addresses]
            tls = await asyncio.gather(*(self.tls.check(a, self.domains[di]) for a in addresses))
            found[ri][di] = checks.model_copy(update={"tls": list(tls)})

        await asyncio.gather(*(handshake(*h) for h in handshakes))
        return found

    def judge(
        self, resolvers: Sequence[ScanResolver], checks: list[list[Checks | None]]
    ) -> list[ScanResult]:
        results: list[ScanResult] = []
        for ri, resolver in enumerate(resolvers):
            label = self.specs[ri].label
            for di, domain in enumerate(self.domains):
                obs, found = self.observed[ri][di], checks[ri][di]
                where = Where(f"/results/{len(results)}", f"/resolvers/{ri}", f"/controls/{domain}")
                control = self.control_answers[domain]
                verdict = judge(resolver, control, obs, found, where)
                results.append(
                    ScanResult(
                        resolver=label,
                        domain=domain,
                        observation=obs,
                        checks=found,
                        verdict=verdict,
                    )
                )
        return results


def summarise(resolvers: Sequence[ScanResolver], results: Sequence[ScanResult]) -> ScanSummary:
    return ScanSummary(
        results=len(results),
        by_status=dict(Counter(r.verdict.status for r in results)),
        by_outcome=dict(Counter(r.verdict.outcome for r in results)),
        resolvers_by_status=dict(Counter(r.status for r in resolvers)),
    )


async def scan(
    domains: Sequence[str],
    resolvers: Sequence[ResolverSpec],
    settings: ScanSettings,
    on_progress: OnProgress | None = None,
) -> ScanDocument:
    """Ask every resolver about every domain and judge each answer against the control.

    Raises ConfigError (before any query) for settings that cannot work, and when a control
    resolver does not answer. Nothing is printed; progress goes to ``on_progress``.
    """
    started_at, start = utc_now(), time.monotonic()
    if not domains:
        raise ConfigError("no domain names to scan")
    if not resolvers:
        raise ConfigError("no resolvers to scan")
    asn_db = ASNDatabase.open(settings.asn_db) if settings.asn_db is not None else None
    try:
        ctx = probe_context(settings)
    except BaseException:
        if asn_db is not None:
            asn_db.close()
        raise
    run: _Scan | None = None
    try:
        run = _Scan(domains, resolvers, settings, ctx, asn_db, on_progress)
        await run.preflight()
        await run.control([q.name for q in (*run.probes, run.nonexistent)])
        targets = asyncio.ensure_future(run.control(run.domains))
        try:
            await asyncio.gather(*(run.resolver(ri) for ri in range(len(run.specs))))
        except BaseException:
            targets.cancel()
            raise
        await targets
        settled = run.settle()
        checks = await run.check(settled)
        results = run.judge(settled, checks)
    finally:
        if run is not None:
            run.engine.close()
            await run.tls.aclose()
        await ctx.aclose()
        if asn_db is not None:
            asn_db.close()
    return ScanDocument(
        scan_id=str(uuid.uuid4()),
        started_at=started_at,
        finished_at=utc_now(),
        tool=Tool(version=__version__),
        settings=_public_settings(settings),
        domains=run.domains,
        nonexistent=run.nonexistent.name,
        resolvers=settled,
        controls=run.control_answers,
        results=results,
        stats=ScanStats(
            queries=run.engine.sent,
            timeouts=run.engine.timeouts,
            tcp_fallbacks=run.engine.tcp_fallbacks,
            control_queries=run.control_queries,
            tls_checks=run.tls.made,
            t=round(time.monotonic() - start, 6),
        ),
        summary=summarise(settled, results),
    )


def scan_sync(
    domains: Sequence[str],
    resolvers: Sequence[ResolverSpec],
    settings: ScanSettings,
    on_progress: OnProgress | None = None,
) -> ScanDocument:
    """Blocking wrapper around :func:`scan`."""
    return run_blocking(scan(domains, resolvers, settings, on_progress))
