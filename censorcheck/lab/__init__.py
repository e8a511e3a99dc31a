"""The built-in censorship lab: a censored network of real servers.

On a public-looking /24 (``ROUTABLE_NETWORK``, or a random one for tests) the lab is a real
network: its addresses go on the loopback of a network namespace of its own (``netns.KernelLab``,
which refuses any other namespace) and its servers listen on the real ports, so a run needs no
lab-only flag. On a /24 of 127.0.0.0/8 it is the fallback where namespaces are unavailable:
unprivileged ports, and runs name its network with ``--treat-as-public`` and map the ports with
``--port-map``.

``Lab`` starts the two resolvers, every web host of a :class:`Topology` and (with the ``control``
extra) a control server on the free vantage; ``LabThread`` runs one in a background thread for
tests and the demo. ``Lab.settings()`` gives the settings of a run from the censored (or the free)
vantage, with the honest resolver as control, or the control server with ``control=True``.

May import: the root contracts, ``measure`` (vantages, to hand out the settings of a run),
``control`` (the lab's control server) and ``scan``'s models (the resolver lab's table states the
verdict a correct scan reaches). Only ``cli``, the tests and the benchmarks import the lab.
"""

from __future__ import annotations

import ipaddress
import random
import shlex
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from censorcheck.lab import control as lab_control
from censorcheck.lab.dns import DNSLab
from censorcheck.lab.netns import KernelLab, unavailable
from censorcheck.lab.pki import LabPKI
from censorcheck.lab.scenarios import Scenario
from censorcheck.lab.socks import SOCKSLab
from censorcheck.lab.threaded import ThreadedLab
from censorcheck.lab.topology import Ports, Topology
from censorcheck.lab.web import WebLab
from censorcheck.measure.vantages import Vantage
from censorcheck.settings import Settings

__all__ = ["Lab", "LabThread", "Ports", "Topology"]


class Lab:
    """Resolvers and web hosts of one topology, started and stopped together."""

    def __init__(
        self,
        network: str = "127.77.0.0/24",
        ports: Ports | None = None,
        entries: Iterable[tuple[str, Scenario]] | None = None,
        workdir: Path | None = None,
        control: bool = True,
    ) -> None:
        self.kernel_skipped = _kernel_skipped(network)  # why the kernel rows are left out
        self.topology = Topology(network, ports, entries, kernel=self.kernel_skipped is None)
        self.pki = LabPKI()
        self._tmp = tempfile.TemporaryDirectory(prefix="censorcheck-lab-") if not workdir else None
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.ca_bundle = self.pki.write_ca_bundle(self.workdir / "lab-ca.pem")
        topo = self.topology
        self._kernel = None if topo.loopback else KernelLab(topo.addresses(), topo.kernel_rules())
        self._dns = DNSLab(self.topology, self.pki)
        self._web = WebLab(self.topology, self.pki)
        self.proxy = SOCKSLab(
            topo.free_vantage,
            topo.ports.socks,
            topo.free_vantage,
            ipaddress.ip_network(topo.network),
        )
        self.control: lab_control.LabControl | None = None
        if control and lab_control.available():
            token_file = self.workdir / "control-token.txt"
            self.control = lab_control.LabControl(self.topology, self.ca_bundle, token_file)

    async def start(self) -> None:
        try:
            if self._kernel is not None:
                self._kernel.start()
            await self._dns.start()
            await self._web.start()
            await self.proxy.start()
            if self.control is not None:
                await self.control.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.control is not None:
            await self.control.close()
        await self.proxy.close()
        await self._web.close()
        await self._dns.close()
        if self._kernel is not None:
            self._kernel.close()

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def settings(self, censored: bool = True, control: bool = False, **overrides: Any) -> Settings:
        """Settings of a run from one of the lab's vantages, with the honest resolver as control,
        or with ``control`` the lab's control server."""
        topo = self.topology
        values: dict[str, Any] = {
            "vantage": "lab-censored" if censored else "lab-free",
            "resolvers": [topo.resolver_uri(censored=censored)],
            "control_resolvers": [topo.resolver_uri(censored=False)],
            "source_address": topo.censored_vantage if censored else topo.free_vantage,
            "ca_bundle": self.ca_bundle,
            "ipv6": "off",
            "treat_as_public": [str(topo.network)] if topo.loopback else [],
            "port_map": topo.port_map(),
            "timeout": 2.0,
        }
        if control:
            values.update(control_url=self._control().url, control_token=self._control().token)
        values.update(overrides)
        return Settings(**values)

    def vantages(self) -> list[Vantage]:
        """The lab's ways out, as a user would configure them: the censored ISP, the free
        network, and the SOCKS5 proxy that leaves through the free network (asking the honest
        resolver over TCP, through the proxy)."""
        topo = self.topology
        return [
            Vantage(
                name="lab-censored",
                source_address=topo.censored_vantage,
                resolvers=[topo.resolver_uri(censored=True)],
                country="ZZ",
                network_type="home",
                notes="the lab's censored ISP",
            ),
            Vantage(
                name="lab-free",
                source_address=topo.free_vantage,
                resolvers=[topo.resolver_uri(censored=False)],
                country="ZZ",
                network_type="datacenter",
                notes="the lab's uncensored network",
            ),
            Vantage(
                name="lab-proxy",
                # The user reaches the proxy from the censored ISP. Bound to that address, a run
                # started outside the lab's namespace fails at once instead of sending packets
                # to the lab's public-looking addresses on the real Internet.
                source_address=topo.censored_vantage,
                proxy=topo.proxy_url(),
                resolvers=[f"tcp://{topo.honest_resolver}:{topo.ports.dns}"],
                network_type="vpn",
                notes="the lab's SOCKS5 proxy, leaving from the uncensored network",
            ),
        ]

    def _control(self) -> lab_control.LabControl:
        if self.control is None:
            raise RuntimeError("this lab has no control server (is the control extra installed?)")
        return self.control

    def arguments(self, censored: bool = True, control: bool = False) -> list[str]:
        """The CLI flags that point a run at this lab, one argument each."""
        s = self.settings(censored)
        flags = ["--resolver", s.resolvers[0], "--control-resolver", s.control_resolvers[0]]
        flags += ["--source-address", str(s.source_address), "--ca-bundle", str(s.ca_bundle)]
        flags += ["--ipv6", "off"]
        if self.topology.loopback:
            flags += ["--treat-as-public", str(self.topology.network)]
        flags += ["--timeout", f"{s.timeout:g}"]
        for a, b in s.port_map.items():
            flags += ["--port-map", f"{a}={b}"]
        # Always named: a run's default control is OONI's public helpers, never for a lab run.
        if control:
            flags += ["--control", self._control().url, "--control-token", self._control().token]
        else:
            flags += ["--control", "none"]
        return flags

    def command(self, censored: bool = True, control: bool = False) -> str:
        """The CLI flags that point a run at this lab, quoted for a shell."""
        return shlex.join(self.arguments(censored, control))


