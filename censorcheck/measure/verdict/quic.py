"""The verdict on HTTP/3 alone: a second verdict beside the main one, when QUIC was tried.

Censors that leave TCP alone often drop UDP to port 443, or the QUIC Initials whose ClientHello
names a blocked host. A site that loads over TCP but not over QUIC is then neither "accessible,
full stop" nor blocked as a site: the main verdict says what TCP showed, this one what QUIC did.

- The page loaded over HTTP/3 at some address: accessible.
- The handshake naming the host failed where one with a neutral name completed at the same
  address, and that address is shown to serve the host: by TLS over TCP from here, or by a
  control's QUIC handshake there that validated the host's certificate. The name is what fails
  (``quic.sni_blocking``). QUIC retransmits its Initial itself within the timeout, so one attempt
  has already been tried several times.
- Everything failed, the neutral name too: blocked (``quic.<failure>``) only where the control
  server completed HTTP/3 for the site, or an OONI test helper completed a validated handshake
  at the very address that went silent here; down where the control's QUIC failed too (a stale
  advertisement, a site whose QUIC is broken for everyone); inconclusive without a control that
  tried.
"""

from __future__ import annotations

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.verdict.facts import Observations, cite, conclude
from censorcheck.models import Evidence, QUICFetch, Verdict


def judge_quic(obs: Observations) -> Verdict | None:
    """The QUIC verdict, or None when QUIC was not tried (or nothing could be sent)."""
    tried = [(i, q) for i, q in enumerate(obs.quic) if q.handshake is not None]
    if not tried:
        return None
    for i, fetch in tried:
        if fetch.response is not None and fetch.failure is None:
            return conclude(
                "accessible",
                "accessible",
                0.9,
                f"The page loaded over HTTP/3 at {fetch.address} (HTTP {fetch.response.status}).",
                [cite(f"/quic/{i}", f"HTTP/3 at {fetch.address}: {fetch.response.status}")],
            )
    evidence = [cite(f"/quic/{i}", _fact(q)) for i, q in tried]
    by_name = _by_name(obs, tried, evidence)
    if by_name is not None:
        return by_name
    failure = next((q.failure for _, q in tried if q.failure is not None), "quic.error")
    if obs.control.source == "server":
        found = _against_server(obs, tried, failure, evidence)
    elif obs.control.source == "ooni":
        found = _against_helper(obs, tried, failure, evidence)
    else:
        found = None
    if found is not None:
        return found
    if any(q.handshake is not None for q in obs.control.quic):
        why = "what the control's QUIC showed (cited) does not settle"
    else:
        why = "no control tried QUIC to tell"
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"QUIC failed ({failure}), and {why} whether this network drops it or the site's "
        "HTTP/3 does not work.",
        evidence,
    )


def _by_name(
    obs: Observations, tried: list[tuple[int, QUICFetch]], evidence: list[Evidence]
) -> Verdict | None:
    """``quic.sni_blocking``, when every failed handshake failed by its name alone."""
    failed = [(i, q) for i, q in tried if _handshake_failed(q)]
    by_name = [(i, q) for i, q in failed if _neutral_ok(q) and _name_failure(q)]
    if not by_name or len(by_name) != len(failed):
        return None
    for i, q in by_name:
        neutral = cite(f"/quic/{i}/handshake/neutral", "neutral name: handshake completed")
        if (k := _site_address(obs, q.address)) is not None:
            return conclude(
                "blocked",
                "quic.sni_blocking",
                0.85,
                f"The QUIC handshake naming the host failed ({q.failure}) at {q.address}, where "
                "one with a neutral name completed, and a TLS handshake over TCP there validated "
                "the host's certificate: the address is the site's, and the name is what fails.",
                [*evidence, neutral,
                 cite(f"/tls/{k}", f"TLS over TCP at {q.address}: the host's trusted certificate")],
                "quic",
            )  # fmt: skip
        if (j := _control_validated(obs, q)) is not None:
            return conclude(
                "blocked",
                "quic.sni_blocking",
                0.8,
                f"The QUIC handshake naming the host failed ({q.failure}) at {q.address}, where "
                "one with a neutral name completed, and the control's QUIC handshake there, "
                "naming the host, validated its certificate: the address serves the site over "
                "QUIC, and the name is what fails from here.",
                [*evidence, neutral,
                 cite(f"/control/quic/{j}", f"the control's QUIC handshake at {q.address}: the "
                                            "host's trusted certificate")],
                "quic",
            )  # fmt: skip
    return None


