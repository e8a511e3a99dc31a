"""The connection rules: TCP, TLS and HTTP, with the self-controls (repeat, neutral name)."""

from __future__ import annotations

import httpx

from censorcheck.bogons import is_ip
from censorcheck.models import Evidence, TLSHandshake, Verdict
from censorcheck.verdict.compare import compare
from censorcheck.verdict.facts import (
    CERT_FAILURES,
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
    evidence = [cite(f"/tcp/{i}", f"{c.address}: {c.failure}") for i, c in tried]
    if f.server:
        return _tcp_against_server(f, failure, [c.address for _, c in tried], evidence)
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"No address accepted a TCP connection ({failure}); without a control connection "
        "this cannot be told apart from the site being down.",
        evidence,
    )


def _tcp_against_server(
    f: Facts, failure: str, addresses: list[str], evidence: list[Evidence]
) -> Verdict:
    control = f.obs.control.tcp
    seen = [(i, c) for i, c in enumerate(control) if c.skipped is None]
    evidence = evidence + [
        cite(f"/control/tcp/{i}", f"control to {c.address}: {c.failure or 'connected'}")
        for i, c in seen
    ]
    reached = [c.address for _, c in seen if c.failure is None]
    if set(reached) & set(addresses):
        return conclude(
            "blocked",
            failure,
            0.85,
            f"The probe could not connect ({failure}) to addresses the control server "
            "connected to at the same time: the path from this vantage drops them.",
            evidence,
            "tcp",
        )
    if seen and not reached:
        return conclude(
            "down",
            failure,
            0.8,
            f"Neither the probe ({failure}) nor the control server could connect to the site.",
            evidence,
        )
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"The probe could not connect ({failure}); the control server reached the site only "
        "at other addresses, or could not try the probe's.",
        evidence,
    )


