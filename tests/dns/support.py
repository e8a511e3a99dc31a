"""What the DNS tests share: the lab's network for this session and a probe's view of it."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from censorcheck.lab.topology import Topology
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dns import Resolver, parse_resolver

T = TypeVar("T")
NETWORK = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24"
LAB = "lab.test"


def at(topology: Topology, offset: int) -> str:
    """An address of the lab network where the lab itself runs nothing."""
    return str(topology.network.network_address + offset)


@dataclass
class Env:
    topology: Topology
    ctx: ProbeContext

    def resolver(self, scheme: str, honest: bool = False) -> Resolver:
        address = self.topology.honest_resolver if honest else self.topology.censored_resolver
        ports = self.topology.ports
        port = {"udp": ports.dns, "tcp": ports.dns, "tls": ports.dot, "https": ports.https}[scheme]
        path = "/dns-query" if scheme == "https" else ""
        return parse_resolver(f"{scheme}://{address}:{port}{path}")


Body = Callable[[Env], Awaitable[T]]
