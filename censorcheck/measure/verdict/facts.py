"""What the rules share: the observations, derived facts, and how a verdict is put together."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from censorcheck.measure.bogons import IPNetwork, is_bogon
from censorcheck.models import (
    AtControlAddresses,
    Control,
    DNSQuery,
    Evidence,
    HTTPFetch,
    Layer,
    QUICFetch,
    ResolverStatus,
    Result,
    Status,
    Target,
    TCPConnect,
    TLSHandshake,
    Verdict,
)

RULES_VERSION = "7"

CERT_FAILURES = frozenset(
    {"tls.untrusted", "tls.hostname_mismatch", "tls.expired", "tls.invalid_certificate"}
)
# Failures that look like interference with a connection, as opposed to a certificate problem.
# An alert is left out: servers send them for their own reasons (client certificates, ciphers).
SNI_INTERFERENCE = frozenset({"reset", "timeout", "eof"})
# After a request, a slow answer is the site's own business; only an abrupt end looks like a box.
HTTP_INTERFERENCE = frozenset({"reset", "eof"})

OUTCOMES = {
    "accessible": "The page loaded from an address consistent with the control.",
    "dns.nxdomain": "The probe's resolver said the name does not exist.",
    "dns.refused": "The probe's resolver refused the query.",
    "dns.servfail": "The probe's resolver answered SERVFAIL (twice).",
    "dns.timeout": "The probe's resolver, alive for other names, did not answer.",
    "dns.no_answer": "The probe's resolver answered with no address.",
    "dns.bogon": "The probe's resolver answered only non-routable addresses.",
    "dns.injected": "Two different answers arrived for one query; the first was false.",
    "dns.inconsistent": "Addresses unlike the control's that do not serve the site.",
    "dns.blockpage": "The name resolved to a server that returned a known blockpage.",
    "dns.unverified": "A page loaded, but from an address nothing vouches for: not the "
    "control's, no certificate valid for the host, no control page to match.",
    "tcp.<failure>": "No address accepted a connection (timeout, refused, reset, ...).",
    "control.<failure>": "Never an outcome: the control server's own trouble appears as the "
    "control's failure, and makes would-be blocking inconclusive.",
    "proxy.<failure>": "The vantage's proxy failed (unreachable, refused, error): nothing is "
    "known about the site.",
    "tcp.no_usable_address": "Every address was skipped (e.g. IPv6 without IPv6).",
    "tls.sni_blocking": "The handshake naming the host failed; one with a neutral name worked.",
    "tls.mitm": "A certificate from an untrusted issuer replaced the site's trusted one.",
    "tls.<failure>": "The handshake failed on every address for reasons not pinned down.",
    "http.blockpage": "A response matched a blockpage fingerprint.",
    "http.451": "A plain-HTTP page came back as HTTP 451 with no control page to weigh it against.",
    "http.diff": "A plain-HTTP page clearly unlike the control server's, whether or not a "
    "redirect to a host the control never saw led there; inconclusive when only unlike.",
    "tls.stall_after_bytes": "An HTTPS body froze after its first bytes, twice, while the control "
    "server read more of it from the same address; inconclusive without that.",
    "http.stall_after_bytes": "The same for a plain-HTTP body.",
    "tls.throttled": "(run-level) An HTTPS body arrived at a tenth or less of both the control's "
    "throughput for the same URL and this vantage's median over the run; inconclusive with one "
    "of them missing.",
    "http.throttled": "The same for a plain-HTTP body.",
    "quic.sni_blocking": "(QUIC verdict) The QUIC handshake naming the host failed where one "
    "with a neutral name completed at the same address.",
    "quic.<failure>": "(QUIC verdict) HTTP/3 failed: blocked where every handshake here went "
    "unanswered while the control server loaded it over HTTP/3, or an OONI test helper completed "
    "a handshake at the same address; down where the control's QUIC failed too; inconclusive "
    "where QUIC failed nearly everywhere from this vantage in the run.",
    "http.<failure>": "The request failed (reset, eof, timeout) after the connection was made.",
    "<layer>.deadline": "The per-target deadline ended the measurement at that layer.",
    "<layer>.error": "An internal error ended the measurement at that layer.",
    "verdict.error": "The rules themselves failed on the observations (a bug).",
}


@dataclass(frozen=True)
class Observations:
    """What a verdict may look at: a result without its verdict."""

    target: Target
    dns: Sequence[DNSQuery] = ()
    tcp: Sequence[TCPConnect] = ()
    tls: Sequence[TLSHandshake] = ()
    http: HTTPFetch | None = None
    control: Control = field(default_factory=Control)
    deadline_hit: bool = False
    error: str | None = None
    control_addresses: AtControlAddresses | None = None
    quic: Sequence[QUICFetch] = ()

    def fields(self) -> dict[str, Any]:
        """The observations as keyword arguments of a :class:`Result`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def of(cls, result: Result) -> Observations:
        return cls(
            result.target,
            result.dns,
            result.tcp,
            result.tls,
            result.http,
            result.control,
            result.deadline_hit,
            result.error,
            result.control_addresses,
            result.quic,
        )


