"""The connection rules: TCP, TLS and HTTP, with the self-controls (repeat, neutral name)."""

from __future__ import annotations

from censorcheck.bogons import is_ip
from censorcheck.models import Verdict
from censorcheck.verdict.facts import (
    HTTP_INTERFERENCE,
    SNI_INTERFERENCE,
    Facts,
    cite,
    conclude,
    fingerprinted,
)

# --- TCP, TLS --------------------------------------------------------------------------------


def cut_short(f: Facts) -> Verdict | None:
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
        return conclude(
            "inconclusive",
            f"{layer}.error",
            0.1,
            f"An internal error stopped the measurement during the {layer.upper()} step.",
            [cite("/error", f.obs.error)],
        )
    return conclude(
        "inconclusive",
        f"{layer}.deadline",
        0.3,
        f"The per-target deadline ran out during the {layer.upper()} step.",
        [cite("/deadline_hit", "the per-target deadline was reached")],
    )


def tcp_failed(f: Facts) -> Verdict | None:
    tried = [(i, c) for i, c in enumerate(f.obs.tcp) if c.skipped is None]
    if not f.obs.tcp or any(c.failure is None for _, c in tried):
        return None
    if not tried:
        return conclude(
            "inconclusive",
            "tcp.no_usable_address",
            0.3,
            "No address could be tried from this vantage.",
            [cite(f"/tcp/{i}", f"{c.address}: {c.skipped}") for i, c in enumerate(f.obs.tcp)],
        )
    failure = tried[0][1].failure or "tcp.error"
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"No address accepted a TCP connection ({failure}); without a control connection "
        "this cannot be told apart from the site being down.",
        [cite(f"/tcp/{i}", f"{c.address}: {c.failure}") for i, c in tried],
    )


def same_failure(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.split(".")[-1] == b.split(".")[-1]


def tls_failed(f: Facts) -> Verdict | None:
    if not f.obs.tls or f.trusted:
        return None
    for i, h in enumerate(f.obs.tls):
        n, again = h.neutral, h.repeat
        what = (h.failure or "").split(".", 1)[-1]
        if what not in SNI_INTERFERENCE or n is None or n.failure is not None:
            continue
        evidence = [
            cite(f"/tls/{i}", f"{h.address} with SNI {h.sni}: {h.failure}"),
            cite(f"/tls/{i}/repeat", f"again on a fresh connection: {again and again.failure}"),
            cite(
                f"/tls/{i}/neutral",
                f"{h.address} with SNI {n.sni}: handshake ok, certificate for "
                f"{n.chain[0].subject if n.chain else 'nothing'}"
                + (", trusted and valid for the host" if n.trusted else ", not the host's"),
            ),
        ]
        if not same_failure(h.failure, again.failure if again else None):
            continue  # not reproducible: packet loss, not a block
        if n.trusted:
            return conclude(
                "blocked",
                "tls.sni_blocking",
                0.9,
                f"Handshakes naming the host failed twice ({h.failure}) while the same address, "
                f"asked with the neutral name {n.sni}, presented the host's own trusted "
                "certificate.",
                evidence,
                "tls",
            )
        return conclude(
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
            cite(f"/tls/{i}", f"SNI {h.sni}: {h.failure}, certificate issued by {leaf.issuer}"),
            cite(
                f"/tls/{i}/neutral",
                f"SNI {n.sni}: certificate for {other.subject} issued by {other.issuer}"
                + (", trusted and valid for the host" if n.trusted else ", untrusted"),
            ),
        ]
        if n.trusted:
            return conclude(
                "blocked",
                "tls.mitm",
                0.9,
                "Asked for the host by name, the address presented a certificate from an "
                "untrusted issuer; asked with a neutral name, it presented the host's trusted one.",
                evidence,
                "tls",
            )
        if other.sha256 != leaf.sha256 and other.issuer == leaf.issuer and n.sni in other.sans:
            return conclude(
                "inconclusive",
                "tls.mitm",
                0.5,
                "An untrusted issuer minted certificates on the fly, even for a neutral name: "
                "this network intercepts TLS (a national box, a corporate proxy or antivirus), "
                "not this host in particular.",
                evidence,
            )
    first = f.obs.tls[0]
    return conclude(
        "inconclusive",
        first.failure or "tls.error",
        0.4,
        f"The TLS handshake failed ({first.failure}) in a way that also affects a neutral "
        "name or the site itself; a control measurement is needed to tell more.",
        [cite(f"/tls/{i}", f"{h.address}: {h.failure}") for i, h in enumerate(f.obs.tls)],
    )


# --- HTTP ------------------------------------------------------------------------------------


def http_failed(f: Facts) -> Verdict | None:
    http = f.obs.http
    if http is None:
        return None
    page = fingerprinted(http)
    if page is not None:
        hop, fingerprint = page
        return conclude(
            "blocked",
            "http.blockpage",
            0.95,
            f"The response matched the blockpage fingerprint {fingerprint}.",
            [cite(f"/http/hops/{hop}/response", f"{http.hops[hop].url}: blockpage {fingerprint}")],
            "http",
        )
    if http.failure is None:
        return None
    last = len(http.hops) - 1
    evidence = [cite(f"/http/hops/{last}", f"{http.hops[last].url}: {http.failure}")]
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
            cite("/http/neutral", f"same address, neutral Host: HTTP {n.response.status}")
        )
        return conclude(
            "blocked",
            http.failure,
            0.85,
            f"The request naming the host was cut ({http.failure}) before any answer while the "
            "same address answered a request with a neutral Host.",
            evidence,
            "http",
        )
    return conclude(
        "inconclusive",
        http.failure,
        0.4,
        f"The HTTP request failed ({http.failure}); that alone does not show blocking.",
        evidence,
    )


def accessible(f: Facts) -> Verdict:
    http = f.obs.http
    last = http.hops[-1] if http and http.hops else None
    status = last.response.status if last and last.response else None
    compared = f.control == "ok" and bool(f.probe_addrs & f.control_addrs or f.trusted)
    return conclude(
        "accessible",
        "accessible",
        0.95 if compared else 0.8,
        f"The page loaded (HTTP {status}) from an address "
        + ("consistent with the control." if compared else "that could not be compared."),
        [cite(f"/http/hops/{len(http.hops) - 1}", f"status {status}")]
        if http and http.hops
        else [],
    )
