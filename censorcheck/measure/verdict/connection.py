"""The connection rules: TCP and TLS, with the self-controls (repeat, neutral name)."""

from __future__ import annotations

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.verdict.facts import (
    CERT_FAILURES,
    SNI_INTERFERENCE,
    Facts,
    cite,
    conclude,
    same_failure,
)
from censorcheck.models import Evidence, TCPConnect, TLSHandshake, Verdict

# Failures that say the probe's own network has no route (EHOSTUNREACH, ENETUNREACH,
# EADDRNOTAVAIL, ENETDOWN: a missing IPv6 route, a down interface), not that a path drops the site.
LOCAL_ROUTE = frozenset({"tcp.unreachable"})

# --- TCP, TLS --------------------------------------------------------------------------------


def proxy_failed(f: Facts) -> Verdict | None:
    """The vantage's proxy, not the path behind it, failed: its trouble says nothing of the
    site, and the measurement that needed it did not happen."""
    steps = [
        *(("dns", i, q.failure) for i, q in enumerate(f.obs.dns)),
        *(("tcp", i, c.failure) for i, c in enumerate(f.obs.tcp)),
    ]
    if f.obs.http is not None:
        steps += [("http/hops", i, h.failure) for i, h in enumerate(f.obs.http.hops)]
    failed = [(path, i, code) for path, i, code in steps if code and code.startswith("proxy.")]
    if not failed:
        return None
    evidence = [cite(f"/{path}/{i}", f"the proxy failed: {code}") for path, i, code in failed]
    return conclude(
        "inconclusive",
        failed[0][2],
        0.2,
        "The vantage's proxy failed, so this target was not measured through it.",
        evidence,
    )


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
    if all(c.failure in LOCAL_ROUTE for _, c in tried):
        return conclude(
            "inconclusive",
            failure,
            0.3,
            f"Every address failed with no route ({failure}), which is almost always the "
            "probe's own network (a missing IPv6 route, a down link), not the path to the site.",
            evidence,
        )
    if f.server:
        return _tcp_against_server(f, [c for _, c in tried], evidence)
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"No address accepted a TCP connection ({failure}); without a control connection "
        "this cannot be told apart from the site being down.",
        evidence,
    )


def _tcp_against_server(f: Facts, tried: list[TCPConnect], evidence: list[Evidence]) -> Verdict:
    """The probe's failed connections against the control server's, address by address."""
    evidence = evidence + [
        cite(f"/control/tcp/{i}", f"{f.who} to {c.address}: {c.failure or 'connected'}")
        for i, c in enumerate(f.obs.control.tcp)
        if c.skipped is None
    ]
    theirs = {c.address: f.control_connect(c.address) for c in tried}
    # An address the control reached while the probe's path dropped it (a missing local route is
    # not the path).
    dropped = [
        c
        for c in tried
        if c.failure not in LOCAL_ROUTE and (t := theirs[c.address]) and t.failure is None
    ]
    if dropped:
        failure = dropped[0].failure or "tcp.error"
        return conclude(
            "blocked",
            failure,
            0.85,
            f"The probe could not connect ({failure}) to addresses {f.who} connected to at "
            "the same time: the path from this vantage drops them.",
            evidence,
            "tcp",
        )
    failure = tried[0].failure or "tcp.error"
    # Down for everyone: the control reached no address at all, and failed like the probe at
    # each of the probe's (a dead address the control never tried, or that the site is reachable
    # elsewhere, leaves a resolver handing out a black hole possible).
    reached_any = any(c.failure is None and c.skipped is None for c in f.obs.control.tcp)
    alike = all((t := theirs[c.address]) and same_failure(c.failure, t.failure) for c in tried)
    # A control cut short by its deadline may not have tried every address it had.
    if alike and not reached_any and not f.obs.control.deadline_hit:
        return conclude(
            "down",
            failure,
            0.8,
            f"Neither the probe ({failure}) nor {f.who} could connect to the site: both failed "
            "the same way at the same addresses, and the control reached no other.",
            evidence,
        )
    return conclude(
        "inconclusive",
        failure,
        0.4,
        f"The probe could not connect ({failure}); {f.who} reached the site only at other "
        "addresses, failed differently, or never tried the probe's.",
        evidence,
    )


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
    if (verdict := _interception(f)) is not None:
        return verdict
    return _tls_unexplained(f)


