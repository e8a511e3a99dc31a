"""From observations to a verdict. Pure: no I/O, no clock; re-runnable on any stored result.

The rules run in the order a connection is made (DNS, TCP, TLS, HTTP). Each either decides or
passes. A claim of blocking needs two things: a failure or a tampering sign on the probe's side, and
a reference showing the site is fine (the control, or the same address answering when the name
is not mentioned). Without a working control nothing is called blocked: such cases are
``inconclusive`` with the outcome that was seen, so the evidence is kept but no claim is made.
The README's methodology section documents each rule; ``OUTCOMES`` lists the codes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from censorcheck.bogons import IPNetwork, is_bogon, is_ip
from censorcheck.models import (
    Control,
    DNSQuery,
    Evidence,
    HTTPFetch,
    Layer,
    Result,
    Status,
    Target,
    TCPConnect,
    TLSHandshake,
    Verdict,
)

RULES_VERSION = "1"

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
    "tcp.<failure>": "No address accepted a connection (timeout, refused, reset, ...).",
    "tcp.no_usable_address": "Every address was skipped (e.g. IPv6 without IPv6).",
    "tls.sni_blocking": "The handshake naming the host failed; one with a neutral name worked.",
    "tls.mitm": "A certificate from an untrusted issuer replaced the site's trusted one.",
    "tls.<failure>": "The handshake failed on every address for reasons not pinned down.",
    "http.blockpage": "A response matched a blockpage fingerprint.",
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
        )


@dataclass(frozen=True)
class JudgeContext:
    """Facts about the run that are not about one target."""

    public: tuple[IPNetwork, ...] = ()  # networks not to count as bogons (the lab)
    dead_resolvers: frozenset[str] = frozenset()  # probe resolvers silent in the pre-flight


def _v(
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


def _ev(ref: str, fact: str) -> Evidence:
    return Evidence(ref=ref, fact=fact)


def _addresses(queries: Sequence[DNSQuery]) -> set[str]:
    return {a for q in queries if q.answer for a in q.answer.addresses}


def _describe(q: DNSQuery) -> str:
    if q.failure:
        return f"{q.resolver} gave {q.failure} for {q.qtype} {q.hostname}"
    addresses = ", ".join(q.answer.addresses) if q.answer and q.answer.addresses else "no address"
    return f"{q.resolver} answered {q.qtype} {q.hostname} with {addresses}"


@dataclass(frozen=True)
class _Facts:
    """Derived once per judgement, shared by the rules."""

    obs: Observations
    ctx: JudgeContext
    probe_addrs: set[str]
    control_addrs: set[str]
    control: Literal["ok", "nxdomain", "no_address", "failed"]
    trusted: set[str]  # addresses where the handshake naming the host validated

    @classmethod
    def of(cls, obs: Observations, ctx: JudgeContext) -> _Facts:
        control_addrs = _addresses(obs.control.dns)
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
        return cls(obs, ctx, _addresses(own), control_addrs, state, trusted)

    def queries(self) -> list[tuple[int, DNSQuery]]:
        """The target's own lookups with their index (canary lookups are left out)."""
        return [(i, q) for i, q in enumerate(self.obs.dns) if q.hostname == self.obs.target.domain]

    def canary_answered(self, resolver: str) -> bool:
        """Did ``resolver`` answer a canary name asked right after a timeout for the target?"""
        return any(
            q.resolver == resolver and q.hostname != self.obs.target.domain and q.answer
            for q in self.obs.dns
        )

    def forged_sign(self, addresses: set[str]) -> bool:
        """Positive evidence that ``addresses`` are not the site's: a non-routable address, a
        certificate failure or a refused handshake there, or a blockpage served from there."""
        if any(is_bogon(a, self.ctx.public) for a in addresses):
            return True
        if any(h.address in addresses and h.failure in CERT_FAILURES for h in self.obs.tls):
            return True
        hop0 = self.obs.http.hops[0] if self.obs.http and self.obs.http.hops else None
        return bool(
            hop0 and hop0.address in addresses and hop0.response and hop0.response.fingerprint
        )

    def control_evidence(self) -> list[Evidence]:
        return [_ev(f"/control/dns/{i}", _describe(q)) for i, q in enumerate(self.obs.control.dns)]

    def dns_evidence(self, only_failed: bool = False) -> list[Evidence]:
        return [
            _ev(f"/dns/{i}", _describe(q))
            for i, q in enumerate(self.obs.dns)
            if not only_failed or q.failure or not (q.answer and q.answer.addresses)
        ]


