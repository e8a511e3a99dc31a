"""A lab of many resolvers on 127.0.0.0/8, for ``dns-scan``: honest, lying and silent ones.

Every resolver of :mod:`censorcheck.lab.resolver_kinds` gets its own loopback address in one /24
and serves UDP and TCP there, all on one event loop; a control resolver tells the truth. Beside
them, TLS hosts make the certificate check real: the site's own host and a CDN edge with valid
certificates for the zone, and a blockpage host whose certificate is for another name. The
lab counts the queries each resolver receives, with their arrival times, so tests can check
pacing and retries from the server's side.

Layout of the /24: .2 the scanner, .10 the site, .11 an address in the site's AS where nothing
listens, .20 the CDN edge, .30 the blockpage, .40 the ad server, .53 the control resolver,
.64 and up the scanned resolvers.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import random
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import trustme

from censorcheck.lab.resolver_kinds import KINDS, Behaviour, Expect, Kind, NameClass
from censorcheck.lab.threaded import ThreadedLab
from censorcheck.scan.models import ScanSettings

ZONE = "scan.test"
PROBE = f"probe.{ZONE}"
GONE = f"gone.{ZONE}"
BLOCKPAGE_NAME = f"blockpage.{ZONE}"
TTL = 300
PRIVATE = "10.10.34.35"
FIRST_RESOLVER = 64
_OFFSETS = {"scanner": 2, "site": 10, "sibling": 11, "edge": 20, "blockpage": 30, "ad": 40}
_CONTROL = 53
# The autonomous systems of the lab's hosts, for a test ASN database: the sibling shares the
# site's, the edge (a CDN) and the blockpage have their own.
ASNS = {"site": 64500, "sibling": 64500, "edge": 64501, "blockpage": 64502, "ad": 64503}
_CACHE_LIMIT = 100_000
# A scan at a benchmark's rate opens hundreds of TCP connections at once; with the default
# backlog (100) the kernel drops SYNs, and each drop costs the client a second.
_BACKLOG = 1024
_RCODES = {
    "nxdomain": dns.rcode.NXDOMAIN,
    "refused": dns.rcode.REFUSED,
    "servfail": dns.rcode.SERVFAIL,
}


@dataclass(frozen=True)
class LabResolver:
    """One scanned resolver of the lab."""

    address: str
    kind: Kind


class ResolverLab:
    """The resolvers, the control resolver and the TLS hosts; ``start()`` / ``close()``.

    ``names`` target names ``n000.scan.test`` ..., every ``listed_every``-th on the censor's
    list, then ``gone.scan.test``.
    """

    def __init__(
        self,
        network: str,
        kinds: Sequence[Kind] = KINDS,
        names: int = 12,
        listed_every: int = 3,
        dns_port: int = 10053,
        https_port: int = 10443,
    ) -> None:
        self.network = ipaddress.ip_network(network)
        if not self.network.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError(f"resolver lab network {network} is not inside 127.0.0.0/8")
        self.dns_port, self.https_port = dns_port, https_port
        base = self.network.network_address
        self.addresses = {role: str(base + offset) for role, offset in _OFFSETS.items()}
        self.control_address = str(base + _CONTROL)
        count = sum(kind.count for kind in kinds)
        if FIRST_RESOLVER + count > self.network.num_addresses - 1:
            raise ValueError(f"{count} resolvers do not fit in {network}")
        self.resolvers = [
            LabResolver(str(base + FIRST_RESOLVER + i), kind)
            for i, kind in enumerate(k for k in kinds for _ in range(k.count))
        ]
        width = max(3, len(str(names - 1)))
        self.listed = [f"n{i:0{width}d}.{ZONE}" for i in range(names) if i % listed_every == 1]
        self.names = [f"n{i:0{width}d}.{ZONE}" for i in range(names)]
        self._listed = set(self.listed)
        self._existing = {*self.names, PROBE}
        self.targets = [*self.names, GONE]
        self.ca = trustme.CA(organization_name="censorcheck resolver lab CA")
        self._tmp = tempfile.TemporaryDirectory(prefix="censorcheck-resolver-lab-")
        self.ca_bundle = Path(self._tmp.name) / "lab-ca.pem"
        self.ca_bundle.write_bytes(bytes(self.ca.cert_pem.bytes()))
        self.queries: Counter[tuple[str, str]] = Counter()  # (resolver address, name) -> count
        self.arrivals: dict[str, list[float]] = {}  # resolver address -> time.monotonic()s
        self._cache: dict[tuple[str, bytes], tuple[str, bytes | None]] = {}
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.Server] = []

    # --- the zone and the table --------------------------------------------------------------

    def name_class(self, name: str) -> NameClass:
        name = name.lower().rstrip(".")
        if name == PROBE:
            return "probe"
        if name in self._listed:
            return "listed"
        if name in self._existing:
            return "other"
        return "gone" if name == GONE else "nonexistent"

    def expected(self, resolver: LabResolver, domain: str, asn_db: bool) -> Expect:
        """The verdict the table says a scan must reach for ``domain`` at ``resolver``."""
        found = self.name_class(domain)
        if found not in ("listed", "other", "gone"):
            raise ValueError(f"{domain} is not a target name of the lab")
        return resolver.kind.expected(found, asn_db)

    def _addresses(self, behaviour: Behaviour, name_class: NameClass) -> list[str] | int | None:
        """A records, an rcode, or None for silence."""
        if behaviour in ("honest", "truncate"):
            if name_class in ("probe", "listed", "other"):
                return [self.addresses["site"]]
            return int(dns.rcode.NXDOMAIN)
        if behaviour == "silence":
            return None
        if behaviour in _RCODES:
            return int(_RCODES[behaviour])
        fixed = {"zero": "0.0.0.0", "private": PRIVATE}
        return [fixed.get(behaviour) or self.addresses[behaviour]]

    def respond(
        self, kind: Kind, query: dns.message.Message, udp: bool
    ) -> dns.message.Message | None:
        """The reply of a resolver of ``kind`` to ``query``; None is silence."""
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        name_class = self.name_class(name)
        behaviour = kind.behaviour(name_class)
        reply = dns.message.make_response(query, recursion_available=True)
        if behaviour == "truncate" and udp:
            reply.flags |= dns.flags.TC
            return reply
        found = self._addresses(behaviour, name_class)
        if found is None:
            return None
        if isinstance(found, int):
            reply.set_rcode(dns.rcode.Rcode(found))
        elif question.rdtype == dns.rdatatype.A:
            reply.answer.append(
                dns.rrset.from_text_list(question.name, TTL, question.rdclass, "A", found)
            )
        return reply

    def answer_wire(self, kind: Kind, data: bytes, address: str, udp: bool) -> bytes | None:
        """The wire reply to the wire query ``data``, counted; cached but for the ID."""
        key = (kind.name if udp else f"{kind.name}/tcp", data[2:])
        cached = self._cache.get(key)
        if cached is None:
            try:
                query = dns.message.from_wire(data)
            except dns.exception.DNSException:
                return None
            if query.flags & dns.flags.QR or len(query.question) != 1:
                return None
            reply = self.respond(kind, query, udp)
            name = query.question[0].name.to_text(omit_final_dot=True).lower()
            cached = (name, reply.to_wire()[2:] if reply is not None else None)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = cached
        name, tail = cached
        self.queries[(address, name)] += 1
        self.arrivals.setdefault(address, []).append(time.monotonic())
        return None if tail is None else data[:2] + tail

    # --- serving -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind everything; OSError (after cleaning up) when an address or port is taken."""
        loop = asyncio.get_running_loop()
        honest = Kind("control", 1, "honest", Expect("accessible", "accessible"))
        try:
            for address, kind in [(self.control_address, honest)] + [
                (r.address, r.kind) for r in self.resolvers
            ]:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Datagrams, self, kind, address),
                    local_addr=(address, self.dns_port),
                )
                self._transports.append(transport)
                handler = functools.partial(_serve_stream, self, kind, address)
                server = await asyncio.start_server(
                    handler, address, self.dns_port, backlog=_BACKLOG
                )
                self._servers.append(server)
            site = self._tls([f"*.{ZONE}", ZONE])
            for role, context in (
                ("site", site),
                ("edge", site),
                ("blockpage", self._tls([BLOCKPAGE_NAME])),
            ):
                server = await asyncio.start_server(
                    _hang_up, self.addresses[role], self.https_port, ssl=context
                )
                self._servers.append(server)
        except BaseException:
            await self.close()
            raise

    def _tls(self, names: list[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names).configure_cert(ctx)
        return ctx

    async def close(self) -> None:
        transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        await asyncio.sleep(0)

    def cleanup(self) -> None:
        self._tmp.cleanup()

    # --- pointing a scan at it -----------------------------------------------------------

    def resolver_file(self) -> str:
        """The resolver file of the lab: each resolver tagged, its kind as the note."""
        lines = ["# censorcheck resolver lab: ADDRESS:PORT tags # kind"]
        for i, r in enumerate(self.resolvers):
            lines.append(f"{r.address}:{self.dns_port} country=ZZ asn={65000 + i}  # {r.kind.name}")
        return "\n".join(lines) + "\n"

    def write_files(self, folder: Path) -> dict[str, Path]:
        """``resolvers.txt`` and ``targets.txt`` in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        files = {"resolvers.txt": self.resolver_file(), "targets.txt": "\n".join(self.targets)}
        paths = {}
        for name, text in files.items():
            paths[name] = folder / name
            paths[name].write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        return paths

    def asn_table(self) -> dict[str, int]:
        """Address -> ASN of the lab's hosts, for a test ASN database."""
        return {self.addresses[role]: asn for role, asn in ASNS.items()}

    def scan_settings(self, **overrides: Any) -> ScanSettings:
        """Settings of a scan of this lab: the control resolver, the probe name, the lab CA."""
        values: dict[str, Any] = {
            "control_resolvers": [f"udp://{self.control_address}:{self.dns_port}"],
            "probe_domains": [PROBE],
            "source_address": self.addresses["scanner"],
            "ca_bundle": self.ca_bundle,
            "port_map": {443: self.https_port},
            "treat_as_public": [str(self.network)],
            "rate": 100.0,
            "timeout": 0.5,
            "retries": 1,
        }
        values.update(overrides)
        return ScanSettings(**values)

    def scan_arguments(self) -> list[str]:
        """The dns-scan flags that point a scan at this lab (besides rate, timeout, retries)."""
        s = self.scan_settings()
        return [
            "--control-resolver", s.control_resolvers[0],
            "--probe-domain", PROBE,
            "--source-address", str(s.source_address),
            "--ca-bundle", str(s.ca_bundle),
            "--port-map", f"443={self.https_port}",
            "--treat-as-public", str(self.network),
        ]  # fmt: skip


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, lab: ResolverLab, kind: Kind, address: str) -> None:
        self.lab, self.kind, self.address = lab, kind, address
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        wire = self.lab.answer_wire(self.kind, data, self.address, udp=True)
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a client that has gone away


