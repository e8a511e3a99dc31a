"""Pre-flight checks of resolvers, the linger window after an answer, and the system resolver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from censorcheck.errors import ConfigError
from censorcheck.lab.topology import Topology
from censorcheck.measure.probes import dns as dns_probe
from censorcheck.measure.probes.dns import (
    Resolver,
    expand_system,
    lookup,
    parse_resolver,
    preflight,
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

    status = in_lab(body)
    assert not status.alive and status.rtt is None
    # Nothing listening (ICMP port unreachable / TCP RST) is not a REFUSED answer, and was seen
    # as such (a wait until the timeout would say dns.timeout).
    assert status.failure == "dns.unreachable"


@pytest.mark.parametrize(
    ("known", "rtt", "cap", "expected"),
    [
        (0.001, 0.001, 0.5, dns_probe._LINGER_FLOOR),  # a fast resolver: only the floor
        (0.0, 0.001, 0.5, dns_probe._LINGER_FLOOR),  # no pre-flight figure yet
        (0.040, 0.001, 0.5, 0.080),  # a forged reply long before the usual round trip
        (0.001, 0.050, 0.5, 0.150),  # a slow reply: three of its round trips
        (0.400, 0.300, 0.5, 0.5),  # never past the cap
    ],
)
def test_linger_follows_the_round_trips(
    known: float, rtt: float, cap: float, expected: float
) -> None:
    """How long a lookup listens after its first reply: a pure function of the resolver's
    pre-flight round trip and this reply's, so a fast accessible lookup ends at the floor."""
    resolver = parse_resolver("udp://192.0.2.53")
    settings = SimpleNamespace(dns_linger_max=cap)
    ctx = SimpleNamespace(resolver_rtt={resolver.uri: known}, settings=settings)
    assert dns_probe._lingering(resolver, ctx)(rtt) == pytest.approx(expected)  # type: ignore[arg-type]


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
