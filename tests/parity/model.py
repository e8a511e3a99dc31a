"""What a parity entry is: one OONI scenario, what OONI expects, and what we expect in each set-up
where we reproduce it (a lab row runs in all three; a verdict-table row in the one its control
stands for), with the reasons shared by several entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Setup = Literal["resolvers", "server", "ooni"]
SETUPS: tuple[Setup, ...] = ("resolvers", "server", "ooni")
Verdict = tuple[str, str | None, str]  # status, blocking layer, outcome
# OONI's test keys: accessible (true, false or null) and blocking (false, null or the kind).
OONIResult = tuple[bool | None, str | bool | None]


@dataclass(frozen=True)
class Parity:
    """One OONI scenario and ours."""

    name: str  # OONI's test case name
    what: str  # what the scenario's network does, in a line
    ooni: OONIResult
    ours: dict[Setup, Verdict]  # our expected verdict in each set-up that reproduces it
    lab: str | None = None  # the row of censorcheck/lab/scenarios.py (runs in every set-up)
    rows: dict[Setup, str] = field(default_factory=dict)  # verdict-table rows by set-up
    why: str = ""  # where ours differs from OONI's: why


def blocked(layer: str, outcome: str) -> Verdict:
    return ("blocked", layer, outcome)


def unsure(outcome: str) -> Verdict:
    return ("inconclusive", None, outcome)


def down(outcome: str) -> Verdict:
    return ("down", None, outcome)


OK: Verdict = ("accessible", None, "accessible")


def everywhere(verdict: Verdict) -> dict[Setup, Verdict]:
    return dict.fromkeys(SETUPS, verdict)


# OONI's expectations as they occur in its suite.
FINE: OONIResult = (True, False)
DOWN: OONIResult = (False, False)
NULL: OONIResult = (None, None)
DNS: OONIResult = (False, "dns")
TCP: OONIResult = (False, "tcp_ip")
HTTP_FAILURE: OONIResult = (False, "http-failure")
HTTP_DIFF: OONIResult = (False, "http-diff")

# Why the control resolvers alone cannot decide what a control that fetches the site can.
NO_FETCH = "With control resolvers only, nothing fetched the site from outside"
HOP_ONCE = (
    "A redirect hop's handshake is made once, and a failure must repeat before it counts: one "
    "reset or cut on a hop may be loss. OONI counts it; we stay inconclusive and cite it."
)
TIMEOUT = (
    "A timeout the control does not share is what a slow path, a congested link or a loaded "
    "backend also produce; OONI counts it as http-failure, we stay inconclusive."
)
BROKEN_SITE = (
    "OONI's helper fails the same way but OONI still reports http-failure; our control server "
    "hit the same failure at the same address, so the site is broken for everyone: down."
)
MISCONFIGURED = (
    f"{NO_FETCH}; a broken certificate is what misconfigured sites serve, so inconclusive. A "
    "control server that fails alike makes it down, as OONI says."
)


# Which of our blocking layers answer each kind OONI reports. OONI files a reset or a timeout
# anywhere in the fetch (a redirect hop's connect, a handshake) under http-failure.
LAYERS = {"dns": {"dns"}, "tcp_ip": {"tcp"}, "http-failure": {"tcp", "tls", "http"},
          "http-diff": {"http"}}  # fmt: skip


def agrees(ooni: OONIResult, ours: Verdict) -> bool:
    """Do OONI's test keys and our verdict say the same thing? Blocking by a kind our layer
    answers; accessible; down (not accessible, no blocking); or no claim (both null)."""
    accessible, blocking = ooni
    status, layer, _ = ours
    if isinstance(blocking, str):
        return status == "blocked" and layer in LAYERS[blocking]
    if accessible is None:
        return status == "inconclusive"
    return status == ("accessible" if accessible else "down")


def describe(ooni: OONIResult) -> str:
    """OONI's expectation as its test keys put it."""
    accessible, blocking = ooni
    show = {None: "null", True: "true", False: "false"}
    return f"accessible={show[accessible]}, blocking=" + (
        f'"{blocking}"' if isinstance(blocking, str) else show[blocking]
    )


def show(verdict: Verdict) -> str:
    status, layer, outcome = verdict
    return f"{status} ({layer}, {outcome})" if layer else f"{status} ({outcome})"
