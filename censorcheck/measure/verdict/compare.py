"""How alike two fetches of one page are: the probe's and the control server's.

OONI compares body lengths (a ratio under 0.7 counts as different), which alone calls a page with
a long rotating news block blocked. Here a page is compared first by the *shape* of its start:
the sequence of tags and words in the bounded prefix both sides keep, as overlapping pairs of
tokens (2-shingles), by Jaccard index.
A nonce, a timestamp or a rotating teaser changes a few shingles of hundreds; a blockpage shares
almost none with the site. Script and style contents are left out: an inline blob of random
data would otherwise be hundreds of random "words". Title, status class, body lengths and
uncommon headers are recorded beside it.

A page counts as *another page* only when every sign agrees: dissimilar content, a different
title (digits aside: clocks and counters) or status class, and a length unlike the control's. A
page in another language keeps the site's length, so it is only *unlike*: evidence worth keeping,
not a claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from censorcheck.models import HTTPResponse

# Tags by name, then words; attribute values and digits vary between fetches, names rarely.
_TOKEN = re.compile(r"<\s*(/?[a-zA-Z][a-zA-Z0-9-]*)|([^\W\d_]{2,})")
# What a page carries that is not its text: scripts, styles and comments, whose contents are
# code, data or nonces (up to the end of the kept prefix when it cut one short).
_NOT_TEXT = re.compile(
    r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)|<!--.*?(?:-->|$)", re.IGNORECASE | re.DOTALL
)
SHINGLE = 2
# Below this the starts of two pages have little in common. Two fetches of the lab's dynamic page
# score 0.74-0.86; a blockpage against a site scores under 0.15.
SIMILAR = 0.6
# Shorter body over longer (OONI's threshold): a blockpage is rarely near the size of a site's page,
# while the site's own variants (a language, a rotating block) are.
ALIKE_LENGTH = 0.7

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
    """Overlapping runs of ``SHINGLE`` tokens (tag names and words, lower-cased), scripts,
    styles and comments left out."""
    tokens = [(tag or word).lower() for tag, word in _TOKEN.findall(_NOT_TEXT.sub(" ", text))]
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
    """A title without case, spacing or digits: a clock or a counter in it is not another page."""
    return " ".join(re.sub(r"\d+", " ", title or "").lower().split())


@dataclass(frozen=True)
class Comparison:
    """What differs between the probe's page and the control's."""

    status: tuple[int, int]
    same_status_class: bool
    same_title: bool
    length_ratio: float  # shorter / longer body, 1.0 for two empty bodies
    similarity: float | None  # None: a side kept no body to compare (empty, or keep_body 0)
    new_headers: tuple[str, ...]  # uncommon header names only the probe's response carried

    @property
    def unlike(self) -> bool:
        """Not shown to be the same page: another title or status class, and content that is
        dissimilar or could not be compared. Never a claim on its own."""
        if self.same_status_class and self.same_title:
            return False
        return self.similarity is None or self.similarity < SIMILAR

    @property
    def differs(self) -> bool:
        """Another page beyond reasonable doubt: unlike, with content compared and found
        dissimilar, and a length unlike the control's."""
        return self.unlike and self.similarity is not None and self.length_ratio < ALIKE_LENGTH

    def describe(self) -> str:
        parts = [
            f"status {self.status[0]} vs the control's {self.status[1]}",
            "same title" if self.same_title else "different title",
            "content not compared (a body was empty or not kept)"
            if self.similarity is None
            else f"content similarity {self.similarity:.2f}",
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
        similarity=_content_similarity(probe, control),
        new_headers=tuple(new),
    )


def _content_similarity(probe: HTTPResponse, control: HTTPResponse) -> float | None:
    """How alike the kept bodies are; None when one side has nothing to compare (an empty body
    says nothing about which page it was, and ``keep_body`` 0 keeps none)."""
    if probe.body_length == 0 and control.body_length == 0:
        return 1.0
    if not probe.body_prefix or not control.body_prefix:
        return None
    return similarity(probe.body_prefix, control.body_prefix)


# Headers most servers send, whatever they run; a header outside this list that both pages
# carry (a CDN's x-served-by, a framework's own) says they came from the same infrastructure.
_COMMON_HEADERS = frozenset({
    "accept-ranges", "age", "alt-svc", "cache-control", "connection", "content-encoding",
    "content-language", "content-length", "content-security-policy", "content-type", "date",
    "etag", "expires", "keep-alive", "last-modified", "link", "location", "p3p", "pragma",
    "referrer-policy", "server", "set-cookie", "strict-transport-security", "transfer-encoding",
    "vary", "via", "x-content-type-options", "x-frame-options", "x-powered-by",
    "x-xss-protection",
})  # fmt: skip


def _shared_uncommon_headers(ours: HTTPResponse, theirs: HTTPResponse) -> list[str]:
    names = {name.lower() for name, _ in ours.headers}
    return sorted(names & {name.lower() for name, _ in theirs.headers} - _COMMON_HEADERS)


def not_a_notice(ours: HTTPResponse, theirs: HTTPResponse) -> str | None:
    """Why a page unlike the control's still cannot be a censor's notice put in its place, or
    None. A notice is short: a page longer than the site's is the site's own (an edition, the
    page a datacenter control did not get past a challenge for). And a page carrying the site's
    own uncommon headers came from the site's servers."""
    if ours.body_length >= theirs.body_length:
        return "it is not shorter than the control's page, as a notice put in its place would be"
    shared = _shared_uncommon_headers(ours, theirs)
    if shared:
        return f"it carries the site's own headers ({', '.join(shared)})"
    return None
