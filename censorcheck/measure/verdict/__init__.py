"""From observations to a verdict. Pure: no I/O, no clock; re-runnable on any stored result.

The rules run in the order a connection is made (DNS, TCP, TLS, HTTP). Each either decides or
passes. A claim of blocking needs two things: a failure or a tampering sign on the probe's side, and
a reference showing the site is fine (the control, or the same address answering when the name
is not mentioned). Without a working control nothing is called blocked: such cases are
``inconclusive`` with the outcome that was seen, so the evidence is kept but no claim is made.
The README's methodology section documents each rule; ``OUTCOMES`` lists the codes.
"""

from __future__ import annotations

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.verdict.connection import (
    cut_short,
    proxy_failed,
    tcp_failed,
    tls_failed,
)
from censorcheck.measure.verdict.dns import (
    dns_bogon,
    dns_failed,
    dns_inconsistent,
    dns_injected,
    dns_phantom,
)
from censorcheck.measure.verdict.elsewhere import dns_elsewhere
from censorcheck.measure.verdict.facts import (
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
from censorcheck.measure.verdict.http import accessible, http_diff, http_failed, unvouched
from censorcheck.measure.verdict.quic import judge_quic
from censorcheck.models import Evidence, Verdict

__all__ = [
    "CERT_FAILURES",
    "HTTP_INTERFERENCE",
    "OUTCOMES",
    "RULES_VERSION",
    "SNI_INTERFERENCE",
    "JudgeContext",
    "Observations",
    "judge",
    "judge_quic",
    "safe_judge",
    "safe_judge_quic",
]


_RULES = (
    proxy_failed,
    dns_injected,
    dns_failed,
    dns_bogon,
    dns_phantom,
    cut_short,
    dns_inconsistent,
    dns_elsewhere,
    tcp_failed,
    tls_failed,
    http_failed,
    http_diff,
    unvouched,
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


def safe_judge(obs: Observations, ctx: JudgeContext) -> Verdict:
    """The verdict, or ``verdict.error`` when a rule fails: a bug must not cost the observations."""
    try:
        return judge(obs, ctx)
    except Exception as exc:  # noqa: BLE001 - a rule's bug must not cost the observations
        return _rules_failed("verdict", exc)


def safe_judge_quic(obs: Observations) -> Verdict | None:
    """The QUIC verdict (None when QUIC was not tried), or ``verdict.error`` on a rule's bug."""
    try:
        return judge_quic(obs)
    except Exception as exc:  # noqa: BLE001 - a rule's bug must not cost the observations
        return _rules_failed("QUIC verdict", exc)


def _rules_failed(which: str, exc: BaseException) -> Verdict:
    """``verdict.error``: the ``which`` rules raised, and the observations are kept."""
    return Verdict(
        status="inconclusive",
        outcome="verdict.error",
        confidence=0.0,
        reason=f"The {which} rules failed on these observations (a bug in censorcheck).",
        evidence=[Evidence(ref="", fact=_innermost(exc))],
    )


def _innermost(exc: BaseException) -> str:
    """The innermost cause, by type and message: what a bug report needs."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return f"{type(exc).__name__}: {exc}"[:200]
