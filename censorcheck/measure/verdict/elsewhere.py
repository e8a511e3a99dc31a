"""What the probe saw at the control's addresses (``/control_addresses``), from its own vantage.

The site working here at an address the control got, while the probe's own resolver led
somewhere that failed or served another page, puts the blame on the resolver: DNS blocking,
with no control server needed. Both views come from the same vantage, so what geo-DNS and CDNs
explain away elsewhere (another edition, another edge) shows up here as the same page. The
site failing at the control's addresses too proves nothing about DNS: other layers may be
blocked, and the other rules decide.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from censorcheck.measure.verdict.compare import compare, not_a_notice
from censorcheck.measure.verdict.facts import (
    CERT_FAILURES,
    HTTP_INTERFERENCE,
    Facts,
    cite,
    conclude,
    merge,
)
from censorcheck.models import Evidence, HTTPResponse, Verdict

REF = "/control_addresses"


def works_there(f: Facts) -> list[Evidence]:
    """Evidence that the site works from this vantage at one of the control's addresses: over
    https, a handshake naming the host validated there; over plain HTTP, a page fetched there
    (no failure, no error status, no known blockpage). Empty when there is none."""
    x = f.obs.control_addresses
    if x is None or f.control != "ok":
        return []
    if f.obs.target.url.startswith("https://"):
        for i, h in enumerate(x.tls):
            for suffix, attempt in (("", h), ("/repeat", h.repeat)):
                ok = attempt is not None and attempt.failure is None and attempt.trusted
                if ok and h.address in f.control_addrs:
                    return [
                        cite(f"{REF}/tls/{i}{suffix}", f"from this vantage, {h.address}, an "
                             f"address of {f.who}, presented a certificate valid for the host")
                    ]  # fmt: skip
        return []
    there = page_there(f)
    if there is None:
        return []
    index, response = there
    assert x.http is not None
    return [
        cite(f"{REF}/http/hops/{index}/response", f"from this vantage, {x.http.hops[0].address}, "
             f"an address of {f.who}, served HTTP {response.status}, title {response.title!r}, "
             f"{response.body_length} bytes")
    ]  # fmt: skip


def page_there(f: Facts) -> tuple[int, HTTPResponse] | None:
    """The last page the vantage fetched through one of the control's addresses, when the
    fetch worked and its page is no known blockpage and no error status."""
    x = f.obs.control_addresses
    fetch = x.http if x is not None else None
    if fetch is None or fetch.failure or not fetch.hops:
        return None
    # A redirect to another name is looked up through the probe's own resolver: only a hop at
    # one of the control's addresses, or over a handshake validated for its host, is vouched for.
    for hop in fetch.hops:
        validated = hop.tls is not None and hop.tls.failure is None and bool(hop.tls.trusted)
        if hop.address not in f.control_addrs and not validated:
            return None
    last = len(fetch.hops) - 1
    response = fetch.hops[last].response
    if response is None or response.fingerprint or response.status >= 400:
        return None
    return last, response


def same_page_there(f: Facts) -> bool:
    """Is the probe's page the one this vantage got at the control's addresses? Then the
    address it came from serves the site, as much as the control's own address does."""
    there = page_there(f)
    http = f.obs.http
    if there is None or http is None or http.failure or not http.hops:
        return False
    ours = http.hops[-1].response
    return ours is not None and not compare(ours, there[1]).unlike


def _no_connection(f: Facts) -> list[Evidence] | None:
    """Evidence that every one of the probe's own addresses it dialled refused it a connection,
    or None: when none was dialled (IPv6 without a route), or one failed for want of a route
    (the probe's own network, never a censor's sign here), or one connected."""
    dialled = [(i, c) for i, c in enumerate(f.obs.tcp) if c.address in f.probe_addrs]
    dialled = [(i, c) for i, c in dialled if c.skipped is None]
    if not dialled or any(c.failure in (None, "tcp.unreachable") for _, c in dialled):
        return None
    if any(_control_connected(f, c.address) for _, c in dialled):
        return None
    return [cite(f"/tcp/{i}", f"{c.address}: {c.failure}") for i, c in dialled]


def _same_family(f: Facts) -> bool:
    """Did the probe dial one of its own addresses in an IP family the site worked over from
    here? A failure over IPv6 says nothing against the resolver when only IPv4 was shown to
    work: a route to IPv6 is no working IPv6 path, and broken IPv6 is common."""
    x = f.obs.control_addresses
    if x is None:
        return False
    worked = {
        h.address
        for h in x.tls
        for attempt in (h, h.repeat)
        if attempt is not None and attempt.failure is None and attempt.trusted
    }
    if page_there(f) is not None and x.http is not None:
        worked.add(x.http.hops[0].address or "")
    families = {ipaddress.ip_address(a).version for a in worked & f.control_addrs}
    return any(
        ipaddress.ip_address(c.address).version in families
        for c in f.obs.tcp
        if c.address in f.probe_addrs and c.skipped is None
    )


def _validated_on_the_way(f: Facts) -> set[str]:
    """Addresses where a hop of the probe's fetch for the target's own name rode a handshake
    validated for it (a plain-HTTP URL that moved to https): the site's, as much as those the
    probe's first handshakes validated."""
    http = f.obs.http
    host = f.obs.target.domain.lower()
    return {
        hop.address
        for hop in (http.hops if http else ())
        if hop.address
        and hop.tls is not None
        and hop.tls.failure is None
        and hop.tls.trusted
        and (urlsplit(hop.url).hostname or "").lower() == host
    }