def same_failure(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.split(".")[-1] == b.split(".")[-1]


def tls_failed(f: Facts) -> Verdict | None:
    if not f.obs.tls or f.trusted:
        return None
    if f.server and (verdict := _tls_against_server(f)) is not None:
        return verdict
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
        if intercepts_everything(h):
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


def intercepts_everything(h: TLSHandshake) -> bool:
    """An untrusted issuer minted the certificate for the neutral name too: the vantage's
    network (or its antivirus) intercepts all TLS, which says nothing about this host."""
    n = h.neutral
    if n is None or n.failure or not h.chain or not n.chain:
        return False
    leaf, other = h.chain[0], n.chain[0]
    return other.sha256 != leaf.sha256 and other.issuer == leaf.issuer and n.sni in other.sans


def _tls_against_server(f: Facts) -> Verdict | None:
    """The probe's failed handshakes against the control server's, address by address."""
    shared: list[Evidence] = []
    for i, h in enumerate(f.obs.tls):
        if h.failure is None or (seen := f.control_handshake(h.address)) is None:
            continue
        j, c = seen
        evidence = [
            cite(f"/tls/{i}", f"{h.address} with SNI {h.sni}: {h.failure}"),
            cite(
                f"/control/tls/{j}",
                f"control server, same address and name: {c.failure or 'handshake ok'}"
                + (", trusted" if c.trusted else ""),
            ),
        ]
        if c.failure is None and c.trusted:
            if h.failure in CERT_FAILURES:
                if intercepts_everything(h):
                    continue  # the vantage's whole network intercepts: not this host's blocking
                issuer = h.chain[0].issuer if h.chain else "an unknown issuer"
                return conclude(
                    "blocked",
                    "tls.mitm",
                    0.9,
                    f"The probe got a certificate from {issuer} that does not validate "
                    f"({h.failure}), while the control server got the host's trusted one from "
                    "the same address.",
                    evidence,
                    "tls",
                )
            what = h.failure.split(".", 1)[-1]
            again = h.repeat
            if what not in SNI_INTERFERENCE or (
                again is not None and not same_failure(h.failure, again.failure)
            ):
                continue  # an alert, or not reproducible: not enough to claim anything
            if again is not None:
                evidence.append(cite(f"/tls/{i}/repeat", f"again: {again.failure}"))
            n = h.neutral
            neutral_ok = n is not None and n.failure is None
            if neutral_ok and n is not None:
                evidence.append(cite(f"/tls/{i}/neutral", f"SNI {n.sni}: handshake ok"))
            return conclude(
                "blocked",
                "tls.sni_blocking" if neutral_ok else h.failure,
                0.9 if neutral_ok else 0.85,
                f"Handshakes naming the host failed from the probe ({h.failure}) while the "
                "control server completed one with the host's trusted certificate at the same "
                "address" + (", and a neutral name got through from the probe." if neutral_ok
                             else "."),
                evidence,
                "tls",
            )  # fmt: skip
        if same_failure(h.failure, c.failure) or (
            h.failure in CERT_FAILURES and c.failure in CERT_FAILURES
        ):
            shared += evidence
    if shared and len(shared) == 2 * len([h for h in f.obs.tls if h.failure]):
        failure = f.obs.tls[0].failure or "tls.error"
        return conclude(
            "down",
            failure,
            0.75,
            f"The control server's handshakes failed like the probe's ({failure}): the site's "
            "TLS is broken for everyone.",
            shared,
        )
    return None


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
    # Only a plain-HTTP request cut before any answer looks like a box acting on the request;
    # inside TLS nobody on the path can see which page was asked for.
    plain_cut = (
        http.hops[last].url.startswith("http://")
        and http.hops[last].response is None
        and what in HTTP_INTERFERENCE
    )
    neutral_ok = n is not None and n.failure is None and n.response is not None
    if neutral_ok and n is not None and n.response is not None:
        evidence.append(
            cite("/http/neutral", f"same address, neutral Host: HTTP {n.response.status}")
        )
    control = f.obs.control.http if f.server else None
    control_page = control is not None and control.failure is None and bool(control.hops)
    if control is not None and control_page:
        evidence.append(
            cite(f"/control/http/hops/{len(control.hops) - 1}", "control server fetched the page")
        )
    if plain_cut and (neutral_ok or control_page):
        return conclude(
            "blocked",
            http.failure,
            0.9 if neutral_ok and control_page else 0.85,
            f"The request naming the host was cut ({http.failure}) before any answer, while "
            + (
                "the same address answered a request with a neutral Host"
                if neutral_ok
                else "the control server fetched the page"
            )
            + ".",
            evidence,
            "http",
        )
    if control is not None and same_failure(http.failure, control.failure):
        evidence.append(
            cite(f"/control/http/hops/{len(control.hops) - 1}", f"control: {control.failure}")
        )
        return conclude(
            "down",
            http.failure,
            0.7,
            f"The control server's request failed like the probe's ({http.failure}): the site "
            "does not answer anyone.",
            evidence,
        )
    return conclude(
        "inconclusive",
        http.failure,
        0.4,
        f"The HTTP request failed ({http.failure}); that alone does not show blocking.",
        evidence,
    )


def _host(url: str) -> str:
    return httpx.URL(url).host


def _site(host: str) -> str:
    """The last two labels of a name: a site's own subdomains (a country edition, www.) must
    not count as somewhere else. Under public suffixes like co.uk this lumps sites together,
    which can only hide a redirect, never invent one."""
    return ".".join(host.rsplit(".", 2)[-2:])


def _authentic(f: Facts, index: int) -> bool:
    """Did hop ``index`` of the probe's fetch ride a handshake validated for its host?"""
    assert f.obs.http is not None
    hop = f.obs.http.hops[index]
    if not hop.url.startswith("https://"):
        return False
    if hop.tls is not None:
        return hop.tls.failure is None and bool(hop.tls.trusted)
    return hop.address in f.trusted  # the first hop rode the target's own handshake


def http_diff(f: Facts) -> Verdict | None:
    """The probe's page against the control server's, when a plain-HTTP hop was involved.

    A page fetched through a handshake validated for the host is the site's own, whatever it
    says; only plain-HTTP hops can have been swapped on the way.
    """
    http, control = f.obs.http, f.obs.control.http
    if not f.server or http is None or control is None or control.failure or not control.hops:
        return None
    if not http.hops or http.failure or not any(h.url.startswith("http://") for h in http.hops):
        return None
    theirs = control.hops[-1].response
    last = len(http.hops) - 1
    ours = http.hops[last].response
    if ours is None or theirs is None:
        return None
    known = {_site(_host(h.url)) for h in control.hops} | {_site(f.obs.target.domain)}
    unseen = [
        i
        for i, hop in enumerate(http.hops)
        if i and http.hops[i - 1].url.startswith("http://") and _site(_host(hop.url)) not in known
    ]
    redirects = [
        cite(
            f"/http/hops/{i}",
            f"redirected from {http.hops[i - 1].url} to {_host(http.hops[i].url)}, a site the "
            "control server's fetch never went to",
        )
        for i in unseen
    ]
    if not redirects and _authentic(f, last):
        return None  # the chain ended on a validated handshake: the page is the site's own
    comparison = compare(ours, theirs)
    if not redirects and not comparison.differs:
        return None
    evidence = [
        *redirects,
        cite(f"/http/hops/{last}/response", f"the probe's page: HTTP {ours.status}, "
             f"title {ours.title!r}"),
        cite(f"/control/http/hops/{len(control.hops) - 1}/response",
             f"the control's page: HTTP {theirs.status}, title {theirs.title!r}"),
    ]  # fmt: skip
    reason = (
        f"The probe was redirected to {_host(http.hops[unseen[0]].url)}, a host the control "
        "server never saw"
        if unseen
        else "The plain-HTTP page differs from the control server's"
    ) + f" ({comparison.describe()})."
    addresses = {h.address for h in http.hops[:1] if h.address}
    if addresses and f.control_addrs and not addresses & f.control_addrs:
        # Another address served another page: geo-DNS can do that too, so no claim.
        return conclude("inconclusive", "dns.inconsistent", 0.5, reason, evidence)
    return conclude("blocked", "http.diff", 0.8, reason, evidence, "http")


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
