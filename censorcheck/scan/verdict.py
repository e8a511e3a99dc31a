"""The verdict on one (resolver, domain) pair. Pure: no I/O, no clock, table-tested.

The rules run in order and the first that decides wins; the README's dns-scan methodology table
lists them. A false "blocked" is worse than a missed one: blocking is claimed only when the
control resolved the name and the resolver, one that answers the probe domains correctly,
denied it, pointed it nowhere, or pointed it at an address that presented a certificate not
valid for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from censorcheck.measure.probes.tls import CERT_FAILURES
from censorcheck.models import Evidence, Status, Verdict
from censorcheck.scan.models import Checks, ControlAnswer, Observation, ScanResolver

OUTCOMES = frozenset({
    "accessible",
    "dns.nxdomain", "dns.refused", "dns.servfail", "dns.no_answer",
    "dns.bogon", "dns.inconsistent", "dns.timeout",
    "dns.unreachable", "dns.bad_response", "dns.error",
    "resolver.unresponsive", "resolver.failed_control", "resolver.answers_everything",
    "control.failed",
})  # fmt: skip
# Replies that deny the name, and how sure a denial by a resolver that works makes us.
DENIALS = {"dns.nxdomain": 0.9, "dns.refused": 0.85, "dns.servfail": 0.7, "dns.no_answer": 0.7}
TIMEOUT_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Where:
    """JSON pointers into the scan document, for the evidence."""

    result: str  # /results/17
    resolver: str  # /resolvers/3
    control: str  # /controls/example.com


def _verdict(
    status: Status, outcome: str, confidence: float, reason: str, evidence: list[Evidence]
) -> Verdict:
    return Verdict(
        status=status,
        blocking="dns" if status == "blocked" else None,
        outcome=outcome,
        confidence=confidence,
        reason=reason,
        evidence=evidence,
    )


def _control_fact(control: ControlAnswer, where: Where) -> Evidence:
    if control.status == "resolved":
        fact = f"the control resolvers answered {', '.join(control.addresses)}"
    elif control.status == "gone":
        fact = "the control resolvers say the name does not exist"
    else:
        fact = "no control resolver answered"
    return Evidence(ref=where.control, fact=fact)


def _answer_fact(obs: Observation, where: Where) -> Evidence:
    ref = f"{where.result}/observation"
    if obs.rcode is None:
        return Evidence(ref=ref, fact=f"no reply to {obs.attempts} queries ({obs.failure})")
    if obs.addresses:
        return Evidence(ref=ref, fact=f"answered {', '.join(obs.addresses)}")
    return Evidence(ref=ref, fact=f"answered {obs.rcode} with no address")


def judge(
    resolver: ScanResolver,
    control: ControlAnswer,
    obs: Observation | None,
    checks: Checks | None,
    where: Where,
) -> Verdict:
    """The verdict for what ``resolver`` said (``obs``) about a name the control saw so."""
    if obs is None or resolver.status in ("unresponsive", "failed_control"):
        return _verdict(
            "inconclusive",
            f"resolver.{resolver.status}",
            0.0,
            f"The resolver was not trusted: {resolver.reason}.",
            [Evidence(ref=where.resolver, fact=resolver.reason)],
        )
    if obs.rcode is None:
        return _silence(control, obs, where)
    failure = obs.failure or (None if obs.addresses else "dns.no_answer")
    if failure is not None:
        return _denial(failure, control, obs, where)
    assert checks is not None, "an answer with addresses is always checked"
    return _addresses(control, obs, checks, where)


def _silence(control: ControlAnswer, obs: Observation, where: Where) -> Verdict:
    """No reply, even to the retries."""
    evidence = [_answer_fact(obs, where), _control_fact(control, where)]
    failure = obs.failure or "dns.error"
    if failure != "dns.timeout":
        return _verdict(
            "inconclusive",
            failure,
            0.3,
            "The query failed on the way to the resolver, which says nothing about the name.",
            evidence,
        )
    if control.status == "gone":
        return _verdict(
            "down", failure, 0.6, "The name does not exist for the control either.", evidence
        )
    if control.status == "failed":
        return _verdict(
            "inconclusive", failure, 0.3, "Neither the resolver nor the control answered.", evidence
        )
    canary = obs.canary
    if canary is None or canary.rcode is None:
        return _verdict(
            "inconclusive",
            failure,
            0.3,
            "The resolver went silent, and did not answer a probe domain right after either.",
            evidence,
        )
    evidence.append(
        Evidence(
            ref=f"{where.result}/observation/canary",
            fact=f"then answered {canary.name} ({canary.rcode})",
        )
    )
    return _verdict(
        "blocked",
        failure,
        TIMEOUT_CONFIDENCE,
        "The resolver stayed silent about the name through every retry, yet answered a probe "
        "domain right after.",
        evidence,
    )


def _denial(failure: str, control: ControlAnswer, obs: Observation, where: Where) -> Verdict:
    """A reply without an address: NXDOMAIN, REFUSED, SERVFAIL, another rcode, or empty."""
    evidence = [_answer_fact(obs, where), _control_fact(control, where)]
    if control.status == "gone":
        return _verdict(
            "down", failure, 0.8, "The name does not exist for the control either.", evidence
        )
    if control.status == "failed":
        return _verdict(
            "inconclusive",
            failure,
            0.3,
            "The resolver denied the name, but no control resolver could confirm it exists.",
            evidence,
        )
    if failure not in DENIALS:
        return _verdict(
            "inconclusive",
            failure,
            0.3,
            f"The resolver answered {obs.rcode}, which is no usual way to deny a name.",
            evidence,
        )
    return _verdict(
        "blocked",
        failure,
        DENIALS[failure],
        "The resolver denied a name that the control resolved.",
        evidence,
    )


def _addresses(control: ControlAnswer, obs: Observation, checks: Checks, where: Where) -> Verdict:
    """An answer with addresses, judged by the checks."""
    at = f"{where.result}/checks"
    evidence = [_answer_fact(obs, where), _control_fact(control, where)]
    if not checks.judged and not checks.bogons:
        fact = f"{', '.join(checks.discounted)}: given by this resolver for any name"
        return _verdict(
            "inconclusive",
            "resolver.answers_everything",
            0.2,
            "The resolver gives this answer for every name, so it says nothing about this one.",
            [*evidence, Evidence(ref=f"{at}/discounted", fact=fact)],
        )
    if control.status == "gone":
        return _verdict(
            "inconclusive",
            "dns.inconsistent",
            0.4,
            "The resolver gave addresses for a name the control says does not exist "
            "(a stale cache, or a resolver that fills in missing names).",
            evidence,
        )
    if control.status == "failed":
        return _verdict(
            "inconclusive",
            "control.failed",
            0.3,
            "No control resolver answered, so the answer cannot be compared.",
            evidence,
        )
    if not checks.judged:
        fact = f"{', '.join(checks.bogons)}: not publicly routable"
        return _verdict(
            "blocked",
            "dns.bogon",
            0.95,
            "The resolver pointed the name at a non-routable address; the control resolved it.",
            [*evidence, Evidence(ref=f"{at}/bogons", fact=fact)],
        )
    if checks.overlap:
        fact = f"{', '.join(checks.overlap)} also in the control's answer"
        return _verdict(
            "accessible",
            "accessible",
            0.95,
            "The answer shares addresses with the control's.",
            [*evidence, Evidence(ref=f"{at}/overlap", fact=fact)],
        )
    if checks.asn_match:
        fact = f"AS{', AS'.join(map(str, checks.asn_match))}, as the control's addresses"
        return _verdict(
            "accessible",
            "accessible",
            0.9,
            "The answered addresses are in the same autonomous system as the control's.",
            [*evidence, Evidence(ref=f"{at}/asn_match", fact=fact)],
        )
    return _by_certificate(checks, evidence, at)


def _by_certificate(checks: Checks, evidence: list[Evidence], at: str) -> Verdict:
    """Addresses unlike the control's, in other networks: does any serve the site?"""
    for i, check in enumerate(checks.tls):
        if check.valid:
            fact = f"{check.address} presented a valid certificate for {check.sni}"
            return _verdict(
                "accessible",
                "accessible",
                0.9,
                "The answered address differs from the control's but serves a valid "
                "certificate for the name (a CDN edge).",
                [*evidence, Evidence(ref=f"{at}/tls/{i}", fact=fact)],
            )
    wrong = [(i, c) for i, c in enumerate(checks.tls) if c.failure in CERT_FAILURES]
    if wrong:
        cited = [
            Evidence(
                ref=f"{at}/tls/{i}",
                fact=f"{c.address} presented a certificate not valid for {c.sni} "
                f"({c.validation_error or c.failure})",
            )
            for i, c in wrong
        ]
        return _verdict(
            "blocked",
            "dns.inconsistent",
            0.8,
            "The answered addresses share nothing with the control's, and an address "
            "presented a certificate not valid for the name.",
            [*evidence, *cited],
        )
    failed = "; ".join(f"{c.address}: {c.failure}" for c in checks.tls) or "none was tried"
    return _verdict(
        "inconclusive",
        "dns.inconsistent",
        0.4,
        "The answer shares nothing with the control's, but no answered address completed a "
        "handshake to say whose it is.",
        [*evidence, Evidence(ref=f"{at}/tls", fact=f"no handshake completed ({failed})")],
    )
