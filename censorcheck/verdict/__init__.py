"""From observations to a verdict. Pure: no I/O, no clock; re-runnable on any stored result.

The rules run in the order a connection is made (DNS, TCP, TLS, HTTP). Each either decides or
passes. A claim of blocking needs two things: a failure or a tampering sign on the probe's side, and
a reference showing the site is fine (the control, or the same address answering when the name
is not mentioned). Without a working control nothing is called blocked: such cases are
``inconclusive`` with the outcome that was seen, so the evidence is kept but no claim is made.
The README's methodology section documents each rule; ``OUTCOMES`` lists the codes.
"""

from __future__ import annotations

from censorcheck.bogons import is_ip
from censorcheck.models import Verdict
from censorcheck.verdict.connection import (
    cut_short,
    proxy_failed,
    tcp_failed,
    tls_failed,
)
from censorcheck.verdict.dns import (
    dns_bogon,
    dns_failed,
    dns_inconsistent,
    dns_injected,
    dns_phantom,
)
from censorcheck.verdict.facts import (
    CERT_FAILURES,
    HTTP_INTERFERENCE,
    OUTCOMES,
    RULES_VERSION,
    SNI_INTERFERENCE,
    Facts,
    JudgeContext,
    Observations,
    merge,
)
from censorcheck.verdict.http import accessible, http_diff, http_failed

__all__ = [
    "CERT_FAILURES",
    "HTTP_INTERFERENCE",
    "OUTCOMES",
    "RULES_VERSION",
    "SNI_INTERFERENCE",
    "JudgeContext",
    "Observations",
    "judge",
]


_RULES = (
    proxy_failed,
    dns_injected,
    dns_failed,
    dns_bogon,
    dns_phantom,
    cut_short,
    dns_inconsistent,
    tcp_failed,
    tls_failed,
    http_failed,
    http_diff,
)


def judge(obs: Observations, ctx: JudgeContext | None = None) -> Verdict:
    """The verdict for one target's observations."""
    facts = Facts.of(obs, ctx or JudgeContext())
    verdict = next((v for rule in _RULES if (v := rule(facts)) is not None), None)
    if verdict is None:
        verdict = accessible(facts)
    if verdict.status == "blocked" and facts.control != "ok" and not is_ip(obs.target.domain):
        # Without a reference view there is no claim to make about a government.
        return verdict.model_copy(
            update={
                "status": "inconclusive",
                "blocking": None,
                "confidence": min(verdict.confidence, 0.5),
                "reason": f"Looks like {verdict.outcome} but {facts.who} could not confirm the "
                "site, so no blocking is claimed.",
                "evidence": merge(verdict.evidence, facts.control_evidence()),
            }
        )
    if verdict.status != "accessible" and (obs.control.failure or "").startswith("control."):
        # The control server was unusable: part of why nothing more could be said.
        verdict = verdict.model_copy(
            update={"evidence": merge(verdict.evidence, facts.control_evidence())}
        )
    return verdict