def _kernel_skipped(network: str) -> str | None:
    if ipaddress.ip_network(network).subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        return "the loopback lab has no kernel-level censor (it needs a network namespace)"
    return unavailable(nft=True)


def random_ports() -> Ports:
    """Six distinct unprivileged ports, for a retry after the fixed ones were taken."""
    dns, dot, http, https, control, socks = random.sample(range(20000, 60000), 6)
    return Ports(dns=dns, dot=dot, http=http, https=https, control=control, socks=socks)


def random_network() -> str:
    """A /24 in 127.0.0.0/8 unlikely to be in use: for labs started by tests."""
    return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.0/24"


# The namespace lab's default /24: addresses that look like any hosting network's (45.90.1.0/24
# is tests/test_netns.py's). Nothing of the lab leaves its namespace, whose only route is
# loopback, so no real holder of these addresses ever sees a packet.
ROUTABLE_NETWORK = "45.90.7.0/24"


def random_routable_network() -> str:
    """A public-looking /24 for a namespace lab started by a test: labs of parallel workers
    share one namespace, so each takes its own."""
    return f"45.90.{random.randint(10, 250)}.0/24"


class LabThread(ThreadedLab[Lab]):
    """A lab running in its own thread and event loop; a context manager.

    With ``network=None`` it picks a random free /24 (a public-looking one, in the namespace the
    process runs in, with ``routable``), retrying when a bind fails; loopback retries also move
    to random ports, since a service listening on 0.0.0.0 at a lab port blocks every /24.
    """

    def __init__(
        self,
        network: str | None = None,
        entries: Iterable[tuple[str, Scenario]] | None = None,
        ports: Ports | None = None,
        control: bool = True,
        routable: bool = False,
    ) -> None:
        super().__init__(network)
        self._entries = list(entries) if entries is not None else None
        self._ports = ports
        self._control = control
        self._routable = routable

    def _make(self, attempt: int) -> Lab:
        if self._routable:
            network = self._network or random_routable_network()
            return Lab(network, self._ports, self._entries, control=self._control)
        network = self._network or random_network()
        ports = self._ports if attempt == 0 else random_ports()
        return Lab(network, ports, self._entries, control=self._control)
