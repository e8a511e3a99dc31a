"""Which resolvers to trust, and which of their answers to discount. Pure: no I/O.

Before a resolver's answers count, it must answer the probe domains (names with one stable
address) as the control does. Satellite drops resolvers that fail this: they are closed, broken
or lie about everything, and their answers say nothing about censorship.

An address a resolver hands out for names that do not exist, or, unlike the control, for
nearly every domain, is an answer to everything (an ad server, a captive portal, a hijacker):
it is discounted wherever it appears.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from censorcheck.scan.models import ControlAnswer, Observation, ResolverState

Profile = tuple[ResolverState, str, list[str]]
"""A resolver's status, the reason for it, and the addresses it gives for everything."""


def _said(obs: Observation) -> str:
    if obs.rcode is None:
        return f"no reply after {obs.attempts} {'query' if obs.attempts == 1 else 'queries'}"
    if obs.failure is not None or not obs.addresses:
        return obs.rcode if obs.rcode != "NOERROR" else "no address"
    return ", ".join(obs.addresses)


def classify_resolver(
    probes: Sequence[tuple[Observation, ControlAnswer, bool]],
    nonexistent: Observation,
    nonexistent_control: ControlAnswer,
) -> Profile:
    """The status of a resolver from its profile.

    ``probes`` holds, per probe domain, the resolver's answer, the control's, and whether they
    match (by address or ASN, see ``checks.compare``). ``nonexistent`` is its answer to a random
    name under the first probe domain.
    """
    asked = [obs for obs, _, _ in probes] + [nonexistent]
    if all(obs.rcode is None for obs in asked):
        failures = sorted({obs.failure or "dns.error" for obs in asked})
        return "unresponsive", f"no reply to any of {len(asked)} names ({', '.join(failures)})", []
    judged = [(obs, control, ok) for obs, control, ok in probes if control.status == "resolved"]
    wrong = [
        f"{obs.name}: {_said(obs)}, the control {', '.join(control.addresses)}"
        for obs, control, ok in judged
        if obs.rcode is not None and not ok
    ]
    if wrong:
        return "failed_control", "wrong answer for a probe domain: " + "; ".join(wrong), []
    if judged and not any(ok for _, _, ok in judged):
        names = ", ".join(obs.name for obs, _, _ in judged)
        return "failed_control", f"no answer for the probe domains ({names})", []
    if nonexistent_control.status == "gone" and nonexistent.addresses:
        everywhere = list(dict.fromkeys(nonexistent.addresses))
        return (
            "answers_everything",
            f"answered {nonexistent.name}, which does not exist, with {', '.join(everywhere)}",
            everywhere,
        )
    if not judged:
        return "ok", "answers; the control could not check the probe domains", []
    return "ok", "answered the probe domains as the control did", []


def everywhere_addresses(
    answers: Sequence[tuple[Observation, ControlAnswer]],
    domains: int,
    fraction: float,
    minimum: int,
) -> tuple[list[str], str]:
    """Addresses given, unlike the control, for at least ``fraction`` of ``domains`` (and for
    ``minimum`` at least), most frequent first; and a sentence saying so ("" for none)."""
    seen: Counter[str] = Counter()
    for obs, control in answers:
        for address in set(obs.addresses) - set(control.addresses):
            seen[address] += 1
    threshold = max(minimum, math.ceil(fraction * domains))
    found = [(address, n) for address, n in seen.most_common() if n >= threshold]
    if not found:
        return [], ""
    said = "; ".join(f"{address} for {n} of {domains} domains" for address, n in found)
    return [address for address, _ in found], f"answered, unlike the control, {said}"