def _interception(f: Facts) -> Verdict | None:
    """The probe's own proof of interception: an untrusted leaf for the host's name where the
    neutral name got the host's trusted certificate (or, for every name, a network that
    intercepts all TLS)."""
    for i, h in enumerate(f.obs.tls):
        n = h.neutral
        # Expired or mismatched certificates are what misconfigured sites serve; only an issuer
        # outside the trust store is what an interception box produces.
        if h.failure != "tls.untrusted" or n is None or n.failure or not h.chain or not n.chain:
            continue
        leaf, other = h.chain[0], n.chain[0]
        evidence = [
            cite(f"/tls/{i}", f"SNI {h.sni}: {h.failure}, {describe_leaf(h)}"),
            cite(
                f"/tls/{i}/neutral",
                f"SNI {n.sni}: {describe_leaf(n)}"
                + (", trusted and valid for the host" if n.trusted else ", untrusted"),
            ),
        ]
        if n.trusted and other.sha256 != leaf.sha256:
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
    return None


def _tls_unexplained(f: Facts) -> Verdict:
    """A failed handshake no rule could pin on the path, with what stood in the way."""
    first = f.obs.tls[0]
    failure = first.failure or "tls.error"
    what = failure.split(".", 1)[-1]
    evidence = [cite(f"/tls/{i}", f"{h.address}: {h.failure}") for i, h in enumerate(f.obs.tls)]
    again, n = first.repeat, first.neutral
    if again is not None:
        evidence.append(cite("/tls/0/repeat", f"again on a fresh connection: {again.failure}"))
    if n is not None:
        evidence.append(cite("/tls/0/neutral", f"SNI {n.sni}: {n.failure or 'handshake ok'}"))
    if what in SNI_INTERFERENCE and again is None:
        why = "it was not repeated on a fresh connection, so a transient loss is not ruled out"
    elif what in SNI_INTERFERENCE and not same_failure(failure, again.failure if again else None):
        why = "a repeat on a fresh connection failed differently"
    elif n is not None and n.failure is not None:
        why = f"a neutral name failed too ({n.failure})"
    elif failure in CERT_FAILURES:
        why = "misconfigured sites serve such certificates too"
    elif what == "alert":
        why = "servers send alerts for their own reasons"
    else:
        why = "nothing shows that naming the host is what fails"
    if f.server and f.obs.control.tls and not f.control_trusted:
        why += f", and {f.who} validated the host's certificate nowhere, so it is no reference"
        evidence += [
            cite(f"/control/tls/{j}", f"{f.who} at {h.address}: {h.failure or 'not trusted'}")
            for j, h in enumerate(f.obs.control.tls)
        ]
    elif not f.server:
        why += "; a control server's measurement could tell more"
    return conclude(
        "inconclusive", failure, 0.4, f"The TLS handshake failed ({failure}): {why}.", evidence
    )


def intercepts_everything(h: TLSHandshake) -> bool:
    """An untrusted issuer minted the certificate for the neutral name too: the vantage's
    network (or its antivirus) intercepts all TLS, which says nothing about this host."""
    n = h.neutral
    if n is None or n.failure or not h.chain or not n.chain:
        return False
    leaf, other = h.chain[0], n.chain[0]
    return other.sha256 != leaf.sha256 and other.issuer == leaf.issuer and n.sni in other.sans


def describe_leaf(h: TLSHandshake) -> str:
    """The leaf certificate ``h`` got, by issuer and hash, for evidence."""
    if not h.chain:
        return "no certificate recorded"
    leaf = h.chain[0]
    return f"certificate for {leaf.subject} issued by {leaf.issuer} (sha256 {leaf.sha256[:16]})"


