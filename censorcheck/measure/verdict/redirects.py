"""A redirect the probe could not follow, judged against the control server's fetch of the
same hop: the hop is where a censor acting on the next host's name or address shows."""

from __future__ import annotations

from urllib.parse import urlsplit

from censorcheck.measure.verdict.facts import Facts, cite, conclude, describe_query
from censorcheck.models import Verdict

# A name the probe's resolver denies outright; a silence or a SERVFAIL on a redirect hop is
# asked once only, which is not enough to tell from a flaky resolver.
_DENIALS = frozenset({"dns.nxdomain", "dns.refused"})


def redirect_hop_failed(f: Facts, last: int) -> Verdict | None:
    """A redirect the probe could not follow, judged against the control server's fetch of the
    same hop: its name denied by the probe's resolver where the control fetched that URL, or its
    connection failing at an address the control fetched that URL from."""
    assert f.obs.http is not None
    cut = f.obs.http.hops[last]
    if cut.response is not None:
        return None
    control = f.obs.control.http if f.server else None
    theirs = next(
        (
            (j, hop)
            for j, hop in enumerate(control.hops if control else ())
            if hop.url == cut.url and hop.response is not None and hop.failure is None
        ),
        None,
    )
    if theirs is None:
        return None
    j, hop = theirs
    fetched = cite(f"/control/http/hops/{j}", f"{f.who} fetched {hop.url} from {hop.address}: "
                   f"HTTP {hop.response.status if hop.response else None}")  # fmt: skip
    before = f.obs.http.hops[last - 1]
    came_from = cite(f"/http/hops/{last - 1}", f"{before.url} redirected to {cut.url}")
    denied = [(k, q) for k, q in enumerate(cut.dns) if q.failure in _DENIALS]
    if cut.address is None and denied and len(denied) == len(cut.dns):
        k, q = denied[0]
        return conclude(
            "blocked",
            q.failure or "dns.error",
            0.8,
            f"The probe's resolver denied {urlsplit(cut.url).hostname} ({q.failure}), the "
            f"host the site redirects to, while {f.who} fetched that very URL.",
            [cite(f"/http/hops/{last}/dns/{k}", describe_query(q)), came_from, fetched],
            "dns",
        )
    tcp = cut.tcp
    if (
        tcp is not None
        and tcp.failure is not None
        and tcp.failure != "tcp.unreachable"  # the probe's own route, not the path
        and hop.address == cut.address
    ):
        return conclude(
            "blocked",
            tcp.failure,
            0.8,
            f"The probe could not connect ({tcp.failure}) to {cut.address}, where the site "
            f"redirects to, while {f.who} fetched that very URL from the same address.",
            [cite(f"/http/hops/{last}/tcp", f"{cut.address}: {tcp.failure}"), fetched],
            "tcp",
        )
    return None