async def _serve_stream(
    lab: ResolverLab,
    kind: Kind,
    address: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """DNS over TCP: length-prefixed queries; on silence, say nothing until the client leaves."""
    try:
        while True:
            size = int.from_bytes(await reader.readexactly(2), "big")
            wire = lab.answer_wire(kind, await reader.readexactly(size), address, udp=False)
            if wire is not None:
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.transport.abort()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A TLS host: the handshake is all a scan needs."""
    writer.transport.abort()


def random_network() -> str:
    """A /24 in 127.0.0.0/8 unlikely to be in use (the main lab's tests pick 127.100-199.x)."""
    return f"127.{random.randint(200, 254)}.{random.randint(0, 255)}.0/24"


class ResolverLabThread(ThreadedLab[ResolverLab]):
    """A resolver lab running in its own thread and event loop; a context manager.

    Without a ``network`` it picks a random /24, and retries on a bind failure with another
    /24 and random ports.
    """

    def __init__(self, network: str | None = None, **options: Any) -> None:
        super().__init__(network)
        self._options = options

    def _make(self, attempt: int) -> ResolverLab:
        options = dict(self._options)
        if attempt:
            options["dns_port"], options["https_port"] = random.sample(range(20000, 60000), 2)
        return ResolverLab(self._network or random_network(), **options)


def write_asn_db(path: Path, table: dict[str, int]) -> Path:
    """A MaxMind-format ASN database (GeoLite2-ASN layout) of ``table``; needs ``mmdb-writer``
    (the dev extra)."""
    from mmdb_writer import MMDBWriter  # type: ignore[import-not-found, unused-ignore]
    from netaddr import IPSet  # type: ignore[import-untyped, import-not-found, unused-ignore]

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN")
    for address, asn in table.items():
        record = {"autonomous_system_number": asn, "autonomous_system_organization": f"AS{asn}"}
        writer.insert_network(IPSet([f"{address}/32"]), record)
    writer.to_db_file(str(path))
    return path
