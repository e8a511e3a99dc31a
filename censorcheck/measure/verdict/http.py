"""The HTTP rules: a request cut on the way, a page unlike the control server's, and the page
that loaded.

Only plain HTTP can be tampered with unseen: a page fetched through a handshake validated for its
host is the site's own, whatever it says.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.verdict.compare import compare, not_a_notice
from censorcheck.measure.verdict.elsewhere import same_page_there
from censorcheck.measure.verdict.facts import (
    HTTP_INTERFERENCE,
    Facts,
    cite,
    conclude,
    fingerprinted,
    merge,
    same_failure,
)
from censorcheck.measure.verdict.redirects import redirect_hop_failed
from censorcheck.measure.verdict.transfer import frozen
from censorcheck.models import HTTPFetch, HTTPHop, Verdict


def http_failed(f: Facts) -> Verdict | None:
    http = f.obs.http
    if http is None:
        return None
    page = fingerprinted(http)
    if page is not None:
        index, fingerprint = page
        return conclude(
            "blocked",
            "http.blockpage",
            0.95,
            f"The response matched the blockpage fingerprint {fingerprint}.",
            [
                cite(
                    f"/http/hops/{index}/response",
                    f"{http.hops[index].url}: blockpage {fingerprint}",
                )
            ],
            "http",
        )
    if http.failure is None:
        return None
    if not http.hops:
        return conclude(
            "inconclusive",
            http.failure,
            0.4,
            f"The HTTP request failed ({http.failure}); that alone does not show blocking.",
            [cite("/http", f"the fetch failed: {http.failure}")],
        )
    last = len(http.hops) - 1
    cut = http.hops[last]
    evidence = [cite(f"/http/hops/{last}", f"{cut.url} at {cut.address}: {http.failure}")]
    if last > 0 and (verdict := redirect_hop_failed(f, last)) is not None:
        return verdict
    n = http.neutral
    what = http.failure.split(".", 1)[-1]
    # Only a plain-HTTP request cut before any answer looks like a box acting on the request;
    # inside TLS nobody on the path can see which page was asked for.
    plain_cut = cut.url.startswith("http://") and cut.response is None and what in HTTP_INTERFERENCE
    # A cut right after a handshake validated for the host, before any answer: a box that let
    # the handshake through on the name it saw in it, and then kills the connection.
    tls_cut = (
        cut.url.startswith("https://")
        and cut.response is None
        and what in HTTP_INTERFERENCE
        and _authentic(f, last)
    )
    neutral_ok = n is not None and n.failure is None and n.response is not None
    if neutral_ok and n is not None and n.response is not None:
        evidence.append(
            cite("/http/neutral", f"same address, neutral Host: HTTP {n.response.status}")
        )
    control = f.obs.control.http if f.server else None
    # The control server's answer to the same URL from the same address: a fetch through another
    # address (geo-DNS, another edge) says nothing about what the probe's address does.
    answered = _control_hop(f, cut, answered=True)
    if answered is not None:
        j, hop = answered
        status = hop.response.status if hop.response else None
        evidence.append(
            cite(
                f"/control/http/hops/{j}",
                f"{f.who} fetched {hop.url} from the same address {hop.address}: HTTP {status}",
            )
        )
    elif control is not None and control.failure is None and control.hops:
        hop = control.hops[0]
        evidence.append(
            cite(
                "/control/http/hops/0",
                f"{f.who} fetched {hop.url} only from {hop.address}"
                if hop.address
                else f"{f.who} fetched {hop.url}, from an address it does not report",
            )
        )
    if (stalled := frozen(f, last, answered, _authentic(f, last))) is not None:
        return stalled
    if plain_cut and (neutral_ok or answered is not None):
        return conclude(
            "blocked",
            http.failure,
            0.9 if neutral_ok and answered is not None else 0.85,
            f"The request naming the host was cut ({http.failure}) before any answer, while "
            + (
                "the same address answered a request with a neutral Host"
                if neutral_ok
                else f"{f.who} fetched the page from the same address"
            )
            + ".",
            evidence,
            "http",
        )
    if tls_cut and answered is not None:
        return conclude(
            "blocked",
            http.failure,
            0.8,
            f"The connection was cut ({http.failure}) right after a handshake validated for the "
            f"host, before any answer, while {f.who} fetched the page from the same address.",
            evidence,
            "http",
        )
    failed = _control_hop(f, cut, answered=False)
    if control is not None and failed is not None and same_failure(http.failure, control.failure):
        j, hop = failed
        evidence.append(cite(f"/control/http/hops/{j}", f"{f.who} at {hop.address}: "
                             f"{control.failure}"))  # fmt: skip
        return conclude(
            "down",
            http.failure,
            0.7,
            f"The request of {f.who} failed like the probe's ({http.failure}) at the same "
            "address: the site does not answer anyone.",
            evidence,
        )
    elsewhere = plain_cut and control is not None and control.failure is None and control.hops
    return conclude(
        "inconclusive",
        http.failure,
        0.4,
        f"The HTTP request failed ({http.failure}); "
        + (
            f"{f.who} fetched the page only through another address, which says nothing of "
            "the probe's."
            if elsewhere
            else "that alone does not show blocking."
        ),
        evidence,
    )


def _control_hop(f: Facts, hop: HTTPHop, *, answered: bool) -> tuple[int, HTTPHop] | None:
    """The control server's hop for the same URL through the same address as ``hop``: one that
    got a response (``answered``), or the one its failed fetch ended on."""
    control = f.obs.control.http if f.server else None
    if control is None or hop.address is None:
        return None
    for j, theirs in enumerate(control.hops):
        if theirs.url != hop.url or theirs.address != hop.address:
            continue
        if answered and theirs.response is not None and theirs.failure is None:
            return j, theirs
        if not answered and control.failure and j == len(control.hops) - 1:
            return j, theirs
    return None


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


@functools.cache
def _suffixes(punycode: bool) -> PublicSuffixList:
    """The public suffix list bundled with the package (no network), loaded once; with the
    punycode form of its IDN rules, which only a host with an ``xn--`` label can match
    (``punycode``). Adding them runs IDNA over every rule: two thirds of the list's load, some
    20 ms of CPU that a run whose hosts are all plain ASCII need not pay."""
    return PublicSuffixList(accept_encoded_idn=punycode)


def _site(host: str) -> str:
    """The registrable domain of a host (example.co.uk for news.example.co.uk): a site's own
    subdomains (a country edition, www.) must not count as somewhere else, and two sites under
    a public suffix (co.uk, com.kz, github.io) are two sites. IP literals, single labels and
    public suffixes themselves are their own site."""
    host = host.lower().rstrip(".")
    if is_ip(host) or "." not in host:
        return host
    punycode = "xn--" in host or not host.isascii()
    return _suffixes(punycode).privatesuffix(host) or host


def _authentic(f: Facts, index: int) -> bool:
    """Did hop ``index`` of the probe's fetch ride a handshake validated for its host?"""
    assert f.obs.http is not None
    hop = f.obs.http.hops[index]
    if not hop.url.startswith("https://"):
        return False
    if hop.tls is not None:
        return hop.tls.failure is None and bool(hop.tls.trusted)
    return hop.address in f.trusted  # the first hop rode the target's own handshake


