"""How the page tells a status and names a target: colour, mark and word, and stable anchors.

A status is never told by colour alone: each has a mark (a glyph a reader can tell apart
without seeing colour, and that survives grey print) and its word, and the colours are from
Okabe and Ito's palette, chosen to stay distinct for the common kinds of colour blindness.
"""

from __future__ import annotations

import hashlib
import json

STATUSES = ("accessible", "blocked", "down", "inconclusive")
# Fill colours per status (Okabe–Ito); the page's CSS and legends use these, tests read them.
STATUS_COLOURS: dict[str, str] = {
    "accessible": "#009e73",  # bluish green
    "blocked": "#d55e00",  # vermillion
    "down": "#0072b2",  # blue
    "inconclusive": "#e69f00",  # orange
    "unknown": "#999999",
}
STATUS_MARKS: dict[str, str] = {
    "accessible": "✓",
    "blocked": "✕",
    "down": "↓",
    "inconclusive": "?",
    "unknown": "–",
}
# The mark's own colour on its fill: white where it contrasts, black on the light orange.
STATUS_INK: dict[str, str] = {
    "accessible": "#ffffff",
    "blocked": "#ffffff",
    "down": "#ffffff",
    "inconclusive": "#000000",
    "unknown": "#000000",
}


def status_name(status: str | None) -> str:
    """The status as the page knows it: any status we do not know is ``unknown``."""
    return status if status in STATUSES else "unknown"


def status_class(status: str | None) -> str:
    """The CSS class that colours a status."""
    return f"status-{status_name(status)}"


def status_mark(status: str | None) -> str:
    """The glyph that tells a status without its colour."""
    return STATUS_MARKS[status_name(status)]


def status_order(status: str) -> tuple[int, str]:
    """Sort key: the known statuses in their usual order, then any other."""
    return (STATUSES.index(status) if status in STATUSES else len(STATUSES), status)


def _digest(*parts: str) -> str:
    # A JSON array keeps the parts apart whatever they contain: ("a b", "c") is not ("a", "b c").
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def target_anchor(url: str) -> str:
    """The id of a target's section: the same for the same URL in every report."""
    return "t-" + _digest(url)


def evidence_anchor(vantage: str, url: str) -> str:
    """The id of the latest verdict and evidence of ``url`` from ``vantage``."""
    return "e-" + _digest(vantage, url)


def vantage_anchor(vantage: str) -> str:
    """The id of a vantage's grid."""
    return "g-" + _digest(vantage)