def _control_connected(f: Facts, address: str) -> bool:
    """Did the control server connect to ``address``, one of the probe's own? Then the resolver
    gave an address that takes connections, and a probe that could not connect there meets the
    path dropping it (IP blocking, the TCP rule's to judge), not a resolver sending it astray."""
    theirs = f.control_connect(address) if f.server else None
    return theirs is not None and theirs.failure is None


def _control_answered(f: Facts, url: str, address: str | None) -> bool:
    """Did the control server get an answer to ``url`` from ``address``, one of the probe's?"""
    control = f.obs.control.http if f.server else None
    return control is not None and any(
        h.url == url and h.address == address and h.response is not None and h.failure is None
        for h in control.hops
    )


def _no_valid_handshake(f: Facts) -> list[Evidence] | None:
    """Evidence that none of the probe's own addresses completed a handshake valid for the host
    (no connection, a certificate failure, or a network failure that its repeat met too), or
    None when one may yet have: a handshake never made or never repeated."""
    dialled = [c for c in f.obs.tcp if c.address in f.probe_addrs and c.skipped is None]
    if not dialled or any(c.failure == "tcp.unreachable" for c in dialled):
        return None
    if any(c.failure and _control_connected(f, c.address) for c in dialled):
        return None
    found = [cite(f"/tcp/{i}", f"{c.address}: {c.failure}")
             for i, c in enumerate(f.obs.tcp) if c in dialled and c.failure]  # fmt: skip
    for c in (c for c in dialled if c.failure is None):
        i, h = next(((i, h) for i, h in enumerate(f.obs.tls) if h.address == c.address),
                    (None, None))  # fmt: skip
        if h is None:
            return None
        certificate = h.failure in CERT_FAILURES or (h.failure is None and not h.trusted)
        repeated = h.failure is not None and h.repeat is not None and h.repeat.failure is not None
        if not (certificate or repeated):
            return None
        found.append(cite(f"/tls/{i}", f"{h.address}: {h.failure or 'certificate not valid'}"))
    return found


def dns_elsewhere(f: Facts) -> Verdict | None:
    """The probe's answers share nothing with the control's and nothing vouches for them, while
    the site works from this vantage at the control's addresses: the probe's answers failed, or
    gave a page beyond doubt unlike the one found there."""
    if not f.probe_addrs or f.probe_addrs & f.control_addrs:
        return None
    if (f.trusted | f.control_trusted | _validated_on_the_way(f)) & f.probe_addrs:
        return None  # a valid certificate at the probe's address: another edge of the site
    there = works_there(f)
    if not there:
        return None
    evidence = merge(f.dns_evidence(), f.control_evidence(), there)
    http = f.obs.http
    first = http.hops[0] if http and http.hops else None
    if (first is None or first.response is None) and not _same_family(f):
        return None
    if f.obs.target.url.startswith("https://"):
        attempts = _no_valid_handshake(f)
        if attempts is None:
            return None
        return conclude(
            "blocked",
            "dns.inconsistent",
            0.8,
            "The probe's resolver gave addresses unlike the control's where no certificate valid "
            f"for the host was found, while from this vantage an address of {f.who} presented "
            "one.",
            merge(evidence, attempts),
            "dns",
        )
    if first is None or first.response is None:
        # Nothing answered at the probe's addresses: no connection, or the request was cut. A
        # request left unanswered until the timeout is what a slow or overloaded edge does too,
        # and it was asked once only: as in the HTTP rules, only an abrupt end counts.
        if first is None:
            where = _no_connection(f)
        elif _control_answered(f, first.url, first.address):
            where = None  # the address serves the page elsewhere: the HTTP rules judge the cut
        elif (first.failure or "").split(".", 1)[-1] in HTTP_INTERFERENCE:
            where = [cite("/http/hops/0", f"{first.address}: {first.failure}")]
        else:
            where = None
        if where is None:
            return None
        return conclude(
            "blocked",
            "dns.inconsistent",
            0.75,
            "The probe's resolver gave addresses unlike the control's that did not serve the "
            f"page, while from this vantage an address of {f.who} did.",
            merge(evidence, where),
            "dns",
        )
    if http is None or http.failure or http.hops[-1].response is None:
        return None  # a later hop failed: the redirect rules decide
    ours = http.hops[-1].response
    theirs = page_there(f)
    assert theirs is not None
    server = f.obs.control.http if f.server else None
    served = server.hops[-1].response if server and not server.failure and server.hops else None
    if served is not None and not compare(ours, served).unlike:
        return None  # the control server's own page: vouched for
    comparison = compare(ours, theirs[1])
    if not comparison.differs or ours.status >= 400 or not_a_notice(ours, theirs[1]):
        return None  # the same site, or not beyond doubt another page: later rules decide
    last = len(http.hops) - 1
    mine = cite(f"/http/hops/{last}/response", f"the page at the probe's address "
                f"{first.address}: HTTP {ours.status}, title {ours.title!r}, "
                f"{ours.body_length} bytes")  # fmt: skip
    return conclude(
        "blocked",
        "dns.inconsistent",
        0.75,
        f"The probe's resolver gave {first.address}, an address the control never got, and "
        f"the page there is unlike the one this vantage got at an address of {f.who} "
        f"({comparison.describe()}).",
        merge(evidence, [mine]),
        "dns",
    )
