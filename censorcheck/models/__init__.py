"""The JSON contract: every document censorcheck writes is one of these pydantic models.

Changing a field here changes the published schema (``censorcheck schema``); a test compares
the generated schema with the committed copy in ``schema/run.schema.json``, so that such a
change is always deliberate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from censorcheck.models.base import ControlSource, Layer, Model, Status
from censorcheck.models.observations import (
    Certificate,
    DNSAnswer,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    HTTPSRecord,
    QUICFetch,
    QUICHandshake,
    TCPConnect,
    TLSHandshake,
    Transfer,
)
from censorcheck.netinfo import NetworkIdentity

SCHEMA_VERSION = "1.7"
# The ``rules_version`` of documents from before schema 1.1, which did not record which verdict
# rules produced their verdicts.
UNKNOWN_RULES = "0"

__all__ = [
    "SCHEMA_VERSION",
    "UNKNOWN_RULES",
    "AtControlAddresses",
    "Baseline",
    "Certificate",
    "Control",
    "ControlServerStatus",
    "ControlSource",
    "DNSAnswer",
    "DNSQuery",
    "Evidence",
    "HTTPFetch",
    "HTTPHop",
    "HTTPResponse",
    "HTTPSRecord",
    "Layer",
    "Model",
    "QUICFetch",
    "QUICHandshake",
    "ResolverStatus",
    "Result",
    "Run",
    "Status",
    "Summary",
    "TCPConnect",
    "TLSHandshake",
    "Target",
    "Tool",
    "Transfer",
    "VantageInfo",
    "Verdict",
]


# --- targets -------------------------------------------------------------------------------


class Target(Model):
    """One thing to measure."""

    url: str = Field(
        description="Normalised URL: scheme, lower-case host, explicit path; a hashbang "
        "fragment (#!) is kept, any other dropped."
    )
    domain: str = Field(description="The URL's host name (lower case, IDNA-encoded).")
    category: str | None = Field(None, description="Citizen Lab category code, e.g. NEWS.")
    note: str | None = Field(None, description="Free text from the target list.")
    expect: Status | None = Field(None, description="Expected verdict status, for --check.")
    expect_quic: Status | None = Field(
        None, description="Expected status of the QUIC verdict, for --check (schema 1.5)."
    )


# --- control, verdict, result, run ---------------------------------------------------------


class Control(Model):
    """The uncensored reference measurement.

    Made either by querying control resolvers from the probe itself (``source`` "resolvers":
    DNS only), or by a control server on an uncensored network (``source`` "server"), which also
    connects, shakes hands and fetches the page from there, to its own addresses and to the
    probe's; or in the same way by another vantage of the run (``source`` "vantage"); or by an
    OONI Web Connectivity test helper (``source`` "ooni", schema 1.4), which measures the probe's
    addresses too but reports no address for its fetch, no body and no certificates.
    """

    source: ControlSource = Field("resolvers", description="Who made the control measurement.")
    vantage: str | None = Field(
        None, description="The vantage that made it, when ``source`` is 'vantage'."
    )
    dns: list[DNSQuery] = Field(default_factory=list)
    tcp: list[TCPConnect] = Field(
        default_factory=list,
        description="Control server only: connections to its own and to the probe's addresses.",
    )
    tls: list[TLSHandshake] = Field(
        default_factory=list,
        description="Control server only: handshakes naming the host on those connections.",
    )
    http: HTTPFetch | None = Field(
        None, description="Control server only: the fetch through one of its own addresses."
    )
    quic: list[QUICFetch] = Field(
        default_factory=list,
        description="Control server only: HTTP/3 at its own addresses, when the probe tried "
        "QUIC (schema 1.5).",
    )
    deadline_hit: bool = Field(
        False,
        description="True when the control's deadline cut its measurement short, so some "
        "address or step may never have been tried (schema 1.3).",
    )
    failure: str | None = Field(
        None,
        description="Set when no control observation succeeded; control.* codes say the "
        "control server itself could not be used (unreachable, unauthorized, rate_limited, "
        "bad_response, timeout).",
    )


class AtControlAddresses(Model):
    """The probe's own TCP, TLS and HTTP at addresses only the control resolved (schema 1.5).

    Made when the probe's resolvers failed, or gave no address the control also got: whether
    the site works from this vantage at the control's addresses tells a resolver that sends
    people elsewhere from an address that is down. Bogon addresses are never dialled.
    """

    source: ControlSource = Field(
        description="Whose DNS answers the addresses came from (as ``control.source``)."
    )
    addresses: list[str] = Field(
        description="The control's addresses measured, in the order tried (A before AAAA)."
    )
    tcp: list[TCPConnect] = Field(default_factory=list)
    tls: list[TLSHandshake] = Field(
        default_factory=list,
        description="Handshakes naming the host, validated for it against the trust store.",
    )
    http: HTTPFetch | None = Field(
        None, description="The fetch through the first of those addresses that worked."
    )
    deadline_hit: bool = Field(
        False, description="True when the target's deadline cut this measurement short."
    )


class Evidence(Model):
    """One observation a verdict rests on."""

    ref: str = Field(description="JSON pointer into the result, e.g. /tls/0/neutral.")
    fact: str = Field(description="What that observation shows, in plain words.")


class Verdict(Model):
    """The judgement for one target, explainable from its evidence."""

    status: Status
    blocking: Layer | None = Field(None, description="Layer of the blocking, when blocked.")
    outcome: str = Field(description="Dotted code of what happened, e.g. dns.nxdomain.")
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(description="One plain sentence.")
    evidence: list[Evidence] = Field(default_factory=list)


class Result(Model):
    """Everything measured for one target, and the verdict."""

    target: Target
    vantage: str | None = Field(
        None, description="Name of the vantage this result was measured from (schema 1.3)."
    )
    started_at: str
    t: float = Field(description="Seconds the whole target took.")
    dns: list[DNSQuery] = Field(default_factory=list)
    tcp: list[TCPConnect] = Field(default_factory=list)
    tls: list[TLSHandshake] = Field(default_factory=list)
    http: HTTPFetch | None = None
    dns_https: list[DNSQuery] = Field(
        default_factory=list,
        description="The HTTPS record (DNS type 65) of an https target's host, asked of each "
        "probe resolver beside A and AAAA when --quic is auto (schema 1.7). It only decides "
        "whether QUIC is tried: no verdict reads it, so a censor that strips or blocks it "
        "changes none.",
    )
    control: Control
    control_addresses: AtControlAddresses | None = Field(
        None,
        description="The probe's measurement at the control's addresses, when its own DNS "
        "failed or disagreed with the control's (schema 1.5).",
    )
    quic: list[QUICFetch] = Field(
        default_factory=list,
        description="HTTP/3 at up to two of the probe's addresses, when QUIC was tried "
        "(schema 1.5).",
    )
    deadline_hit: bool = Field(False, description="True when the per-target deadline cut it.")
    error: str | None = Field(
        None, description="An unexpected error inside censorcheck that cut this target short."
    )
    verdict: Verdict
    quic_verdict: Verdict | None = Field(
        None,
        description="The verdict on HTTP/3 alone, when QUIC was tried: a site whose QUIC is "
        "blocked while TCP works is not 'accessible, full stop' (schema 1.5).",
    )


class Baseline(Model):
    """What one vantage saw over the whole run, for the rules that weigh one target against the
    rest (schema 1.7): its usual speed, and whether QUIC works from it at all."""

    vantage: str | None = Field(None, description="The vantage (as ``result.vantage``).")
    throughput: float | None = Field(
        None,
        description="Upper quartile of the throughput (bytes/s) of the fetches that were judged "
        "accessible and timed a body of at least 64 KiB that was not cut, interpolated between "
        "ranks: what the line can carry; null with no such fetch.",
    )
    throughput_samples: int = Field(0, description="How many fetches that figure is over.")
    quic_targets: int = Field(0, description="Targets where a QUIC handshake was tried.")
    quic_addresses: int = Field(0, description="Addresses where a QUIC handshake was tried.")
    quic_answered: int = Field(
        0,
        description="Of those addresses, how many completed a QUIC handshake, naming the host "
        "or a neutral name: UDP to port 443 gets through there.",
    )
    quic_control_loaded: int = Field(
        0,
        description="Targets whose QUIC failed at every address here while the control "
        "completed a QUIC handshake with the site.",
    )


class Tool(Model):
    name: Literal["censorcheck"] = "censorcheck"
    version: str


class ResolverStatus(Model):
    """A resolver and whether it answered the pre-flight query."""

    uri: str
    role: Literal["probe", "control"]
    alive: bool
    rtt: float | None = Field(None, description="Seconds of the pre-flight round trip.")
    failure: str | None = None


class ControlServerStatus(Model):
    """The control server a run used, and whether it answered the pre-flight health check."""

    url: str = Field(description="Its base URL, without credentials.")
    protocol: Literal["censorcheck", "ooni"] = Field(
        "censorcheck",
        description="censorcheck's control protocol, or OONI's Web Connectivity test-helper "
        "protocol (schema 1.4); for 'ooni', ``url`` is the helper that answered the health "
        "check, or the first one tried when none did.",
    )
    alive: bool
    version: str | None = Field(
        None,
        description="censorcheck version the server reported (an OONI helper's Server header).",
    )
    failure: str | None = Field(None, description="A control.* code when it did not answer.")


class VantageInfo(Model):
    """Where the measurement was made from. Never the probe's public address."""

    name: str
    source_address: str | None = Field(
        None, description="Bound local address; 'redacted' when it is a public address."
    )
    proxy: str | None = Field(
        None, description="The proxy traffic left through, without credentials (schema 1.3)."
    )
    country: str | None = Field(None, description="ISO 3166 country code (see ``network``).")
    asn: int | None = Field(None, description="Autonomous system number (see ``network``).")
    network: NetworkIdentity | None = Field(None, description="Schema 1.6: detection, sources.")
    network_type: str | None = Field(None, description="home, mobile, vpn, tor, ... as configured.")
    notes: str | None = None
    resolvers: list[ResolverStatus] = Field(default_factory=list)
    ipv6: bool = Field(description="Whether IPv6 was used from this vantage.")
    control_server: ControlServerStatus | None = Field(
        None, description="The control server, when the run used one instead of resolvers."
    )
    control_vantage: str | None = Field(
        None, description="The vantage whose measurements served as this one's control."
    )
    failure: str | None = Field(
        None, description="Why nothing was measured from this vantage (e.g. no resolver answered)."
    )


