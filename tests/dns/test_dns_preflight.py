"""Pre-flight checks of resolvers, the linger window after an answer, and the system resolver."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from censorcheck.errors import ConfigError
from censorcheck.lab.topology import Topology
from censorcheck.measure.probes.dns import (
    Resolver,
    expand_system,
    lookup,
    parse_resolver,
    preflight,
    resolve,
)
from censorcheck.models import DNSQuery
from tests.dns.support import LAB, Env, at


def test_preflight_alive(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> tuple[list[Any], dict[str, float]]:
        statuses = [await preflight(env.resolver(s), env.ctx) for s in ("udp", "tcp", "tls")]
        statuses.append(await preflight(env.resolver("https", True), env.ctx, role="control"))
        return statuses, dict(env.ctx.resolver_rtt)

    statuses, rtts = in_lab(body)
    assert all(s.alive and s.failure is None and s.rtt is not None for s in statuses)
    assert statuses[-1].role == "control" and statuses[0].role == "probe"
    assert set(rtts) == {s.uri for s in statuses}


@pytest.mark.parametrize("scheme", ["udp", "tcp", "tls"])
def test_preflight_dead_resolver_is_fast(
    in_lab: Callable[..., Any], topology: Topology, scheme: str
) -> None:
    uri = f"{scheme}://{at(topology, 99)}:{topology.ports.dns}"

    async def body(env: Env) -> Any:
        return await preflight(parse_resolver(uri), env.ctx)

    started = time.monotonic()
    status = in_lab(body)
    assert time.monotonic() - started < 0.5
    assert not status.alive and status.rtt is None
    # Nothing listening (ICMP port unreachable / TCP RST) is not a REFUSED answer.
    assert status.failure == "dns.unreachable"


def test_linger_keeps_accessible_queries_fast(in_lab: Callable[..., Any]) -> None:
    async def body(env: Env) -> tuple[float, list[DNSQuery]]:
        resolver = env.resolver("udp")
        await preflight(resolver, env.ctx)
        started = time.monotonic()
        queries = await resolve(f"static.{LAB}", resolver, env.ctx)
        return time.monotonic() - started, queries

    elapsed, queries = in_lab(body, dns_linger_max=0.5)
    assert all(q.failure is None for q in queries)
    assert elapsed < 0.15  # the 20 ms floor and a little, far below the 0.5 s cap


def test_system_uses_its_nameservers(in_lab: Callable[..., Any], topology: Topology) -> None:
    dead = (at(topology, 98), at(topology, 99))
    system = Resolver("system", "", 53, "", "system", nameservers=dead)

    async def body(env: Env) -> DNSQuery:
        return await lookup(f"static.{LAB}", "A", system, env.ctx)

    query = in_lab(body)
    assert query.resolver == "system" and query.failure == "dns.unreachable"


def test_expand_system(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search lab.test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    expanded = expand_system(parse_resolver("system"), str(conf))
    assert expanded.nameservers == ("192.0.2.53", "2001:db8::53") and expanded.uri == "system"
    conf.write_text("search lab.test\n")
    with pytest.raises(ConfigError, match="system"):
        expand_system(parse_resolver("system"), str(conf))