# --- DNS -------------------------------------------------------------------------------------

# Answers that deny the name. Anything else (unreachable, a broken reply, a DoH server error)
# says more about the path to the resolver than about the name, and is never called blocking.
_DNS_CONFIDENCE = {
    "dns.nxdomain": 0.9,
    "dns.refused": 0.85,
    "dns.servfail": 0.7,
    "dns.no_answer": 0.7,
    "dns.timeout": 0.7,  # only with a canary answered by the same resolver at the same time
}


def _dns_injected(f: _Facts) -> Verdict | None:
    for i, q in f.queries():
        if not q.answer or not q.late_answers:
            continue
        first = set(q.answer.addresses)
        late = [a for a in q.late_answers if set(a.addresses) != first]
        if not late:
            continue
        later = {addr for a in late for addr in a.addresses}
        evidence = [
            _ev(f"/dns/{i}", f"first answer from {q.resolver}: {sorted(first) or q.answer.rcode}"),
            _ev(f"/dns/{i}/late_answers", f"then a different answer: {sorted(later)}"),
        ]
        if f.control == "failed":
            return _v(
                "inconclusive",
                "dns.injected",
                0.5,
                "Two different DNS answers arrived for one query, but the control failed.",
                evidence,
            )
        genuine = f.control_addrs | f.trusted
        if first & genuine or not later & genuine:
            continue  # the first answer was the right one: duplicates, not injection
        if first and not f.forged_sign(first):
            # Anycast resolvers and duplicating home routers also send two differing answers;
            # only a first answer that is visibly not the site's counts as forged.
            continue
        return _v(
            "blocked",
            "dns.injected",
            0.9,
            "A forged DNS answer arrived before the genuine one.",
            evidence + f.control_evidence(),
            "dns",
        )
    return None