class Summary(Model):
    total: int
    by_status: dict[str, int]
    by_blocking: dict[str, int]
    by_vantage: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Statuses counted per vantage (schema 1.3)."
    )
    quic_by_status: dict[str, int] = Field(
        default_factory=dict,
        description="QUIC verdict statuses, over the targets where QUIC was tried (schema 1.5).",
    )

    @classmethod
    def of(cls, results: Sequence[Result]) -> Summary:
        """The counts of a run's results, as its document records them."""
        by_status = Counter(r.verdict.status for r in results)
        by_blocking = Counter(r.verdict.blocking for r in results if r.verdict.blocking)
        by_vantage: dict[str, Counter[str]] = {}
        for r in results:
            if r.vantage is not None:
                by_vantage.setdefault(r.vantage, Counter())[r.verdict.status] += 1
        return cls(
            total=len(results),
            by_status=dict(by_status),
            by_blocking=dict(by_blocking),
            by_vantage={name: dict(counts) for name, counts in by_vantage.items()},
            quic_by_status=dict(Counter(r.quic_verdict.status for r in results if r.quic_verdict)),
        )


class Run(Model):
    """The run document: one per run, written to results/<UTC time>-<vantage>.json."""

    schema_version: str = SCHEMA_VERSION
    run_id: str
    started_at: str
    finished_at: str
    tool: Tool
    vantage: VantageInfo = Field(description="The first (often the only) vantage of the run.")
    vantages: list[VantageInfo] = Field(
        default_factory=list,
        description="Every vantage of the run, the first being ``vantage`` (schema 1.3; empty "
        "in older documents, where ``vantage`` was the only one).",
    )
    settings: dict[str, object] = Field(description="Every knob in force, as set.")
    rules_version: str = Field(
        UNKNOWN_RULES,
        description="Version of the verdict rules that produced the verdicts "
        "(censorcheck.measure.verdict.RULES_VERSION); '0' means unknown: a document from before "
        "schema 1.1, which did not record it.",
    )
    baselines: list[Baseline] = Field(
        default_factory=list,
        description="One per vantage: the run-wide figures that the throttling and QUIC rules "
        "weigh each result against (schema 1.7; empty in older documents).",
    )
    results: list[Result]
    summary: Summary
