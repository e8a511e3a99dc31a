"""Which network a vantage measures from: its AS, AS name and country, and its resolvers'.

Found once per run, after the pre-flight. The public address comes from whoever can see it: the
control server reports the address a request came from in its health answer (which the probe
asked anyway), or, when configured, a DNS "whoami" name answers with the asker's address. The
address is looked up in the offline table (:mod:`censorcheck.measure.ipdb`) and then forgotten:
only the AS and the country reach the run document. What the user configured wins over what is
detected; both are recorded, with where the kept value came from.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.message
import dns.rdatatype

from censorcheck.measure.ipdb import IPDatabase, Network, default_path
from censorcheck.measure.probes import dns as dnsprobe
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dnswire import Query
from censorcheck.measure.vantages import Vantage
from censorcheck.netinfo import NetworkIdentity, ResolverIdentity
from censorcheck.settings import Settings

_TYPES = ("A", "AAAA", "TXT")


@dataclass(frozen=True)
class Identity:
    """What the vantage info records: the values kept, and how they were found."""

    country: str | None
    asn: int | None
    network: NetworkIdentity


def whoami_question(spec: str) -> tuple[str, str]:
    """(name, type) of a ``[TYPE:]NAME`` setting; A when no type is given."""
    kind, sep, name = spec.partition(":")
    if sep and kind.upper() in _TYPES:
        return name.strip().rstrip(".") + ".", kind.upper()
    return spec.strip().rstrip(".") + ".", "A"


def address_in(reply: dns.message.Message) -> str | None:
    """The first address a whoami answer names: an A/AAAA record, or a TXT string that is one."""
    for rrset in reply.answer:
        for rdata in rrset:
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                return str(rdata.address)
            if rrset.rdtype == dns.rdatatype.TXT:
                for text in rdata.strings:
                    try:
                        return str(ipaddress.ip_address(text.decode("ascii", "replace").strip()))
                    except ValueError:
                        continue
    return None


async def whoami(spec: str, resolver: dnsprobe.Resolver, ctx: ProbeContext) -> str | None:
    """The address ``resolver`` answers ``spec`` with; None when it gave none."""
    name, kind = whoami_question(spec)
    query = Query.build(name, kind, query_id=0 if resolver.scheme == "https" else None)
    exchange = await dnsprobe.ask(query, resolver, ctx)
    return address_in(exchange.reply) if exchange.reply is not None else None


def _literal(resolver: dnsprobe.Resolver) -> str | None:
    try:
        return str(ipaddress.ip_address(resolver.host))
    except ValueError:
        return None


async def _resolvers(
    resolvers: list[dnsprobe.Resolver], db: IPDatabase, settings: Settings, ctx: ProbeContext
) -> list[ResolverIdentity]:
    found = []
    for resolver in resolvers:
        address, how = _literal(resolver), "literal"
        if settings.resolver_whoami is not None:
            egress = await whoami(settings.resolver_whoami, resolver, ctx)
            if egress is not None:
                address, how = egress, "whoami"
        net = db.network(address) if address is not None else None
        if net is None:
            found.append(ResolverIdentity(uri=resolver.uri))
        else:
            found.append(
                ResolverIdentity(
                    uri=resolver.uri,
                    asn=net.asn,
                    as_name=net.as_name,
                    country=net.country,
                    address_source=how,
                )
            )
    return found


def _kept(about: Vantage | None, net: Network | None, network: NetworkIdentity) -> Identity:
    """Configured values win; detected ones fill the gaps."""
    country = about.country if about is not None else None
    asn = about.asn if about is not None else None
    update: dict[str, object] = {}
    if country is not None:
        update["country_source"] = "configured"
    elif net is not None and net.country is not None:
        country, update["country_source"] = net.country, "detected"
    if asn is not None:
        update["asn_source"] = "configured"
    elif net is not None:
        asn, update["asn_source"] = net.asn, "detected"
    if net is not None:
        update.update(as_name=net.as_name, detected_country=net.country, detected_asn=net.asn)
    return Identity(country, asn, network.model_copy(update=update))


async def identify(
    settings: Settings,
    about: Vantage | None,
    reported: str | None,
    probe_resolvers: list[dnsprobe.Resolver],
    control_resolvers: list[dnsprobe.Resolver],
    ctx: ProbeContext,
) -> Identity:
    """The vantage's network. ``reported`` is the address the control server saw, if any."""
    if not settings.geo:
        return _kept(about, None, NetworkIdentity(failure="geo.disabled"))
    path = settings.geo_db or default_path()
    if not path.is_file():
        return _kept(about, None, NetworkIdentity(failure="geo.no_database"))
    with IPDatabase(path) as db:
        network = NetworkIdentity(
            database=db.label, resolvers=await _resolvers(probe_resolvers, db, settings, ctx)
        )
        address: str | None = None
        if settings.geo_source == "control":
            address = reported
        elif settings.whoami is not None:
            for resolver in control_resolvers:
                address = await whoami(settings.whoami, resolver, ctx)
                if address is not None:
                    break
        if address is None:
            return _kept(about, None, network.model_copy(update={"failure": "geo.no_address"}))
        network = network.model_copy(update={"address_source": settings.geo_source})
        net = db.network(address)
        del address  # looked up: nothing else may hold it
    if net is None:
        return _kept(about, None, network.model_copy(update={"failure": "geo.not_found"}))
    return _kept(about, net, network)