@dataclass(frozen=True)
class JudgeContext:
    """Facts about the run that are not about one target."""

    public: tuple[IPNetwork, ...] = ()  # networks not to count as bogons (the lab)
    dead_resolvers: frozenset[str] = frozenset()  # probe resolvers silent in the pre-flight

    @classmethod
    def of(cls, public: tuple[IPNetwork, ...], statuses: Iterable[ResolverStatus]) -> JudgeContext:
        """The context of a run whose pre-flight gave ``statuses`` (both roles may be given)."""
        dead = frozenset(s.uri for s in statuses if s.role == "probe" and not s.alive)
        return cls(public, dead)


def conclude(
    status: Status,
    outcome: str,
    confidence: float,
    reason: str,
    evidence: list[Evidence],
    blocking: Layer | None = None,
) -> Verdict:
    return Verdict(
        status=status,
        blocking=blocking if status == "blocked" else None,
        outcome=outcome,
        confidence=confidence,
        reason=reason,
        evidence=evidence,
    )


def cite(ref: str, fact: str) -> Evidence:
    return Evidence(ref=ref, fact=fact)


def merge(*groups: list[Evidence]) -> list[Evidence]:
    """The evidence of every group in order, each pointer once (the first fact for it wins)."""
    seen: set[str] = set()
    merged = []
    for e in (e for group in groups for e in group):
        if e.ref not in seen:
            seen.add(e.ref)
            merged.append(e)
    return merged


def same_failure(a: str | None, b: str | None) -> bool:
    """Did two attempts fail the same way (``tls.reset`` and ``http.reset`` alike)?"""
    return a is not None and b is not None and a.split(".")[-1] == b.split(".")[-1]


def addresses_of(queries: Sequence[DNSQuery]) -> set[str]:
    return {a for q in queries if q.answer for a in q.answer.addresses}


def describe_query(q: DNSQuery) -> str:
    if q.failure:
        return f"{q.resolver} gave {q.failure} for {q.qtype} {q.hostname}"
    addresses = ", ".join(q.answer.addresses) if q.answer and q.answer.addresses else "no address"
    return f"{q.resolver} answered {q.qtype} {q.hostname} with {addresses}"


