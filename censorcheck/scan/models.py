"""The JSON contract of ``dns-scan``: the scan document and the settings that made it.

One document per scan: the resolvers and how each fared in the pre-scan profile, the control's
answer for every name, and one result per (resolver, domain) with the raw observation, the checks
made on it and the verdict. Its schema is committed as ``schema/dns-scan.schema.json``; a test
compares it with these models, so that a change is always deliberate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from censorcheck.models import DNSQuery, Model, Tool, Verdict
from censorcheck.settings import DEFAULT_CONTROL_RESOLVERS, Networks, OptionalIP, PortMap

SCAN_SCHEMA_VERSION = "1.1"
# The version of the rules in ``censorcheck.scan.verdict`` and ``censorcheck.scan.profile``.
SCAN_RULES_VERSION = "1"
# Root server names: anycast, one address everywhere for decades, and no one's to censor.
DEFAULT_PROBE_DOMAINS = ["a.root-servers.net", "k.root-servers.net"]

ResolverState = Literal["ok", "unresponsive", "failed_control", "answers_everything"]
ControlState = Literal["resolved", "gone", "failed"]


class ScanSettings(Model):
    """Every knob of a scan. The CLI builds one; the library only reads it."""

    control_resolvers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONTROL_RESOLVERS),
        description="Resolver URIs asked for the uncensored answer (as `run --control-resolver`).",
    )
    probe_domains: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROBE_DOMAINS),
        min_length=1,
        description="Names with a known, stable answer: a resolver must answer them as the "
        "control does before its answers count.",
    )
    rate: float = Field(5.0, gt=0, le=100_000, description="Queries per second per resolver.")
    burst: int = Field(1, ge=1, le=1000, description="Queries a resolver may get back to back.")
    concurrency: int = Field(256, ge=1, le=65536, description="Queries in flight at once.")
    timeout: float = Field(5.0, gt=0, description="Seconds to wait for each reply.")
    retries: int = Field(2, ge=0, le=10, description="Repeats of a query that got no reply.")
    everywhere_fraction: float = Field(
        0.8,
        gt=0,
        le=1,
        description="An address a resolver gives, unlike the control, for at least this share "
        "of the domains is an answer to everything, and is discounted.",
    )
    everywhere_min: int = Field(
        3, ge=2, description="... and for at least this many domains in any case."
    )
    max_addresses: int = Field(4, ge=1, description="Answered addresses checked over TLS.")
    asn_db: Path | None = Field(None, description="A MaxMind-format ASN database (.mmdb).")
    source_address: OptionalIP = Field(None, description="Local address every socket binds to.")
    ca_bundle: Path | None = Field(None, description="Extra trusted CAs (PEM), beside the system.")
    port_map: PortMap = Field(
        default_factory=dict, description="Dial port B where port A is meant (443 for TLS)."
    )
    treat_as_public: Networks = Field(
        default_factory=list, description="Networks not to count as bogons (labs)."
    )


# --- observations ----------------------------------------------------------------------------


class Canary(Model):
    """A probe domain asked right after a name went unanswered: is the resolver still there?"""

    name: str
    rcode: str | None = Field(None, description="Its response code; null when it did not answer.")
    failure: str | None = None


class Observation(Model):
    """What one resolver said about one name (type A), after retries on timeouts only."""

    name: str
    transport: Literal["udp", "tcp"] = Field(
        "udp", description="tcp when the UDP reply was truncated and the query went again by TCP."
    )
    rcode: str | None = Field(None, description="NOERROR, NXDOMAIN, ...; null without a reply.")
    addresses: list[str] = Field(default_factory=list, description="The A records answered.")
    cnames: list[str] = Field(default_factory=list, description="The CNAME chain, in order.")
    failure: str | None = Field(
        None, description="dns.* code: nxdomain, refused, servfail, timeout (after retries), ..."
    )
    attempts: int = Field(description="Queries sent: 1, or more after timeouts.")
    t: float | None = Field(None, description="Seconds from the answered query to its reply.")
    canary: Canary | None = Field(None, description="Asked when the name went unanswered.")


class TLSCheck(Model):
    """A handshake with an answered address, naming the domain, validated against the store."""

    address: str
    port: int
    sni: str
    valid: bool = Field(description="The certificate chain validated for the domain.")
    failure: str | None = Field(None, description="tls.* code when it did not.")
    validation_error: str | None = Field(None, description="OpenSSL's reason, for a certificate.")
    t: float = 0.0


class Checks(Model):
    """The comparisons made on an answer with addresses."""

    judged: list[str] = Field(
        description="The answered addresses judged: without bogons and discounted ones."
    )
    bogons: list[str] = Field(
        default_factory=list, description="Answered non-routable addresses the control lacks."
    )
    discounted: list[str] = Field(
        default_factory=list,
        description="Answered addresses the resolver gives for every domain (see its profile).",
    )
    overlap: list[str] = Field(
        default_factory=list, description="Judged addresses the control also answered."
    )
    asns: list[int] | None = Field(
        None, description="ASNs of the judged addresses; null without an ASN database."
    )
    asn_match: list[int] = Field(
        default_factory=list, description="ASNs shared with the control's addresses."
    )
    tls: list[TLSCheck] = Field(
        default_factory=list,
        description="Handshakes with judged addresses, made only when neither the addresses "
        "nor their ASNs match the control.",
    )


# --- the document ----------------------------------------------------------------------------


class ScanResolver(Model):
    """One resolver of the resolver file, and what the profile made of it."""

    address: str
    port: int
    country: str | None = Field(None, description="ISO 3166 code, as tagged in the file.")
    asn: int | None = Field(None, description="Autonomous system number, as tagged in the file.")
    note: str | None = Field(None, description="The comment on its line.")
    status: ResolverState = Field(
        description="ok; unresponsive (answered nothing); failed_control (wrong or no answer "
        "for a probe domain: not trusted, not asked the targets); answers_everything (some "
        "addresses it gives for any name are discounted)."
    )
    reason: str = Field(description="Why it has this status, in plain words.")
    profile: list[Observation] = Field(
        default_factory=list,
        description="Its answers to the probe domains, then to a name that does not exist.",
    )
    everywhere: list[str] = Field(
        default_factory=list, description="Addresses it gives for every name: discounted."
    )
    queries: int = Field(0, description="Queries sent to it, retries and canaries included.")


class ControlAnswer(Model):
    """The control resolvers' view of one name."""

    status: ControlState = Field(
        description="resolved (some control answered addresses); gone (NXDOMAIN or no address "
        "for every control that answered); failed (no control answered)."
    )
    addresses: list[str] = Field(default_factory=list)
    asns: list[int] | None = Field(None, description="Their ASNs; null without an ASN database.")
    queries: list[DNSQuery] = Field(default_factory=list)


