"""What a run decides once, before the first target, and hands to every process that measures.

``prepare`` checks the vantage: its source address, its probe resolvers (the pre-flight), which
control answers, and what network it is on (``geo``). The answers go into a ``Handover``, a frozen
and picklable value: a worker process builds its sockets' context from it and measures at once,
asking nothing of the network again, so N workers cost one pre-flight, not N.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from censorcheck.errors import ConfigError, NothingMeasured
from censorcheck.measure import controls as control_plan
from censorcheck.measure import geo
from censorcheck.measure.controls import LocalControl, OnControl, without_credentials
from censorcheck.measure.fingerprints import Fingerprints
from censorcheck.measure.privacy import redact_address
from censorcheck.measure.probes import dns
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.vantages import Vantage
from censorcheck.models import ControlServerStatus, ResolverStatus, VantageInfo
from censorcheck.settings import Settings

if TYPE_CHECKING:
    from censorcheck.control.protocol import Limits
    from censorcheck.measure.controls import Server


class Done(NamedTuple):
    """One measured target on its way to the journal: where it stands in the run (the vantage's
    and the target's index), what the progress bar shows, and the journal record itself."""

    vantage: int
    position: int
    domain: str
    status: str
    line: str


@dataclass(frozen=True)
class Handover:
    """One vantage as the pre-flight left it: everything a process needs to measure from it."""

    settings: Settings
    control_vantage: Settings | None
    fingerprints: Fingerprints
    ipv6: bool
    resolvers: tuple[dns.Resolver, ...]  # the probe's, ``system`` read from resolv.conf once
    control_resolvers: tuple[dns.Resolver, ...]  # the DNS control, when no server measures
    statuses: tuple[ResolverStatus, ...]  # every resolver's pre-flight, probe and control
    resolver_rtt: tuple[tuple[str, float], ...]  # round trips the pre-flight measured
    control_rtt: tuple[tuple[str, float], ...]  # the control vantage's, when there is one
    server: Literal["none", "remote", "vantage"]  # who measures each target from elsewhere
    server_failure: str | None  # every target's control failure (a dead server kept)
    limits: Limits | None  # what the control server lets this run ask, all processes together
    helper: str | None  # the OONI helper that answered first
    info: VantageInfo  # the vantage as the document records it

    @property
    def source(self) -> Literal["resolvers", "server", "vantage", "ooni"]:
        """What ``control.source`` says for this vantage's targets."""
        if self.server == "vantage":
            return "vantage"
        if self.server == "remote":
            return "ooni" if self.settings.ooni_helpers else "server"
        return "resolvers"


def detect_ipv6(settings: Settings) -> bool:
    """Whether this vantage can reach IPv6 destinations at all.

    A UDP ``connect`` only asks the kernel for a route; no packet is sent.
    """
    if settings.ipv6 != "auto":
        return settings.ipv6 == "on"
    if settings.proxy is not None:
        return False  # what the proxy's network can reach is not for this machine to say
    if settings.source_address is not None:
        return ipaddress.ip_address(settings.source_address).version == 6
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.connect(("2001:4860:4860::8888", 53))
        return not ipaddress.ip_address(s.getsockname()[0]).is_link_local
    return False


def check_source_address(address: str) -> None:
    """ConfigError when no interface of this machine has ``address``: every probe would fail
    alike, and the first (the resolver pre-flight) would blame the resolvers."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(
                    f"--source-address {address}: this machine has no such address "
                    "(`ip address` lists the ones it has)"
                ) from None
            raise ConfigError(
                f"--source-address {address}: cannot bind to it ({exc.strerror or exc})"
            ) from None


def context(settings: Settings, fingerprints: Fingerprints | None, ipv6: bool) -> ProbeContext:
    # The CA bundle's errors (missing, a directory, unreadable, not PEM) are ConfigErrors.
    return ProbeContext.create(settings, ipv6, fingerprints)


def vantage_info(
    settings: Settings,
    statuses: Sequence[ResolverStatus],
    ipv6: bool,
    about: Vantage | None,
    server_status: ControlServerStatus | None,
    control_vantage: Settings | None,
    identity: geo.Identity | None = None,
) -> VantageInfo:
    """The vantage as the run document records it."""
    return VantageInfo(
        name=settings.vantage,
        source_address=redact_address(settings.source_address),
        proxy=without_credentials(settings.proxy) if settings.proxy else None,
        country=identity.country if identity else about.country if about else None,
        asn=identity.asn if identity else about.asn if about else None,
        network=identity.network if identity else None,
        network_type=about.network_type if about else None,
        notes=about.notes if about else None,
        resolvers=list(statuses),
        ipv6=ipv6,
        control_server=server_status,
        control_vantage=control_vantage.vantage if control_vantage else None,
    )


class Prepared(NamedTuple):
    """The handover, and the live context and control it was made with (to measure in this
    process without building them again)."""

    handover: Handover
    ctx: ProbeContext
    server: Server | None


async def prepare(
    settings: Settings,
    fingerprints: Fingerprints,
    about: Vantage | None = None,
    control_vantage: Settings | None = None,
    on_control: OnControl | None = None,
) -> Prepared:
    """Pre-flight one vantage; NothingMeasured when no probe resolver (or no control) answers.

    On success the caller owns ``ctx`` and ``server`` and closes them.
    """
    if settings.source_address is not None:
        check_source_address(str(settings.source_address))
    # `system` reads /etc/resolv.conf once here, not once per lookup.
    resolvers = [dns.expand_system(dns.parse_resolver(u)) for u in settings.resolvers]
    controls = [dns.expand_system(dns.parse_resolver(u)) for u in settings.control_resolvers]
    ctx = context(settings, fingerprints, detect_ipv6(settings))
    server: Server | None = None
    try:
        if control_vantage is not None:
            ipv6 = detect_ipv6(control_vantage)
            server = LocalControl(control_vantage, context(control_vantage, fingerprints, ipv6))
        else:
            server = control_plan.server_for(settings, ctx)
        probes, chosen = await _preflight(resolvers, controls, server, ctx, settings)
        if on_control is not None:
            on_control(settings, chosen)
        reported = (
            server.client_address if server is not None and server.source == "server" else None
        )
        identity = await geo.identify(settings, about, reported, resolvers, controls, ctx)
        del reported
        statuses = probes + chosen.statuses  # each pre-flight also stored its round trip in ctx
    except BaseException:
        await ctx.aclose()
        if server is not None:
            await server.aclose()
        raise
    if chosen.server is None and server is not None:
        await server.aclose()  # the control resolvers stand in: nobody asks the server
        server = None
    kind: Literal["none", "remote", "vantage"] = (
        "none" if server is None else "vantage" if isinstance(server, LocalControl) else "remote"
    )
    info = vantage_info(
        settings, statuses, ctx.ipv6, about, chosen.server_status, control_vantage, identity
    )
    handover = Handover(
        settings=settings,
        control_vantage=control_vantage,
        fingerprints=fingerprints,
        ipv6=ctx.ipv6,
        resolvers=tuple(resolvers),
        control_resolvers=tuple(chosen.resolvers),
        statuses=tuple(statuses),
        resolver_rtt=tuple(ctx.resolver_rtt.items()),
        control_rtt=tuple(server.ctx.resolver_rtt.items())
        if isinstance(server, LocalControl)
        else (),
        server=kind,
        server_failure=chosen.server_failure,
        limits=server.limits if server is not None and server.source == "server" else None,
        helper=server.url if server is not None and server.source == "ooni" else None,
        info=info,
    )
    return Prepared(handover, ctx, server)


async def _preflight(
    resolvers: list[dns.Resolver],
    controls: list[dns.Resolver],
    server: Server | None,
    ctx: ProbeContext,
    settings: Settings,
) -> tuple[list[ResolverStatus], control_plan.ControlPlan]:
    probes, chosen = await asyncio.gather(
        control_plan.preflight(resolvers, "probe", ctx),
        control_plan.plan(server, controls, ctx, settings.no_control_ok),
        return_exceptions=True,
    )
    # A dead probe resolver is the first thing to fix, whatever the control did.
    if isinstance(probes, BaseException):
        raise probes
    if not any(s.alive for s in probes):
        detail = ", ".join(f"{s.uri} ({s.failure})" for s in probes)
        raise NothingMeasured(f"no probe resolver answered: {detail}")
    if isinstance(chosen, BaseException):
        raise chosen
    return probes, chosen


def share(total: int, workers: int, worker: int) -> int:
    """Worker ``worker``'s part of ``total`` (a concurrency, a server's slots): the parts of
    all ``workers`` add up to it exactly."""
    return total // workers + (worker < total % workers)


def most_workers(handovers: Sequence[Handover | None]) -> int | None:
    """The most processes a run may measure with and still give each its own part of every
    control server's grant (at least one slot and one measurement of burst), or None when no
    server limits it. More would each take one the grant does not have: a 429, and a target
    without a control."""
    grants = [h.limits for h in handovers if h is not None and h.limits is not None]
    return min((min(g.max_in_flight, g.burst) for g in grants), default=None)


def part_of(limits: Limits, workers: int, worker: int) -> Limits:
    """Worker ``worker``'s part of a grant made to the whole run."""
    return limits.model_copy(
        update={
            "max_in_flight": share(limits.max_in_flight, workers, worker),
            "burst": share(limits.burst, workers, worker),
            "rate": limits.rate / workers,
        }
    )


async def rebuild(
    handover: Handover, worker: int = 0, workers: int = 1
) -> tuple[ProbeContext, Server | None]:
    """In a worker process: the context and control client of ``handover``'s vantage, without
    asking the network anything. Worker ``worker`` of ``workers`` keeps to its own part of the
    control server's limits (they are granted to the run, not to each process)."""
    h = handover
    ctx = context(h.settings, h.fingerprints, h.ipv6)
    ctx.resolver_rtt.update(h.resolver_rtt)
    server: Server | None = None
    if h.server == "vantage" and h.control_vantage is not None:
        theirs = context(h.control_vantage, h.fingerprints, detect_ipv6(h.control_vantage))
        theirs.resolver_rtt.update(h.control_rtt)
        server = LocalControl(h.control_vantage, theirs)
    elif h.server == "remote":
        server = control_plan.server_for(h.settings, ctx)
        if server is not None and server.source == "server" and h.limits is not None:
            server.keep_to(part_of(h.limits, workers, worker))
        if server is not None and server.source == "ooni" and h.helper is not None:
            server.url = h.helper
    return ctx, server