@dataclass(frozen=True)
class Facts:
    """Derived once per judgement, shared by the rules."""

    obs: Observations
    ctx: JudgeContext
    probe_addrs: set[str]
    control_addrs: set[str]
    control: Literal["ok", "nxdomain", "no_address", "failed"]
    trusted: set[str]  # addresses where the handshake naming the host validated
    # Addresses where the control server's handshake naming the host validated.
    control_trusted: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, obs: Observations, ctx: JudgeContext) -> Facts:
        control_addrs = addresses_of(obs.control.dns)
        answered = [q for q in obs.control.dns if q.answer is not None]
        state: Literal["ok", "nxdomain", "no_address", "failed"]
        if control_addrs:
            state = "ok"
        elif any(q.answer.rcode == "NXDOMAIN" for q in answered if q.answer):
            state = "nxdomain"
        elif answered:
            state = "no_address"
        else:
            state = "failed"
        trusted = {
            h.address
            for h in obs.tls
            for attempt in (h, h.repeat)
            if attempt is not None and attempt.failure is None and attempt.trusted
        }
        own = [q for q in obs.dns if q.hostname == obs.target.domain]
        control_trusted = {
            h.address
            for h in obs.control.tls
            for attempt in (h, h.repeat)
            if attempt is not None and attempt.failure is None and attempt.trusted
        }
        return cls(obs, ctx, addresses_of(own), control_addrs, state, trusted, control_trusted)

    # --- the control server's view ---------------------------------------------------------

    @property
    def who(self) -> str:
        """The control, named as its source made it, for reasons and evidence."""
        c = self.obs.control
        if c.source == "server":
            return "the control server"
        if c.source == "ooni":
            return "the OONI test helper"
        if c.source == "vantage":
            return f"the control vantage {c.vantage}" if c.vantage else "the control vantage"
        return "the control resolvers"

    @property
    def server(self) -> bool:
        """Did a control server (or a control vantage, which measures the same way, or an OONI
        test helper, which measures the probe's addresses too) answer with observations of its
        own? A helper's fetch has no address and no body, and the rules that need those find
        nothing to use."""
        c = self.obs.control
        return c.source in ("server", "vantage", "ooni") and not (c.failure or "").startswith(
            "control."
        )

    def control_connect(self, address: str) -> TCPConnect | None:
        """The control server's connection attempt to ``address`` (not a skipped one)."""
        return next(
            (c for c in self.obs.control.tcp if c.address == address and c.skipped is None), None
        )

    def control_handshake(self, address: str) -> tuple[int, TLSHandshake] | None:
        """The control server's handshake naming the host at ``address``, with its index."""
        return next(
            ((i, h) for i, h in enumerate(self.obs.control.tls) if h.address == address), None
        )

    def queries(self) -> list[tuple[int, DNSQuery]]:
        """The target's own lookups with their index (canary lookups are left out)."""
        return [(i, q) for i, q in enumerate(self.obs.dns) if q.hostname == self.obs.target.domain]

    def canary_answered(self, resolver: str) -> bool:
        """Did ``resolver`` answer a canary name asked right after a timeout for the target?"""
        return any(
            q.resolver == resolver and q.hostname != self.obs.target.domain and q.answer
            for q in self.obs.dns
        )

    def genuine_leaf(self, h: TLSHandshake) -> bool:
        """Is the leaf ``h`` got one that the control validated for the host? Then a probe that
        rejects it has a clock or trust store of its own to blame, not the path."""
        validated = {
            c.chain[0].sha256
            for c in self.obs.control.tls
            if c.failure is None and c.trusted and c.chain
        }
        return bool(h.chain) and h.chain[0].sha256 in validated

    def forgery(self, addresses: set[str]) -> list[Evidence]:
        """Positive evidence that ``addresses`` are not the site's, cited; empty when there is
        none. Signs: a non-routable address; a certificate failure there (unless the probe
        rejected the very leaf the control validated); the control server's certificate failure
        there (only when it validated the host elsewhere: a control that fails its own addresses
        too has a broken check, not a forged address); a blockpage served from there."""
        found: list[Evidence] = []
        for i, q in self.queries():
            answers = [("", q.answer)] if q.answer else []
            answers += [(f"/late_answers/{k}", a) for k, a in enumerate(q.late_answers)]
            for suffix, answer in answers:
                bogons = [
                    a for a in answer.addresses if a in addresses and is_bogon(a, self.ctx.public)
                ]
                if bogons:
                    found.append(cite(f"/dns/{i}{suffix}", f"non-routable: {', '.join(bogons)}"))
        for i, h in enumerate(self.obs.tls):
            if h.address in addresses and h.failure in CERT_FAILURES and not self.genuine_leaf(h):
                issuer = h.chain[0].issuer if h.chain else "an unrecorded issuer"
                found.append(
                    cite(f"/tls/{i}", f"{h.address}: {h.failure}, certificate issued by {issuer}")
                )
        elsewhere = sorted(self.control_trusted - addresses)
        if elsewhere:
            failed = [
                cite(
                    f"/control/tls/{j}", f"{self.who} at {h.address}, naming the host: {h.failure}"
                )
                for j, h in enumerate(self.obs.control.tls)
                if h.address in addresses and h.failure in CERT_FAILURES
            ]
            if failed:
                j = next(j for j, h in enumerate(self.obs.control.tls) if h.address == elsewhere[0])
                found += failed
                found.append(
                    cite(
                        f"/control/tls/{j}",
                        f"{self.who} validated the host's certificate at {elsewhere[0]}",
                    )
                )
        hop0 = self.obs.http.hops[0] if self.obs.http and self.obs.http.hops else None
        if hop0 and hop0.address in addresses and hop0.response and hop0.response.fingerprint:
            found.append(
                cite("/http/hops/0/response", f"{hop0.address} served blockpage "
                     f"{hop0.response.fingerprint}")
            )  # fmt: skip
        return found

    def control_evidence(self) -> list[Evidence]:
        """The control's lookups, and its failure when it had one."""
        c = self.obs.control
        evidence = [cite(f"/control/dns/{i}", describe_query(q)) for i, q in enumerate(c.dns)]
        if c.failure:
            evidence.append(cite("/control/failure", f"{self.who} failed: {c.failure}"))
        return evidence

    def dns_evidence(self, only_failed: bool = False) -> list[Evidence]:
        return [
            cite(f"/dns/{i}", describe_query(q))
            for i, q in enumerate(self.obs.dns)
            if not only_failed or q.failure or not (q.answer and q.answer.addresses)
        ]


def fingerprinted(http: HTTPFetch | None) -> tuple[int, str] | None:
    """The first hop whose page matched a blockpage fingerprint.

    Pages fetched over https came through a handshake validated for the host, so they are the
    site's own even when they quote a blockpage (a news story about censorship): only plain-HTTP
    hops count.
    """
    for i, hop in enumerate(http.hops if http else ()):
        if hop.url.startswith("http://") and hop.response and hop.response.fingerprint:
            return i, hop.response.fingerprint
    return None