class ScanResult(Model):
    """One (resolver, domain) pair: what the resolver said, the checks, the verdict."""

    resolver: str = Field(description="ADDRESS:PORT ([ADDRESS]:PORT for IPv6).")
    domain: str
    observation: Observation | None = Field(
        None, description="Null when the resolver was not asked (unresponsive, failed_control)."
    )
    checks: Checks | None = None
    verdict: Verdict


class ScanStats(Model):
    """What the scan cost."""

    queries: int = Field(description="DNS queries sent to the scanned resolvers (all attempts).")
    timeouts: int = Field(description="Of those, how many got no reply in time.")
    tcp_fallbacks: int = Field(description="Truncated UDP replies asked again over TCP.")
    control_queries: int
    tls_checks: int = Field(description="Handshakes made (each (address, domain) once).")
    t: float = Field(description="Seconds the whole scan took.")


class ScanSummary(Model):
    results: int
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    resolvers_by_status: dict[str, int]


class ScanDocument(Model):
    """The scan document: results/<UTC time>-dns-scan.json."""

    schema_version: str = SCAN_SCHEMA_VERSION
    kind: Literal["censorcheck.dns-scan"] = "censorcheck.dns-scan"
    scan_id: str
    started_at: str
    finished_at: str
    tool: Tool
    rules_version: str = SCAN_RULES_VERSION
    settings: dict[str, object] = Field(description="Every knob in force, local paths as names.")
    domains: list[str]
    nonexistent: str = Field(description="The random name asked to catch answers to anything.")
    resolvers: list[ScanResolver]
    controls: dict[str, ControlAnswer] = Field(
        description="The control's answer per name: the domains, the probe domains and the "
        "nonexistent name."
    )
    results: list[ScanResult] = Field(
        description="One per (resolver, domain), resolvers in file order, domains in list order."
    )
    stats: ScanStats
    summary: ScanSummary