def _dns_failed(f: _Facts) -> Verdict | None:
    if f.probe_addrs or not f.obs.dns:  # no queries: the target is an IP literal
        return None
    live = [q for _, q in f.queries() if q.resolver not in f.ctx.dead_resolvers]
    if not live:
        return _v(
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
        return _v(
            "inconclusive",
            failure,
            0.4,
            "The probe's resolver did not answer, and it did not answer a canary name either.",
            evidence,
        )
    if f.control == "ok" and failure not in _DNS_CONFIDENCE:
        return _v(
            "inconclusive",
            failure,
            0.4,
            f"The probe's resolver could not be asked ({failure}), which says nothing "
            "about the name.",
            evidence,
        )
    if f.control == "ok":
        return _v(
            "blocked",
            failure,
            _DNS_CONFIDENCE.get(failure, 0.6),
            f"The probe's resolver gave {failure} while the control resolved the name.",
            evidence,
            "dns",
        )
    if f.control == "nxdomain":
        return _v(
            "down",
            failure,
            0.9 if failure == "dns.nxdomain" else 0.6,
            "The name does not resolve for the control either.",
            evidence,
        )
    if f.control == "no_address":
        return _v("down", failure, 0.6, "The control got no address for the name either.", evidence)
    return _v(
        "inconclusive",
        failure,
        0.4,
        f"The probe's resolver gave {failure} and the control could not resolve the name.",
        evidence,
    )


def _dns_bogon(f: _Facts) -> Verdict | None:
    if not f.probe_addrs or not all(is_bogon(a, f.ctx.public) for a in f.probe_addrs):
        return None
    evidence = f.dns_evidence() + f.control_evidence()
    if f.control == "ok" and not all(is_bogon(a, f.ctx.public) for a in f.control_addrs):
        return _v(
            "blocked",
            "dns.bogon",
            0.95,
            "The probe's resolver answered only non-routable addresses; "
            "the control got public ones.",
            evidence,
            "dns",
        )
    return _v(
        "inconclusive",
        "dns.bogon",
        0.4,
        "The probe's resolver answered only non-routable addresses and the control "
        "gave nothing better to compare with.",
        evidence,
    )


def _dns_phantom(f: _Facts) -> Verdict | None:
    """Addresses for a name the control says does not exist: an ISP's ad server, a stale
    cache, or a brand-new name. Nothing fetched from there can stand as the site."""
    if not f.probe_addrs or f.control != "nxdomain":
        return None
    return _v(
        "inconclusive",
        "dns.inconsistent",
        0.4,
        "The probe's resolver gave addresses for a name the control says does not exist.",
        f.dns_evidence() + f.control_evidence(),
    )


def _fingerprinted(http: HTTPFetch | None) -> tuple[int, str] | None:
    """The first hop whose page matched a blockpage fingerprint.

    Pages fetched over https came through a handshake validated for the host, so they are the
    site's own even when they quote a blockpage (a news story about censorship): only plain-HTTP
    hops count.
    """
    for i, hop in enumerate(http.hops if http else ()):
        if hop.url.startswith("http://") and hop.response and hop.response.fingerprint:
            return i, hop.response.fingerprint
    return None


def _dns_inconsistent(f: _Facts) -> Verdict | None:
    if f.control != "ok" or not f.probe_addrs or f.probe_addrs & f.control_addrs:
        return None
    if f.trusted & f.probe_addrs:
        return None  # a different address with a valid certificate: another edge of a CDN
    evidence = f.dns_evidence() + f.control_evidence()
    page = _fingerprinted(f.obs.http)
    if page is not None and page[0] == 0:
        hop, fingerprint = page
        evidence.append(_ev(f"/http/hops/{hop}/response", f"blockpage {fingerprint}"))
        return _v(
            "blocked",
            "dns.blockpage",
            0.95,
            "The name resolved to an address, unlike the control's, that serves a blockpage.",
            evidence,
            "dns",
        )
    if f.obs.target.url.startswith("http://"):
        return None  # no certificate to check the address with; later rules decide
    if not f.forged_sign(f.probe_addrs):
        # Geo-DNS can hand out an edge the control never saw; without a certificate failure at
        # the address there is nothing wrong with it to point at. Later rules decide.
        return None
    for i, h in enumerate(f.obs.tls):
        evidence.append(
            _ev(f"/tls/{i}", f"{h.address}: {h.failure or 'handshake ok but not trusted'}")
        )
    return _v(
        "blocked",
        "dns.inconsistent",
        0.8,
        "The probe's addresses differ from the control's and serve a certificate that is not "
        "valid for the host.",
        evidence,
        "dns",
    )


# --- TCP, TLS --------------------------------------------------------------------------------


def _deadline(f: _Facts) -> Verdict | None:
    """The measurement was cut short: by the per-target deadline, or by a bug of ours."""
    if not f.obs.deadline_hit and not f.obs.error:
        return None
    if not f.obs.dns and not is_ip(f.obs.target.domain):
        layer = "dns"
    elif not f.obs.tcp:
        layer = "tcp"
    else:
        layer = "tls" if not f.obs.tls else "http"
    if f.obs.target.url.startswith("http://") and layer == "tls":
        layer = "http"
    if f.obs.error:
        return _v(
            "inconclusive",
            f"{layer}.error",
            0.1,
            f"An internal error stopped the measurement during the {layer.upper()} step.",
            [_ev("/error", f.obs.error)],
        )
    return _v(
        "inconclusive",
        f"{layer}.deadline",
        0.3,
        f"The per-target deadline ran out during the {layer.upper()} step.",
        [_ev("/deadline_hit", "the per-target deadline was reached")],
    )


def _tcp(f: _Facts) -> Verdict | None:
    tried = [(i, c) for i, c in enumerate(f.obs.tcp) if c.skipped is None]
    if not f.obs.tcp or any(c.failure is None for _, c in tried):
        return None
    if not tried:
        return _v(
            "inconclusive",
            "tcp.no_usable_address",
            0.3,
            "No address could be tried from this vantage.",
            [_ev(f"/tcp/{i}", f"{c.address}: {c.skipped}") for i, c in enumerate(f.obs.tcp)],
        )
    failure = tried[0][1].failure or "tcp.error"
    return _v(
        "inconclusive",
        failure,
        0.4,
        f"No address accepted a TCP connection ({failure}); without a control connection "
        "this cannot be told apart from the site being down.",
        [_ev(f"/tcp/{i}", f"{c.address}: {c.failure}") for i, c in tried],
    )


def _same_failure(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.split(".")[-1] == b.split(".")[-1]


def _tls(f: _Facts) -> Verdict | None:
    if not f.obs.tls or f.trusted:
        return None
    for i, h in enumerate(f.obs.tls):
        n, again = h.neutral, h.repeat
        what = (h.failure or "").split(".", 1)[-1]
        if what not in SNI_INTERFERENCE or n is None or n.failure is not None:
            continue
        evidence = [
            _ev(f"/tls/{i}", f"{h.address} with SNI {h.sni}: {h.failure}"),
            _ev(f"/tls/{i}/repeat", f"again on a fresh connection: {again and again.failure}"),
            _ev(
                f"/tls/{i}/neutral",
                f"{h.address} with SNI {n.sni}: handshake ok, certificate for "
                f"{n.chain[0].subject if n.chain else 'nothing'}"
                + (", trusted and valid for the host" if n.trusted else ", not the host's"),
            ),
        ]
        if not _same_failure(h.failure, again.failure if again else None):
            continue  # not reproducible: packet loss, not a block
        if n.trusted:
            return _v(
                "blocked",
                "tls.sni_blocking",
                0.9,
                f"Handshakes naming the host failed twice ({h.failure}) while the same address, "
                f"asked with the neutral name {n.sni}, presented the host's own trusted "
                "certificate.",
                evidence,
                "tls",
            )
        return _v(
            "inconclusive",
            h.failure or "tls.error",
            0.5,
            f"Handshakes naming the host failed twice ({h.failure}); a neutral name worked but "
            "got a certificate that is not the host's, so the address may route by name.",
            evidence,
        )
    for i, h in enumerate(f.obs.tls):
        n = h.neutral
        # Expired or mismatched certificates are what misconfigured sites serve; only an issuer
        # outside the trust store is what an interception box produces.
        if h.failure != "tls.untrusted" or n is None or n.failure or not h.chain or not n.chain:
            continue
        leaf, other = h.chain[0], n.chain[0]
        evidence = [
            _ev(f"/tls/{i}", f"SNI {h.sni}: {h.failure}, certificate issued by {leaf.issuer}"),
            _ev(
                f"/tls/{i}/neutral",
                f"SNI {n.sni}: certificate for {other.subject} issued by {other.issuer}"
                + (", trusted and valid for the host" if n.trusted else ", untrusted"),
            ),
        ]
        if n.trusted:
            return _v(
                "blocked",
                "tls.mitm",
                0.9,
                "Asked for the host by name, the address presented a certificate from an "
                "untrusted issuer; asked with a neutral name, it presented the host's trusted one.",
                evidence,
                "tls",
            )
        if other.sha256 != leaf.sha256 and other.issuer == leaf.issuer and n.sni in other.sans:
            return _v(
                "inconclusive",
                "tls.mitm",
                0.5,
                "An untrusted issuer minted certificates on the fly, even for a neutral name: "
                "this network intercepts TLS (a national box, a corporate proxy or antivirus), "
                "not this host in particular.",
                evidence,
            )
    first = f.obs.tls[0]
    return _v(
        "inconclusive",
        first.failure or "tls.error",
        0.4,
        f"The TLS handshake failed ({first.failure}) in a way that also affects a neutral "
        "name or the site itself; a control measurement is needed to tell more.",
        [_ev(f"/tls/{i}", f"{h.address}: {h.failure}") for i, h in enumerate(f.obs.tls)],
    )


# --- HTTP ------------------------------------------------------------------------------------


def _http(f: _Facts) -> Verdict | None:
    http = f.obs.http
    if http is None:
        return None
    page = _fingerprinted(http)
    if page is not None:
        hop, fingerprint = page
        return _v(
            "blocked",
            "http.blockpage",
            0.95,
            f"The response matched the blockpage fingerprint {fingerprint}.",
            [_ev(f"/http/hops/{hop}/response", f"{http.hops[hop].url}: blockpage {fingerprint}")],
            "http",
        )
    if http.failure is None:
        return None
    last = len(http.hops) - 1
    evidence = [_ev(f"/http/hops/{last}", f"{http.hops[last].url}: {http.failure}")]
    n = http.neutral
    what = http.failure.split(".", 1)[-1]
    cut_before_answer = http.hops[last].response is None
    if (
        n is not None
        and n.failure is None
        and n.response is not None
        and what in HTTP_INTERFERENCE
        and cut_before_answer
    ):
        evidence.append(
            _ev("/http/neutral", f"same address, neutral Host: HTTP {n.response.status}")
        )
        return _v(
            "blocked",
            http.failure,
            0.85,
            f"The request naming the host was cut ({http.failure}) before any answer while the "
            "same address answered a request with a neutral Host.",
            evidence,
            "http",
        )
    return _v(
        "inconclusive",
        http.failure,
        0.4,
        f"The HTTP request failed ({http.failure}); that alone does not show blocking.",
        evidence,
    )


def _accessible(f: _Facts) -> Verdict:
    http = f.obs.http
    last = http.hops[-1] if http and http.hops else None
    status = last.response.status if last and last.response else None
    compared = f.control == "ok" and bool(f.probe_addrs & f.control_addrs or f.trusted)
    return _v(
        "accessible",
        "accessible",
        0.95 if compared else 0.8,
        f"The page loaded (HTTP {status}) from an address "
        + ("consistent with the control." if compared else "that could not be compared."),
        [_ev(f"/http/hops/{len(http.hops) - 1}", f"status {status}")] if http and http.hops else [],
    )


_RULES = (
    _dns_injected,
    _dns_failed,
    _dns_bogon,
    _dns_phantom,
    _deadline,
    _dns_inconsistent,
    _tcp,
    _tls,
    _http,
)


def judge(obs: Observations, ctx: JudgeContext | None = None) -> Verdict:
    """The verdict for one target's observations."""
    facts = _Facts.of(obs, ctx or JudgeContext())
    verdict = next((v for rule in _RULES if (v := rule(facts)) is not None), None)
    if verdict is None:
        verdict = _accessible(facts)
    if verdict.status == "blocked" and facts.control != "ok" and not is_ip(obs.target.domain):
        # Without a reference view there is no claim to make about a government.
        return verdict.model_copy(
            update={
                "status": "inconclusive",
                "blocking": None,
                "confidence": min(verdict.confidence, 0.5),
                "reason": "Looks like "
                + verdict.outcome
                + " but the control could not confirm the site, so no blocking is claimed.",
                "evidence": verdict.evidence + facts.control_evidence(),
            }
        )
    return verdict
