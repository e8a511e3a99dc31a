"""Where everything in the lab lives: addresses, ports, and the zone of names.

The lab is a network of its own: a /24 of public-looking addresses on the real ports (53, 80,
443, 853) inside a network namespace of its own (``lab/netns.py``), or, where namespaces are
unavailable, a /24 of 127.0.0.0/8 on unprivileged ports. Two client addresses stand for two
vantages: traffic from ``censored_vantage`` meets the censor, traffic from ``free_vantage`` does
not. Each service kind gets its own host address; any number of names can point at a host. The
lab's control server listens on the free vantage, where an uncensored network would be.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from censorcheck.lab.kernel_scenarios import KERNEL_ROWS, KernelRow
from censorcheck.lab.netns import KernelRule
from censorcheck.lab.scenarios import (
    BY_NAME,
    DEMO,
    LAB_DOMAIN,
    SCENARIOS,
    WARNING_NAME,
    QUICService,
    Scenario,
    Service,
)


@dataclass(frozen=True)
class Ports:
    """Unprivileged stand-ins for 53, 853, 80 and 443 (DoH shares the https port), and the
    ports of the control server and of the SOCKS5 proxy."""

    dns: int = 10053
    dot: int = 10853
    http: int = 10080
    https: int = 10443
    control: int = 10880
    socks: int = 11080


# The ports of the field, for a lab in a namespace of its own (where binding them needs no root).
REAL_PORTS = Ports(dns=53, dot=853, http=80, https=443, control=80, socks=1080)
_DEFAULT_PORT = {"http": 80, "https": 443}


# Offsets inside the lab network.
_CENSORED_VANTAGE = 2
_FREE_VANTAGE = 3
_CENSORED_RESOLVER = 53
_HONEST_RESOLVER = 54
_SERVICE_HOSTS: dict[str, int] = {
    "static": 10,
    "dynamic": 11,
    "redirect": 12,
    "huge": 13,
    "tarpit": 14,
    "selfsigned": 15,
    "blockpage": 16,
    "static-edge": 17,  # the second CDN edge of static sites
    "dead": 18,
    "notice": 19,
    "h3": 20,  # static sites that also serve HTTP/3
    "h3-stale": 21,  # static sites that advertise HTTP/3 and do not serve it
    "h3-udp-drop": 22,  # an HTTP/3 site whose address the censor cuts off from UDP
    "slow": 23,
    "h3-slow": 24,  # the slow site, over HTTP/3 too
    "h3-record": 25,  # HTTP/3 sites that announce it in an HTTPS DNS record, not in Alt-Svc
}
# The hosts above that speak (or claim) HTTP/3, and whether the censor drops UDP to them.
_QUIC_HOSTS: dict[str, tuple[QUICService, bool]] = {
    "h3": ("h3", False),
    "h3-stale": ("stale", False),
    "h3-udp-drop": ("h3", True),
    "h3-slow": ("h3", False),
    "h3-record": ("h3_record", False),
}
# What the hosts above that are not a service of their own serve over TCP.
_KINDS = {"static-edge": "static", "h3": "static", "h3-stale": "static",
          "h3-udp-drop": "static", "h3-slow": "slow"}  # fmt: skip
_FIRST_KERNEL_HOST = 100  # each kernel row's site on an address of its own, where its rule acts


@dataclass
class Host:
    """A lab web server: one address, one behaviour, the names it holds certificates for."""

    address: str
    service: Service
    names: set[str] = field(default_factory=set)
    quic: QUICService = "none"
    udp_censored: bool = False  # the censor drops every datagram the censored vantage sends it


class Topology:
    """The lab's addresses, ports and zone. Pure data: servers read it, nothing here does I/O."""

    def __init__(
        self,
        network: str = "127.77.0.0/24",
        ports: Ports | None = None,
        entries: Iterable[tuple[str, Scenario]] | None = None,
        kernel: bool = False,
    ) -> None:
        self.network = ipaddress.ip_network(network)
        # On 127.0.0.0/8 the lab simulates a network; elsewhere it is one, in a namespace of its
        # own, and its addresses must look routable, as the field's do, to need no flag.
        self.loopback = self.network.subnet_of(ipaddress.ip_network("127.0.0.0/8"))  # type: ignore[arg-type]
        if not self.loopback and not (self.network.version == 4 and self.network.is_global):
            raise ValueError(f"lab network {network} is neither in 127.0.0.0/8 nor public IPv4")
        self.ports = ports or (Ports() if self.loopback else REAL_PORTS)
        base = self.network.network_address

        def at(offset: int) -> str:
            return str(base + offset)

        self.censored_vantage = at(_CENSORED_VANTAGE)
        self.free_vantage = at(_FREE_VANTAGE)
        self.censored_resolver = at(_CENSORED_RESOLVER)
        self.honest_resolver = at(_HONEST_RESOLVER)
        self.hosts: dict[str, Host] = {}
        self._service_address: dict[str, str] = {}
        for service, offset in _SERVICE_HOSTS.items():
            quic, udp_censored = _QUIC_HOSTS.get(service, ("none", False))
            kind: Service = _KINDS.get(service, service)  # type: ignore[assignment]
            self.hosts[at(offset)] = Host(at(offset), kind, quic=quic, udp_censored=udp_censored)
            self._service_address[service] = at(offset)
        self.hosts[self.blockpage_address].names.add(f"blocked.{LAB_DOMAIN}")
        # Names of the lab's own machinery: both resolvers answer them, and they are no target.
        self.machinery: dict[str, str] = {WARNING_NAME: self.blockpage_address}
        self.hosts[self.blockpage_address].names.add(WARNING_NAME)
        self.names: dict[str, Scenario] = {}
        self._name_address: dict[str, str] = {}  # names on a host of their own
        self._kernel: list[tuple[str, KernelRow]] = []
        for name, scenario in entries if entries is not None else default_entries():
            self.add(name, scenario)
        if kernel and entries is None:
            for row in KERNEL_ROWS:
                self._add_kernel_row(f"{row.scenario.name}.{LAB_DOMAIN}", row, at)

    # --- building the zone -----------------------------------------------------------------

    def add(self, name: str, scenario: Scenario) -> None:
        """Publish ``name`` with the behaviour of ``scenario``."""
        name = name.lower().rstrip(".")
        self.names[name] = scenario
        self.hosts[self._home(scenario)].names.add(name)
        if scenario.dns == "alternate":
            self.hosts[self._service_address["static-edge"]].names.add(name)

    def _add_kernel_row(self, name: str, row: KernelRow, at: Callable[[int], str]) -> None:
        address = at(_FIRST_KERNEL_HOST + len(self._kernel))
        self.hosts[address] = Host(address, row.scenario.service, {name})
        self.names[name] = row.scenario
        self._name_address[name] = address
        self._kernel.append((address, row))

    def kernel_rules(self) -> list[KernelRule]:
        """The kernel-level censor's rules: each kernel row's act on the censored vantage's
        connections to its site."""
        port = {"https": self.ports.https, "http": self.ports.http}
        return [
            KernelRule(row.action, self.censored_vantage, address, port[row.scenario.scheme],
                       row.amount)
            for address, row in self._kernel
        ]  # fmt: skip

    def _home(self, scenario: Scenario) -> str:
        """The address of the host that serves a scenario's names."""
        if scenario.quic == "none":
            return self.address_of_service(scenario.service)
        if scenario.service == "slow" and scenario.quic == "h3":
            return self._service_address["h3-slow"]
        if scenario.service != "static" or scenario.scheme != "https":
            raise ValueError(f"{scenario.name}: only static or slow https sites speak HTTP/3")
        if scenario.censor == "udp_drop":
            return self._service_address["h3-udp-drop"]
        home = {"h3": "h3", "stale": "h3-stale", "h3_record": "h3-record"}[scenario.quic]
        return self._service_address[home]

    def address_of_service(self, service: str) -> str:
        return self._service_address[service]

    @property
    def blockpage_address(self) -> str:
        return self._service_address["blockpage"]

    # --- what the resolvers say ------------------------------------------------------------

    def true_a(self, name: str) -> list[str]:
        """The honest A answer, or [] for a name that does not exist."""
        name = name.lower().rstrip(".")
        if name in self.machinery:
            return [self.machinery[name]]
        scenario = self.names.get(name)
        if scenario is None or scenario.dns == "nxdomain_everywhere":
            return []
        return [self._name_address.get(name) or self._home(scenario)]

    def true_aaaa(self, name: str) -> list[str]:
        """The honest AAAA answer: a documentation address nobody can reach."""
        scenario = self.names.get(name.lower().rstrip("."))
        if scenario is None or not scenario.aaaa:
            return []
        return ["2001:db8::" + self._home(scenario).rsplit(".", 1)[1]]

    def origin_of(self, qname: str) -> str:
        """The host an HTTPS query is about: ``qname`` without the port prefix that a query for
        the lab's https port carries when it is not 443 (``_10443._https.host``)."""
        qname = qname.lower().rstrip(".")
        prefix = f"_{self.ports.https}._https."
        return qname.removeprefix(prefix) if self.ports.https != 443 else qname

    def https_records(self, qname: str) -> list[str]:
        """The honest HTTPS records (as zone-file text) at ``qname``: h3 on the https port for
        the sites that announce it this way, none for the others."""
        qname = qname.lower().rstrip(".")
        name = self.origin_of(qname)
        if self.ports.https != 443 and name == qname:
            return []  # the bare name would speak for port 443, where nothing listens here
        scenario = self.names.get(name)
        if scenario is None or scenario.quic != "h3_record":
            return []
        return [f'1 . alpn="h3" port={self.ports.https}']

    def exists(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        if name in self.machinery:
            return True
        scenario = self.names.get(name)
        return scenario is not None and scenario.dns != "nxdomain_everywhere"

    def honest_silence(self, name: str) -> bool:
        """Whether the honest resolver never answers for the name (``nxdomain_blind``)."""
        scenario = self.names.get(name.lower().rstrip("."))
        return scenario is not None and scenario.dns == "nxdomain_blind"

    def censored_dns(self, name: str) -> str:
        """How the censored resolver treats the name (see ``DNSBehaviour``)."""
        scenario = self.names.get(name.lower().rstrip("."))
        return "honest" if scenario is None else scenario.dns

    def alternate_a(self) -> list[str]:
        """The second CDN edge that the censored resolver gives for ``alternate`` names."""
        return [self._service_address["static-edge"]]

    # --- what the on-path censor does ------------------------------------------------------

    def is_censored_client(self, address: str) -> bool:
        return address == self.censored_vantage

    def web_censor(self, name: str | None) -> str | None:
        """The censor's action for a name seen in SNI or Host (``WebCensor`` or None)."""
        if not name:
            return None
        scenario = self.names.get(name.lower().rstrip(".").split(":")[0])
        return None if scenario is None else scenario.censor

    def drops_datagram(
        self, host: Host, source: str, server_name: Callable[[], str | None]
    ) -> bool:
        """Whether the on-path censor drops a datagram from ``source`` to ``host``'s UDP port:
        all of them for a cut-off address, else Initials naming a host whose censor says so
        (``server_name`` reads the datagram's SNI, only when needed)."""
        if not self.is_censored_client(source):
            return False
        return host.udp_censored or self.web_censor(server_name()) == "quic_sni_drop"

    def warning_url(self, name: str) -> str:
        """Where ``http_redirect`` sends a request for ``name``: the ISP's warning page."""
        return f"{self._origin('http', WARNING_NAME, self.ports.http)}/?site={name}"

    # --- how a probe reaches the lab -------------------------------------------------------

    def addresses(self) -> list[str]:
        """Every address the lab's clients and servers use, for a namespace's loopback."""
        fixed = [self.censored_vantage, self.free_vantage]
        return [*fixed, self.censored_resolver, self.honest_resolver, *self.hosts]

    @staticmethod
    def _origin(scheme: str, host: str, port: int) -> str:
        """``scheme://host[:port]``, with the port only where it is not the scheme's own."""
        return f"{scheme}://{host}" + ("" if _DEFAULT_PORT.get(scheme) == port else f":{port}")

    def url(self, name: str) -> str:
        scenario = self.names[name]
        port = self.ports.https if scenario.scheme == "https" else self.ports.http
        return f"{self._origin(scenario.scheme, name, port)}/"

    def target_urls(self) -> list[str]:
        """Every name in the zone as a URL with the lab's ports, in zone order."""
        return [self.url(name) for name in self.names]

    def resolver_uri(self, censored: bool) -> str:
        address = self.censored_resolver if censored else self.honest_resolver
        return f"udp://{address}:{self.ports.dns}"

    def port_map(self) -> dict[int, int]:
        """Where the lab serves what the field serves on 80 and 443 (empty on the real ports)."""
        pairs = {80: self.ports.http, 443: self.ports.https}
        return {real: ours for real, ours in pairs.items() if real != ours}

    def proxy_url(self) -> str:
        """The lab's SOCKS5 proxy, whose traffic leaves from the free vantage."""
        return f"socks5://{self.free_vantage}:{self.ports.socks}"

    def control_url(self) -> str:
        """The base URL of the lab's control server, on the free vantage."""
        return self._origin("http", self.free_vantage, self.ports.control)


def default_entries() -> list[tuple[str, Scenario]]:
    """One name per scenario under lab.test, then the demo's real names."""
    entries = [(f"{s.name}.{LAB_DOMAIN}", s) for s in SCENARIOS]
    entries += [(name, BY_NAME[scenario]) for name, scenario in DEMO.items()]
    return entries
