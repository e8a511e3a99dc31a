"""How alike two fetches of one page are: the probe's and the control server's.

OONI compares body lengths (a ratio under 0.7 counts as different), which calls a page with a
long rotating news block blocked and a short blockpage padded to the site's size accessible.
Here a page is compared by the *shape* of its start: the sequence of tags and words in the
bounded prefix both sides keep, as overlapping pairs of tokens (2-shingles), by Jaccard index.
A nonce, a timestamp or a rotating teaser changes a few shingles of hundreds; a blockpage shares
almost none with the site. Title, status class and uncommon headers are recorded beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from censorcheck.models import HTTPResponse

# Tags by name, then words; attribute values and digits vary between fetches, names rarely.
_TOKEN = re.compile(r"<\s*(/?[a-zA-Z][a-zA-Z0-9-]*)|([^\W\d_]{2,})")
SHINGLE = 2
# Below this the starts of two pages have little in common. Dynamic lab pages score above 0.8;
# a blockpage against a site scores under 0.1.
SIMILAR = 0.6

# Headers any server may send differently on two fetches: not evidence of a middlebox.
COMMON_HEADERS = frozenset(
    {
        "accept-ranges", "age", "alt-svc", "cache-control", "connection", "content-encoding",
        "content-language", "content-length", "content-security-policy", "content-type", "date",
        "etag", "expires", "keep-alive", "last-modified", "link", "location", "nel", "p3p",
        "pragma", "referrer-policy", "report-to", "server", "server-timing", "set-cookie",
        "strict-transport-security", "timing-allow-origin", "transfer-encoding", "vary", "via",
        "x-cache", "x-content-type-options", "x-frame-options", "x-powered-by",
        "x-request-id", "x-xss-protection",
    }
)  # fmt: skip


def shingles(text: str) -> set[tuple[str, ...]]:
    """Overlapping runs of ``SHINGLE`` tokens (tag names and words, lower-cased)."""
    tokens = [(tag or word).lower() for tag, word in _TOKEN.findall(text)]
    if len(tokens) < SHINGLE:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard index of the two texts' shingles: 1.0 alike, 0.0 nothing in common."""
    left, right = shingles(a), shingles(b)
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def _norm(title: str | None) -> str:
    return " ".join((title or "").lower().split())


@dataclass(frozen=True)
class Comparison:
    """What differs between the probe's page and the control's."""

    status: tuple[int, int]
    same_status_class: bool
    same_title: bool
    length_ratio: float  # shorter / longer body, 1.0 for two empty bodies
    similarity: float
    new_headers: tuple[str, ...]  # uncommon header names only the probe's response carried

    @property
    def differs(self) -> bool:
        """Different enough to be another page, not another rendering of the same one."""
        if not self.same_status_class:
            return self.similarity < SIMILAR
        return not self.same_title and self.similarity < SIMILAR

    def describe(self) -> str:
        parts = [
            f"status {self.status[0]} vs the control's {self.status[1]}",
            "same title" if self.same_title else "different title",
            f"content similarity {self.similarity:.2f}",
            f"length ratio {self.length_ratio:.2f}",
        ]
        if self.new_headers:
            parts.append("headers the control did not get: " + ", ".join(self.new_headers))
        return "; ".join(parts)


def compare(probe: HTTPResponse, control: HTTPResponse) -> Comparison:
    """Compare two responses to the same request by what both sides recorded."""
    longer = max(probe.body_length, control.body_length)
    theirs = {name.lower() for name, _ in control.headers}
    new = sorted(
        {n.lower() for n, _ in probe.headers} - theirs - COMMON_HEADERS,
    )
    return Comparison(
        status=(probe.status, control.status),
        same_status_class=probe.status // 100 == control.status // 100,
        same_title=_norm(probe.title) == _norm(control.title),
        length_ratio=min(probe.body_length, control.body_length) / longer if longer else 1.0,
        similarity=similarity(probe.body_prefix, control.body_prefix),
        new_headers=tuple(new),
    )
