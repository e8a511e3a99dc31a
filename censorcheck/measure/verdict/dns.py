"""The DNS rules: tampering with the answer, or no answer, judged against the control."""

from __future__ import annotations

import ipaddress

from censorcheck.measure.bogons import is_bogon
from censorcheck.measure.verdict.elsewhere import works_there
from censorcheck.measure.verdict.facts import (
    Facts,
    cite,
    conclude,
    fingerprinted,
    merge,
)
from censorcheck.models import Verdict

# --- DNS -------------------------------------------------------------------------------------

# Answers that deny the name. Anything else (unreachable, a broken reply, a DoH server error)
# says more about the path to the resolver than about the name, and is never called blocking.
DNS_CONFIDENCE = {
    "dns.nxdomain": 0.9,
    "dns.refused": 0.85,
    "dns.servfail": 0.7,
    "dns.no_answer": 0.7,
    "dns.timeout": 0.7,  # only with a canary answered by the same resolver at the same time
}


def dns_injected(f: Facts) -> Verdict | None:
    for i, q in f.queries():
        if not q.answer or not q.late_answers:
            continue
        first = set(q.answer.addresses)
        late = [a for a in q.late_answers if set(a.addresses) != first]
        if not late:
            continue
        later = {addr for a in late for addr in a.addresses}
        evidence = [
            cite(f"/dns/{i}", f"first answer from {q.resolver}: {sorted(first) or q.answer.rcode}"),
            cite(f"/dns/{i}/late_answers", f"then a different answer: {sorted(later)}"),
        ]
        if f.control == "failed":
            return conclude(
                "inconclusive",
                "dns.injected",
                0.5,
                "Two different DNS answers arrived for one query, but the control failed.",
                evidence,
            )
        genuine = f.control_addrs | f.trusted
        if first & genuine or not later & genuine:
            continue  # the first answer was the right one: duplicates, not injection
        forged = f.forgery(first)
        if first and not forged:
            # Anycast resolvers and duplicating home routers also send two differing answers;
            # only a first answer that is visibly not the site's counts as forged.
            continue
        return conclude(
            "blocked",
            "dns.injected",
            0.9,
            "A forged DNS answer arrived before the genuine one.",
            merge(evidence, forged, f.control_evidence()),
            "dns",
        )
    return None


def dns_failed(f: Facts) -> Verdict | None:
    if f.probe_addrs or not f.obs.dns:  # no queries: the target is an IP literal
        return None
    live = [q for _, q in f.queries() if q.resolver not in f.ctx.dead_resolvers]
    if not live:
        return conclude(
            "inconclusive",
            "dns.timeout",
            0.3,
            "No working probe resolver was available for this target.",
            f.dns_evidence(),
        )
    a_first = sorted(live, key=lambda q: q.qtype != "A")
    failure = next((q.failure for q in a_first if q.failure), None) or "dns.no_answer"
    evidence = f.dns_evidence(only_failed=True) + f.control_evidence()
    timed_out = next((q for q in a_first if q.failure == "dns.timeout"), None)
    if failure == "dns.timeout" and timed_out and not f.canary_answered(timed_out.resolver):
        return conclude(
            "inconclusive",
            failure,
            0.4,
            "The probe's resolver did not answer, and it did not answer a canary name either.",
            evidence,
        )
    if f.control == "ok" and failure not in DNS_CONFIDENCE:
        return conclude(
            "inconclusive",
            failure,
            0.4,
            f"The probe's resolver could not be asked ({failure}), which says nothing "
            "about the name.",
            evidence,
        )
    if f.control == "ok":
        there = works_there(f)
        return conclude(
            "blocked",
            failure,
            DNS_CONFIDENCE.get(failure, 0.6),
            f"The probe's resolver gave {failure} while the control resolved the name"
            + (", and the site works from this vantage at its address." if there else "."),
            evidence + there,
            "dns",
        )
    if f.control == "nxdomain":
        return conclude(
            "down",
            failure,
            0.9 if failure == "dns.nxdomain" else 0.6,
            "The name does not resolve for the control either.",
            evidence,
        )
    if f.control == "no_address":
        return conclude(
            "down", failure, 0.6, "The control got no address for the name either.", evidence
        )
    control_failure = f.obs.control.failure or ""
    could_not = (
        f"could not be used ({control_failure})"
        if control_failure.startswith("control.")
        else "could not resolve the name"
    )
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"The probe's resolver gave {failure} and {f.who} {could_not}.",
        evidence,
    )


