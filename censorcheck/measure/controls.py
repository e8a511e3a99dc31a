"""A run's control, chosen before the first target: which one answers, and what to do if none.

A run may have a control that measures each target from elsewhere (a censorcheck control server,
OONI test helpers, or another vantage of the run) and always has control resolvers, asked from
this machine. Both are pre-flighted. The one that measures from elsewhere is used when it
answers; when it does not, the control resolvers stand in as the DNS control for the whole run
(the record says so: ``control.source`` is then ``resolvers``); when nothing answers the run
stops, unless the user asked to measure without a control.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

import httpx

from censorcheck.control.measure import measure_here
from censorcheck.errors import ConfigError, NothingMeasured
from censorcheck.measure.probes import dns
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import Control, ControlServerStatus, ResolverStatus
from censorcheck.settings import Settings

if TYPE_CHECKING:
    # Imported where a client is made: a run with no control server (the control resolvers,
    # another vantage) does not load the clients and their protocols (about 9 ms).
    from censorcheck.control.client import ControlClient
    from censorcheck.control.ooni_client import OONIClient


class LocalControl:
    """Another vantage of this run as the control: it measures each target as a control server
    would (its own resolvers, its own way out), alongside the probe."""

    source: Literal["vantage"] = "vantage"

    def __init__(self, settings: Settings, ctx: ProbeContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.resolvers = [dns.expand_system(dns.parse_resolver(u)) for u in settings.resolvers]

    async def preflight(self) -> list[ResolverStatus]:
        return await preflight(self.resolvers, "control", self.ctx)

    async def measure(self, url: str, addresses: list[str], deadline: float) -> Control:
        return await measure_here(
            url,
            addresses,
            self.ctx,
            self.resolvers,
            deadline,
            source="vantage",
            vantage=self.settings.vantage,
        )

    async def aclose(self) -> None:
        await self.ctx.aclose()


Server: TypeAlias = "ControlClient | OONIClient | LocalControl"


def server_for(settings: Settings, ctx: ProbeContext) -> ControlClient | OONIClient | None:
    """The client of the control server or OONI helpers ``settings`` names, if any."""
    if settings.control_url is None:
        return None
    from censorcheck.control.client import ControlClient
    from censorcheck.control.ooni_client import OONIClient

    way_out = (settings.source_address, settings.timeout, settings.user_agent, settings.proxy)
    if settings.ooni_helpers:
        # OONI's public helpers take no token: one set for the user's own server stays home.
        token = None if settings.uses_public_helpers else settings.control_token
        return OONIClient(settings.ooni_helpers, token, ctx.verify, *way_out, quic=settings.quic)
    return ControlClient(
        settings.control_url, settings.control_token, ctx.verify, *way_out, quic=settings.quic
    )


async def preflight(
    resolvers: list[dns.Resolver], role: Literal["probe", "control"], ctx: ProbeContext
) -> list[ResolverStatus]:
    return list(await asyncio.gather(*(dns.preflight(r, ctx, role=role) for r in resolvers)))


async def check_server(server: ControlClient | OONIClient) -> ControlServerStatus:
    failure, version = await server.health()
    if failure == "control.unauthorized":
        if server.sends_token:
            raise ConfigError(f"--control {server.url}: it did not accept the control token")
        raise ConfigError(f"--control {server.url}: it asks for a token; set "
                          "CENSORCHECK_CONTROL_TOKEN (or --control-token)")  # fmt: skip
    return ControlServerStatus(
        url=without_credentials(server.url),
        protocol="ooni" if server.source == "ooni" else "censorcheck",
        alive=failure is None,
        version=version,
        failure=failure,
    )


def without_credentials(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


@dataclass
class ControlPlan:
    """The control a run measures with, once the pre-flight has spoken."""

    server: Server | None  # measures each target; None: the control resolvers do, DNS only
    resolvers: list[dns.Resolver]  # the DNS control when there is no server
    statuses: list[ResolverStatus] = field(default_factory=list)  # every control resolver's
    server_status: ControlServerStatus | None = None  # recorded as vantage.control_server
    server_failure: str | None = None  # every target's control failure (a dead server kept)
    answered: bool = True  # False: measuring without a control that answered (--no-control-ok)
    silent_vantage: str | None = None  # a control vantage none of whose resolvers answered

    @property
    def kind(self) -> Literal["server", "ooni", "vantage", "resolvers"]:
        """Who makes the control measurement of each target."""
        return "resolvers" if self.server is None else self.server.source

    @property
    def vantage(self) -> str | None:
        """The control vantage's name, when another vantage is the control."""
        return self.server.settings.vantage if isinstance(self.server, LocalControl) else None


# Told, once the pre-flight has chosen, which control a vantage's run measures with.
OnControl = Callable[[Settings, ControlPlan], None]


async def plan(
    server: Server | None,
    resolvers: list[dns.Resolver],
    ctx: ProbeContext,
    no_control_ok: bool,
) -> ControlPlan:
    """Pre-flight the server (or vantage) and the control resolvers at once and choose.

    Raises NothingMeasured when nothing answers, unless ``no_control_ok``.
    """
    local = server if isinstance(server, LocalControl) else None
    remote = None if server is None or isinstance(server, LocalControl) else server
    own, theirs, status = await asyncio.gather(
        preflight(resolvers, "control", ctx),
        local.preflight() if local is not None else _nothing(),
        check_server(remote) if remote is not None else _no_status(),
    )
    server_ok = (status is not None and status.alive) or any(s.alive for s in theirs)
    resolvers_ok = any(s.alive for s in own)
    statuses = [*own, *theirs]
    if server is not None and server_ok:
        return ControlPlan(server, [], statuses, status)
    if resolvers_ok:
        silent = local.settings.vantage if local is not None else None
        return ControlPlan(None, resolvers, statuses, status, silent_vantage=silent)
    if not no_control_ok:
        raise NothingMeasured(_nothing_answered(server, status, theirs, own))
    if server is not None:
        # Measuring anyway: each target records why the server gave nothing.
        failure = status.failure if status is not None else None
        return ControlPlan(server, [], statuses, status, failure, answered=False)
    return ControlPlan(None, resolvers, statuses, status, answered=False)


async def _nothing() -> list[ResolverStatus]:
    return []


async def _no_status() -> ControlServerStatus | None:
    return None


def _nothing_answered(
    server: Server | None,
    status: ControlServerStatus | None,
    theirs: list[ResolverStatus],
    own: list[ResolverStatus],
) -> str:
    failed = []
    if status is not None:
        kind = "OONI test helpers" if status.protocol == "ooni" else "control server"
        failed.append(f"{kind} {_named(server, status)} ({status.failure})")
    if isinstance(server, LocalControl):
        detail = ", ".join(f"{s.uri} ({s.failure})" for s in theirs)
        failed.append(f"control vantage {server.settings.vantage}'s resolvers {detail}")
    detail = ", ".join(f"{s.uri} ({s.failure})" for s in own) or "none given"
    failed.append(f"control resolvers {detail}")
    return (
        f"no control answered: {'; '.join(failed)}; try another --control URL or "
        "--control-resolver, or --control none --no-control-ok to measure without a control"
    )


def _named(server: Server | None, status: ControlServerStatus) -> str:
    if server is not None and server.source == "ooni":
        return ", ".join(httpx.URL(u).host for u in server.urls)
    return status.url