def _against_server(
    obs: Observations, tried: list[tuple[int, QUICFetch]], failure: str, evidence: list[Evidence]
) -> Verdict | None:
    """Judged beside a control server, which loads the page over HTTP/3 itself."""
    theirs = [(j, q) for j, q in enumerate(obs.control.quic) if q.handshake is not None]
    worked = [(j, q) for j, q in theirs if q.response is not None and q.failure is None]
    if worked:
        j, q = worked[0]
        evidence.append(cite(f"/control/quic/{j}", f"the control server loaded it over HTTP/3 "
                                                    f"at {q.address}"))  # fmt: skip
        if all(_timed_out(q) for _, q in tried):
            return conclude(
                "blocked",
                failure,
                0.75,
                f"Every QUIC handshake from here went unanswered ({failure}), a neutral name's "
                "too, while the control server loaded the page over HTTP/3: UDP to the site is "
                "dropped on this network.",
                evidence,
                "quic",
            )
        return None
    if theirs:
        evidence += [cite(f"/control/quic/{j}", _fact(q)) for j, q in theirs]
        return _down(failure, "the control server", evidence)
    return None


def _against_helper(
    obs: Observations, tried: list[tuple[int, QUICFetch]], failure: str, evidence: list[Evidence]
) -> Verdict | None:
    """Judged beside an OONI test helper, which reports QUIC handshakes only, each at an
    address and port: a silence here counts against a handshake there at the same place."""
    theirs = [(j, q) for j, q in enumerate(obs.control.quic) if q.handshake is not None]
    if not theirs:
        return None
    evidence += [cite(f"/control/quic/{j}", _fact(q)) for j, q in theirs]
    completed = [(j, q) for j, q in theirs if _validated(q)]
    if completed:
        same = [
            c for _, q in tried for _, c in completed if (c.address, c.port) == (q.address, q.port)
        ]
        if same and all(_timed_out(q) for _, q in tried):
            c = same[0]
            return conclude(
                "blocked",
                failure,
                0.75,
                f"Every QUIC handshake from here went unanswered ({failure}), a neutral name's "
                f"too, while the test helper completed one naming the host at {c.address}, the "
                "same address and port: QUIC to the site is dropped on this network.",
                evidence,
                "quic",
            )
        return None
    own = _helper_addresses(obs)
    if not any(q.address in own for _, q in theirs):
        # Failures only at the probe's addresses say nothing of the site if those are not its.
        return None
    return _down(failure, "the test helper", evidence)


def _down(failure: str, who: str, evidence: list[Evidence]) -> Verdict:
    return conclude(
        "down",
        failure,
        0.7,
        f"QUIC failed here ({failure}) and for {who} too: the site's HTTP/3 does not work for "
        "anyone (a stale advertisement, or broken).",
        evidence,
    )


def _site_address(obs: Observations, address: str) -> int | None:
    """The index of a TLS handshake over TCP at ``address`` that showed it serves the host: its
    certificate validated for the host, by name or behind the neutral name. An address that
    answers QUIC for any name but the host's could otherwise be a router whose backend for the
    host is down."""
    for k, h in enumerate(obs.tls):
        if h.address != address:
            continue
        if (h.failure is None and h.trusted) or (h.neutral is not None and h.neutral.trusted):
            return k
    return None


def _control_validated(obs: Observations, q: QUICFetch) -> int | None:
    """The index of a control's QUIC handshake naming the host that validated its certificate
    at the address and port of ``q``."""
    for j, c in enumerate(obs.control.quic):
        if (c.address, c.port) == (q.address, q.port) and _validated(c):
            return j
    return None


def _helper_addresses(obs: Observations) -> set[str]:
    """The addresses the control found for the host itself (or the host, an address)."""
    if is_ip(obs.target.domain):
        return {obs.target.domain}
    return {a for q in obs.control.dns if q.answer is not None for a in q.answer.addresses}


def _validated(q: QUICFetch) -> bool:
    h = q.handshake
    return h is not None and h.failure is None and h.trusted is True


def _timed_out(q: QUICFetch) -> bool:
    neutral = q.handshake.neutral if q.handshake is not None else None
    alone = q.failure is not None and q.failure.endswith(".timeout")
    return alone and (neutral is None or (neutral.failure or "").endswith(".timeout"))


def _handshake_failed(q: QUICFetch) -> bool:
    return q.handshake is not None and q.handshake.failure is not None


def _neutral_ok(q: QUICFetch) -> bool:
    n = q.handshake.neutral if q.handshake is not None else None
    return n is not None and n.failure is None


def _name_failure(q: QUICFetch) -> bool:
    # Certificate problems fail with any name the site does not hold: not the name's fault.
    return q.failure in ("quic.timeout", "quic.refused", "quic.error")


def _fact(q: QUICFetch) -> str:
    if q.failure is None and q.response is not None:
        return f"HTTP/3 at {q.address}: {q.response.status}"
    if q.failure is None and q.handshake is not None and q.handshake.trusted:
        return f"QUIC at {q.address}: handshake naming the host completed, certificate valid"
    if q.failure is None:
        return f"QUIC at {q.address}: handshake completed (no page requested)"
    neutral = q.handshake.neutral if q.handshake is not None else None
    extra = ""
    if neutral is not None:
        extra = f"; neutral name: {neutral.failure or 'handshake completed'}"
    return f"QUIC at {q.address}: {q.failure}{extra}"