def same_leaf(a: TLSHandshake, b: TLSHandshake) -> bool | None:
    """Did the two handshakes get the same leaf certificate? None when a chain was not recorded."""
    if not a.chain or not b.chain:
        return None
    return a.chain[0].sha256 == b.chain[0].sha256


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
                f"{f.who}, same address and name: {c.failure or 'handshake ok'}"
                + (", trusted" if c.trusted else ""),
            ),
        ]
        # The control's first handshake failed but its repeat validated the host: it reached the
        # site at this address all the same (not for certificates: the leaf compared is the
        # first attempt's).
        retried = (
            c.failure is not None
            and c.repeat is not None
            and c.repeat.failure is None
            and bool(c.repeat.trusted)
            and h.failure not in CERT_FAILURES
        )
        if retried:
            evidence.append(
                cite(f"/control/tls/{j}/repeat", f"{f.who} again, same address: handshake ok, "
                     "trusted")
            )  # fmt: skip
        if (c.failure is None and c.trusted) or retried:
            if h.failure in CERT_FAILURES:
                if intercepts_everything(h):
                    continue  # the vantage's whole network intercepts: not this host's blocking
                return _certificate_against_server(f, i, h, j, c)
            what = h.failure.split(".", 1)[-1]
            again = h.repeat
            if what not in SNI_INTERFERENCE or again is None:
                continue  # an alert, or never repeated: not enough to claim anything
            if not same_failure(h.failure, again.failure):
                continue  # not reproducible: packet loss
            evidence.append(cite(f"/tls/{i}/repeat", f"again: {again.failure}"))
            n = h.neutral
            neutral_ok = n is not None and n.failure is None
            if neutral_ok and n is not None:
                evidence.append(cite(f"/tls/{i}/neutral", f"SNI {n.sni}: handshake ok"))
            return conclude(
                "blocked",
                "tls.sni_blocking" if neutral_ok else h.failure,
                0.9 if neutral_ok else 0.85,
                f"Handshakes naming the host failed twice from the probe ({h.failure}) while "
                f"{f.who} completed one with the host's trusted certificate at the same "
                "address" + (", and a neutral name got through from the probe." if neutral_ok
                             else "."),
                evidence,
                "tls",
            )  # fmt: skip
        alike = same_failure(h.failure, c.failure) or (
            h.failure in CERT_FAILURES
            and c.failure in CERT_FAILURES
            and same_leaf(h, c) is not False  # another leaf is another server (or a box)
        )
        if alike:
            shared += evidence
    if shared and len(shared) == 2 * len([h for h in f.obs.tls if h.failure]):
        failure = f.obs.tls[0].failure or "tls.error"
        elsewhere = sorted(f.control_trusted - {h.address for h in f.obs.tls})
        if elsewhere or _control_loaded(f):
            # The addresses the probe was given fail for everyone, but the site itself works:
            # not down. A resolver handing out a dead address looks exactly like this.
            first = elsewhere[0] if elsewhere else None
            k = next((n for n, c in enumerate(f.obs.control.tls) if c.address == first), None)
            where = (
                cite(f"/control/tls/{k}", f"{f.who} completed a trusted handshake at "
                     f"{elsewhere[0]}")
                if k is not None
                else cite("/control/http/hops/0", f"{f.who} loaded the page")
            )  # fmt: skip
            own = {h.address for h in f.obs.tls if h.failure} & f.control_addrs
            return conclude(
                "inconclusive",
                failure,
                0.5,
                f"The handshakes of {f.who} failed like the probe's ({failure}) at the probe's "
                "addresses, but it reached the site elsewhere: the site is up, so not down; "
                + (
                    "some of its own addresses fail for everyone."
                    if own
                    else "the probe's addresses may not be the site's."
                ),
                [*shared, where, *f.dns_evidence(), *f.control_evidence()],
            )
        return conclude(
            "down",
            failure,
            0.75,
            f"The handshakes of {f.who} failed like the probe's ({failure}) at the same "
            "addresses: the site's TLS is broken for everyone.",
            shared,
        )
    return None


def _certificate_against_server(
    f: Facts, i: int, h: TLSHandshake, j: int, c: TLSHandshake
) -> Verdict:
    """The probe's certificate failure at an address where the control server validated the
    host's certificate: interception only when the probe got another leaf, from an untrusted
    issuer; the very leaf the control validated means the probe's clock or trust store."""
    evidence = [
        cite(f"/tls/{i}", f"{h.address} with SNI {h.sni}: {h.failure}, {describe_leaf(h)}"),
        cite(f"/control/tls/{j}", f"{f.who}, same address and name: trusted, {describe_leaf(c)}"),
    ]
    same = same_leaf(h, c)
    if same is None and (own := _interception(f)) is not None and own.status == "blocked":
        # The control's leaf is unknown (an OONI helper records none), so it cannot show the
        # probe's leaf is another; the probe's own neutral handshake can, and the control's
        # trusted handshake at the address only adds to it.
        return own.model_copy(update={"evidence": [*own.evidence, evidence[1]]})
    if same:
        return conclude(
            "inconclusive",
            h.failure or "tls.error",
            0.4,
            f"The probe rejected ({h.failure}) the very certificate {f.who} validated at the "
            "same address: the probe's clock or trust store is at fault, not the path.",
            evidence,
        )
    if h.failure == "tls.untrusted" and same is False:
        issuer = h.chain[0].issuer
        return conclude(
            "blocked",
            "tls.mitm",
            0.9,
            f"The probe got a certificate from {issuer}, an issuer outside its trust store, "
            f"while {f.who} got the host's trusted certificate, another one, from the same "
            "address.",
            evidence,
            "tls",
        )
    return conclude(
        "inconclusive",
        h.failure or "tls.error",
        0.5,
        f"The probe's certificate check failed ({h.failure}) where {f.who} validated the "
        "host's, but "
        + (
            "a certificate was not recorded on both sides"
            if same is None
            else "the probe's certificate is not from an untrusted issuer"
        )
        + ", so interception is not shown.",
        evidence,
    )


def _control_loaded(f: Facts) -> bool:
    """Did the control server fetch the page (it measures from elsewhere, at any address)?"""
    http = f.obs.control.http if f.server else None
    return http is not None and http.failure is None and bool(http.hops)