def dns_bogon(f: Facts) -> Verdict | None:
    if not f.probe_addrs or not all(is_bogon(a, f.ctx.public) for a in f.probe_addrs):
        return None
    evidence = f.dns_evidence() + f.control_evidence()
    if f.control == "ok" and not all(is_bogon(a, f.ctx.public) for a in f.control_addrs):
        return conclude(
            "blocked",
            "dns.bogon",
            0.95,
            "The probe's resolver answered only non-routable addresses; "
            "the control got public ones.",
            evidence + works_there(f),
            "dns",
        )
    if f.control == "ok" and f.control_addrs and all(_nowhere(a) for a in f.control_addrs):
        # The uncensored view points at this machine or at no host either (OONI's localhost
        # scenarios): the name leads nowhere for anyone, so the site is down, not blocked. A
        # private address for everyone is left alone: an intranet name is up for someone.
        return conclude(
            "down",
            "dns.bogon",
            0.7,
            "Every resolver, the control's too, answered only loopback or unspecified addresses: "
            "the name leads nowhere, for everyone.",
            evidence,
        )
    return conclude(
        "inconclusive",
        "dns.bogon",
        0.4,
        "The probe's resolver answered only non-routable addresses and the control "
        "gave nothing better to compare with.",
        evidence,
    )


def _nowhere(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or ip.is_unspecified


def dns_phantom(f: Facts) -> Verdict | None:
    """Addresses for a name the control says does not exist: an ISP's ad server, a stale
    cache, or a brand-new name. Nothing fetched from there can stand as the site."""
    if not f.probe_addrs or f.control != "nxdomain":
        return None
    return conclude(
        "inconclusive",
        "dns.inconsistent",
        0.4,
        "The probe's resolver gave addresses for a name the control says does not exist.",
        f.dns_evidence() + f.control_evidence(),
    )


def dns_inconsistent(f: Facts) -> Verdict | None:
    if f.control != "ok" or not f.probe_addrs or f.probe_addrs & f.control_addrs:
        return None
    if (f.trusted | f.control_trusted) & f.probe_addrs:
        # A different address with a valid certificate, for the probe or for the control server:
        # another edge of a CDN.
        return None
    evidence = f.dns_evidence() + f.control_evidence()
    page = fingerprinted(f.obs.http)
    if page is not None and page[0] == 0:
        hop, fingerprint = page
        evidence.append(cite(f"/http/hops/{hop}/response", f"blockpage {fingerprint}"))
        return conclude(
            "blocked",
            "dns.blockpage",
            0.95,
            "The name resolved to an address, unlike the control's, that serves a blockpage.",
            evidence,
            "dns",
        )
    if f.obs.target.url.startswith("http://"):
        return None  # no certificate to check the address with; later rules decide
    forged = f.forgery(f.probe_addrs)
    if not forged:
        # Geo-DNS can hand out an edge the control never saw; without a certificate failure at
        # the address there is nothing wrong with it to point at. Later rules decide.
        return None
    handshakes = [
        cite(f"/tls/{i}", f"{h.address}: {h.failure or 'handshake ok but not trusted'}")
        for i, h in enumerate(f.obs.tls)
    ]
    return conclude(
        "blocked",
        "dns.inconsistent",
        0.8,
        "The probe's addresses differ from the control's and serve a certificate that is not "
        "valid for the host.",
        merge(evidence, forged, handshakes),
        "dns",
    )
