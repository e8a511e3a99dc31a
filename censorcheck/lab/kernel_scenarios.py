"""Rows of the scenario table that only the kernel can play: a censor acting on the packets of a
connection, not on names. They run in a namespace lab with nftables (``lab/netns.py``); on
loopback, or without nftables, they are left out and the lab says why (``Lab.kernel_skipped``).

Each row is a TLS site that every vantage reaches, and an nftables rule on its own address that
degrades the censored vantage's connections to it after a clean handshake. A throttled body still
trickles when the read gives up, as a distant or overloaded server's would; the run-level rule
(``measure/verdict/baseline.py``) calls it ``tls.throttled``, blocked where the control server read
the same page ten times as fast and the vantage's other big pages came ten times as fast too,
inconclusive with the numbers where only the latter is known. A frozen body goes silent after
its first kilobytes, and does so again on a fresh connection: ``tls.stall_after_bytes``, blocked
only where the control server read more of the same page from the same address (rules 5),
inconclusive with the numbers where no control did.
"""

from __future__ import annotations

from dataclasses import dataclass

from censorcheck.lab.netns import KernelAction
from censorcheck.lab.scenarios import Expect, Scenario

_THROTTLED = Expect("inconclusive", None, "tls.throttled")
_STALLED = Expect("inconclusive", None, "tls.stall_after_bytes")


@dataclass(frozen=True)
class KernelRow:
    """A scenario and the act of the kernel-level censor that plays it (see ``KernelRule``)."""

    scenario: Scenario
    action: KernelAction
    amount: int


KERNEL_ROWS: tuple[KernelRow, ...] = (
    # Connections that freeze once the server has sent some kilobytes: the handshake and the
    # start of the answer pass, then nothing (as TSPU boxes in Russia froze TLS in 2022).
    KernelRow(
        Scenario("kernel-freeze", "https", "huge", _STALLED,
                 expect_control=Expect("blocked", "tls", "tls.stall_after_bytes"),
                 expect_ooni=_STALLED,
                 ooni_reason="The helper reports no body, so no fuller read to weigh it against.",
                 description="The connection freezes after the server's first 64 KiB."),
        "freeze", 64 * 1024,
    ),
    # Throttling (as Twitter's was in Russia in 2021): the page comes, too slowly for the
    # probe's timeout to see the body's first 512 KiB. Far below the vantage's other big pages
    # (huge, huge-http, slow) and the control's read: throttled (run-level rule, rules 7).
    KernelRow(
        Scenario("kernel-throttle", "https", "huge", _THROTTLED,
                 expect_control=Expect("blocked", "tls", "tls.throttled"),
                 expect_ooni=_THROTTLED,
                 ooni_reason="The helper reports no body, so no throughput to weigh it against.",
                 description="The server's answer is throttled to 64 KiB/s."),
        # Not slower: loopback carries segments of 64 KiB, so a bucket refilled more slowly
        # lets one through less than once a second, and the body looks frozen, not throttled.
        "throttle", 64 * 1024,
    ),
)  # fmt: skip
