"""The verdict on HTTP/3 alone: a second verdict beside the main one, when QUIC was tried.

Censors that leave TCP alone often drop UDP to port 443, or the QUIC Initials whose ClientHello
names a blocked host. A site that loads over TCP but not over QUIC is then neither "accessible,
full stop" nor blocked as a site: the main verdict says what TCP showed, this one what QUIC did.

- The page loaded over HTTP/3 at some address: accessible.
- The handshake naming the host failed where one with a neutral name completed at the same
  address, and TLS over TCP showed that address serves the host: the name is what fails there
  (``quic.sni_blocking``). QUIC retransmits its Initial itself within the timeout, so one attempt
  has already been tried several times.
- Everything failed, the neutral name too: blocked (``quic.<failure>``) only where the control
  server completed HTTP/3 for the site; down where it failed too (a stale advertisement, a site
  whose QUIC is broken for everyone); inconclusive without a control that tried.
"""

from __future__ import annotations

from censorcheck.measure.verdict.facts import Observations, cite, conclude
from censorcheck.models import QUICFetch, Verdict


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
    by_name = [
        (i, q) for i, q in tried if _handshake_failed(q) and _neutral_ok(q) and _name_failure(q)
    ]
    vouched = [(i, q, k) for i, q in by_name if (k := _site_address(obs, q.address)) is not None]
    if vouched and len(by_name) == len([t for t in tried if _handshake_failed(t[1])]):
        i, q, k = vouched[0]
        return conclude(
            "blocked",
            "quic.sni_blocking",
            0.85,
            f"The QUIC handshake naming the host failed ({q.failure}) at {q.address}, where one "
            "with a neutral name completed, and a TLS handshake over TCP there validated the "
            "host's certificate: the address is the site's, and the name is what fails.",
            [*evidence, cite(f"/quic/{i}/handshake/neutral", "neutral name: handshake completed"),
             cite(f"/tls/{k}", f"TLS over TCP at {q.address}: the host's trusted certificate")],
            "quic",
        )  # fmt: skip
    failure = next((q.failure for _, q in tried if q.failure is not None), "quic.error")
    theirs = [(j, q) for j, q in enumerate(obs.control.quic) if q.handshake is not None]
    worked = [(j, q) for j, q in theirs if q.response is not None and q.failure is None]
    if obs.control.source == "server" and worked:
        j, q = worked[0]
        evidence.append(cite(f"/control/quic/{j}", f"the control server loaded it over HTTP/3 "
                                                    f"at {q.address}"))  # fmt: skip
        if all(q.failure is not None and q.failure.endswith(".timeout") for _, q in tried):
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
    if obs.control.source == "server" and theirs and not worked:
        evidence += [cite(f"/control/quic/{j}", _fact(q)) for j, q in theirs]
        return conclude(
            "down",
            failure,
            0.7,
            f"QUIC failed here ({failure}) and for the control server too: the site's HTTP/3 "
            "does not work for anyone (a stale advertisement, or broken).",
            evidence,
        )
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"QUIC failed ({failure}) for the neutral name too, and no control tried QUIC to tell "
        "a network that drops it from a site whose HTTP/3 does not work.",
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
    neutral = q.handshake.neutral if q.handshake is not None else None
    extra = ""
    if neutral is not None:
        extra = f"; neutral name: {neutral.failure or 'handshake completed'}"
    return f"QUIC at {q.address}: {q.failure}{extra}"
