"""The DNS lab's fixtures: its topology, its PKI, and ``in_lab`` to run a probe against it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from censorcheck.lab.dns import INJECT_DELAY, DNSLab
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.topology import Ports, Topology
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.settings import Settings
from tests.dns.support import NETWORK, Body, Env, T


@pytest.fixture(scope="package")
def topology() -> Topology:
    return Topology(network=NETWORK, ports=Ports())


@pytest.fixture(scope="package")
def pki() -> LabPKI:
    return LabPKI()


@pytest.fixture(scope="package")
def ca_bundle(pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pki.write_ca_bundle(tmp_path_factory.mktemp("ca") / "lab-ca.pem")


@pytest.fixture
def in_lab(topology: Topology, pki: LabPKI, ca_bundle: Path) -> Callable[..., Any]:
    """Run ``body(env)`` with the lab's resolvers up and a probe context on the censored vantage.

    Fails if anything reached asyncio's exception handler (tracebacks the lab should not log).
    """

    def run(
        body: Body[T], trusted: bool = True, inject_delay: float = INJECT_DELAY, **settings: Any
    ) -> T:
        async def main() -> T:
            problems: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: problems.append(context))
            options: dict[str, Any] = {
                "ca_bundle": ca_bundle if trusted else None,
                "source_address": topology.censored_vantage,
                "timeout": 1.0,
                **settings,
            }
            ctx = ProbeContext.create(Settings(**options), ipv6=False)
            try:
                async with DNSLab(topology, pki, inject_delay=inject_delay):
                    result = await body(Env(topology, ctx))
            finally:
                await ctx.aclose()
            assert problems == []
            return result

        return asyncio.run(main())

    return run