def _unseen(f: Facts, http: HTTPFetch, control: HTTPFetch) -> list[int]:
    """Hops reached by a redirect from a plain-HTTP hop to a site the control's fetch never
    went to."""
    known = {_site(_host(h.url)) for h in control.hops} | {_site(f.obs.target.domain)}
    return [
        i
        for i, hop in enumerate(http.hops)
        if i and http.hops[i - 1].url.startswith("http://") and _site(_host(hop.url)) not in known
    ]


def http_diff(f: Facts) -> Verdict | None:
    """The probe's page against the control server's, when a plain-HTTP hop was involved.

    A page fetched through a handshake validated for the host is the site's own, whatever it
    says; only plain-HTTP hops can have been swapped on the way. A claim needs another page
    beyond doubt (``Comparison.differs``), from the address the control also got, with a
    success status on the control's side and no error status on the probe's: a site's own
    error page (a rate limit, a WAF, its own geo-blocking) is not a government's act.
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
    if same_page_there(f):
        # This vantage got the same page at the control's addresses: whatever the control
        # server saw, the probe's address serves what the site serves here (a regional edition).
        return None
    unseen = _unseen(f, http, control)
    if not unseen and _authentic(f, last):
        return None  # the chain ended on a validated handshake: the page is the site's own
    comparison = compare(ours, theirs)
    if not comparison.unlike:
        # The same page as the control's, whichever way it came (a country edition's domain).
        return None
    first = http.hops[0]
    evidence = [
        *(
            cite(f"/http/hops/{i}", f"redirected from {http.hops[i - 1].url} to "
                 f"{_host(http.hops[i].url)}, a site the fetch of {f.who} never went to")
            for i in unseen
        ),
        cite(f"/http/hops/{last}/response", f"the probe's page: HTTP {ours.status}, "
             f"title {ours.title!r}, {ours.body_length} bytes"),
        cite(f"/control/http/hops/{len(control.hops) - 1}/response",
             f"the control's page: HTTP {theirs.status}, title {theirs.title!r}, "
             f"{theirs.body_length} bytes"),
    ]  # fmt: skip
    reason = (
        f"The probe was redirected to {_host(http.hops[unseen[0]].url)}, a host {f.who} never saw"
        if unseen
        else "The plain-HTTP page "
        + ("differs from" if comparison.differs else "is unlike")
        + f" that of {f.who}"
    ) + f" ({comparison.describe()})"
    if first.address and f.control_addrs and first.address not in f.control_addrs:
        # The probe's resolver sent it to an address the control never got, and that address
        # served a page beyond doubt unlike the one the control fetched from the site: the
        # classic redirect to a notice server. Anything short of that (an error status, a page
        # only unlike, a control without a page) geo-DNS or the site itself can explain.
        disjoint = not (f.probe_addrs & f.control_addrs)
        unlike_notice = not_a_notice(ours, theirs)
        if (
            disjoint
            and comparison.differs
            and 200 <= theirs.status < 300
            and ours.status < 400
            and unlike_notice is None
        ):
            where = [
                cite("/http/hops/0", f"the probe's resolver sent it to {first.address}, which "
                     f"served {first.url}"),
                *f.dns_evidence(),
                *f.control_evidence(),
            ]  # fmt: skip
            return conclude(
                "blocked",
                "dns.inconsistent",
                0.75,
                f"The probe's resolver gave {first.address}, an address the control never "
                f"got, and it served another page than {f.who} fetched from the site ("
                f"{comparison.describe()}).",
                merge(evidence, where),
                "dns",
            )
        if unlike_notice is not None and comparison.differs:
            reason += f"; but {unlike_notice}"
        return conclude("inconclusive", "dns.inconsistent", 0.5, reason + ".", evidence)
    if not 200 <= theirs.status < 300:
        return conclude(
            "inconclusive",
            "http.diff",
            0.4,
            reason + f"; but {f.who} itself got HTTP {theirs.status}, not a page to compare with.",
            evidence,
        )
    if ours.status >= 400:
        return conclude(
            "inconclusive",
            "http.diff",
            0.5,
            reason + f"; but an HTTP {ours.status} is what the site's own servers send too (a "
            "rate limit, a firewall, geo-blocking), so no blocking is claimed.",
            evidence,
        )
    if not comparison.differs:
        return conclude(
            "inconclusive",
            "http.diff",
            0.5,
            reason
            + "; but it is not shown to be another page: "
            + (
                "the content could not be compared (a body was empty or not kept)."
                if comparison.similarity is None
                else "its length is like the control's, as a language or regional edition's is."
            ),
            evidence,
        )
    unlike_notice = not_a_notice(ours, theirs)
    if unlike_notice is not None:
        return conclude(
            "inconclusive",
            "http.diff",
            0.5,
            reason + f"; but {unlike_notice}, so no blocking is claimed.",
            evidence,
        )
    where = [
        cite("/http/hops/0", f"the probe's request for {first.url} went to {first.address}"),
        cite("/control/http/hops/0", f"{f.who} fetched {control.hops[0].url} from "
             f"{control.hops[0].address}"),
        *f.control_evidence(),
    ]  # fmt: skip
    return conclude("blocked", "http.diff", 0.8, reason + ".", merge(evidence, where), "http")


def unvouched(f: Facts) -> Verdict | None:
    """A page that loaded, but that nothing ties to the site: it came from an address the
    control never got, over no handshake validated for the host, and no control page matches
    it. A censor's resolver pointing at its own server looks exactly like this, so it is never
    called accessible. A notice sent with HTTP 451 over plain HTTP, with no control page to
    weigh it against, is not called accessible either."""
    http = f.obs.http
    if http is None or http.failure or not http.hops or is_ip(f.obs.target.domain):
        return None
    last = len(http.hops) - 1
    hop = http.hops[last]
    ours = hop.response
    if ours is None:
        return None
    control = f.obs.control.http if f.server else None
    theirs = control.hops[-1].response if control and not control.failure and control.hops else None
    matched = theirs is not None and not compare(ours, theirs).unlike
    # The control's addresses are for the target's own name; a hop to another name (a www.
    # redirect) is vouched for only by a certificate or a matching page.
    own_name = _host(hop.url) == f.obs.target.domain.lower()
    consistent = own_name and (
        hop.address in f.control_addrs or bool(f.probe_addrs & f.control_addrs)
    )
    vouched = (
        consistent
        or (hop.address in f.trusted and own_name)
        # The suffix list only for a validated hop to another name: most runs never load it.
        or (
            _authentic(f, last)
            and (own_name or _site(_host(hop.url)) == _site(f.obs.target.domain))
        )
        or matched
        # The page this vantage got at the control's addresses: vouched for as those are.
        or (own_name and same_page_there(f))
    )
    evidence = [
        cite(f"/http/hops/{last}/response", f"HTTP {ours.status} from {hop.url}"),
        cite(f"/http/hops/{last}", f"the probe's request went to {hop.address}"),
    ]
    if not vouched:
        return conclude(
            "inconclusive",
            "dns.unverified",
            0.5,
            f"The page loaded (HTTP {ours.status}), but from {hop.address}, which nothing "
            f"vouches for: {f.who} never got it, no certificate valid for the host came from "
            "it, and there is no control page to match. A censor's resolver pointing at its own "
            "server looks the same.",
            merge(evidence, f.dns_evidence(), f.control_evidence()),
        )
    if ours.status == 451 and not _authentic(f, last) and theirs is None:
        return conclude(
            "inconclusive",
            "http.451",
            0.5,
            "The plain-HTTP page came back as HTTP 451 (unavailable for legal reasons); without "
            "a control's fetch of the page it cannot be told whether the site or the network "
            "sent it.",
            evidence,
        )
    return None


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
