"""The control's side of a measurement: what the control saw, in the shape of the answer of OONI's
test helper, and the keys that compare our final response with the control's
(``status_code_match``, ``body_proportion``, ``title_match``, ``headers_match``,
``body_length_match``), computed by Web Connectivity's rules.

These keys are for readers of OONI data only: our verdict does its own comparison and is exported
as it is, never recomputed from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from censorcheck.models import Control, HTTPResponse, QUICHandshake, TLSHandshake
from censorcheck.results.ooni.templates import (
    addresses,
    final_response,
    first_headers,
    lookup_failure,
)
from censorcheck.results.ooni.vocabulary import endpoint, ooni_failure

# Headers most servers send whatever the page: sharing them says nothing about being the same
# site (the list Web Connectivity ignores when it compares headers).
_COMMON_HEADERS = frozenset(
    {
        "date", "content-type", "server", "cache-control", "vary", "set-cookie", "location",
        "expires", "x-powered-by", "content-encoding", "last-modified", "accept-ranges",
        "pragma", "x-frame-options", "etag", "x-content-type-options", "age", "via", "p3p",
        "x-xss-protection", "content-language", "cf-ray", "strict-transport-security", "link",
        "x-varnish",
    }
)  # fmt: skip


def _handshakes(seen: Iterable[TLSHandshake | QUICHandshake]) -> dict[str, Any]:
    return {
        endpoint(h.address, h.port): {
            "server_name": h.sni,
            "status": h.failure is None,
            "failure": ooni_failure(h.failure),
        }
        for h in seen
    }


def control_answer(control: Control, domain: str) -> dict[str, Any]:
    """The control in the shape of OONI's test helper answer, whoever made it (our server, an
    OONI helper, a control vantage, or the control resolvers, which fill ``dns`` alone); {}
    when the control observed nothing (``control_failure`` says why)."""
    quic = [f.handshake for f in control.quic if f.handshake is not None]
    if not (control.dns or control.tcp or control.tls or control.http or quic):
        return {}
    out: dict[str, Any] = {
        "tcp_connect": {
            endpoint(t.address, t.port): {
                "status": t.failure is None,
                "failure": ooni_failure(t.failure),
            }
            for t in control.tcp
            if t.skipped is None
        },
        "tls_handshake": _handshakes(control.tls),
        "quic_handshake": _handshakes(quic),
    }
    queries = [q for q in control.dns if q.hostname == domain]
    if queries:
        out["dns"] = {"failure": lookup_failure(queries), "addrs": addresses(queries)}
    if control.http is not None:
        final = final_response(control.http)
        out["http_request"] = {
            # OONI's helper says -1 for a length and a status it did not get.
            "body_length": final.body_length if final is not None else -1,
            "failure": ooni_failure(control.http.failure),
            "title": (final.title or "") if final is not None else "",
            "headers": first_headers(final.headers) if final is not None else {},
            "status_code": final.status if final is not None else -1,
        }
    return out


def status_code_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    if probe.status == control.status:
        return True
    # A control that got an error page cannot say the probe's other answer is wrong.
    return False if control.status // 100 == 2 else None


def body_proportion(probe: HTTPResponse, control: HTTPResponse) -> float | None:
    if probe.body_truncated or control.body_truncated:
        return None  # a length cut by a read limit is not the page's length
    if probe.body_length <= 0 or control.body_length <= 0:
        return None
    low, high = sorted((probe.body_length, control.body_length))
    return low / high


def title_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    if not probe.title or not control.title:
        return None

    def words(title: str) -> set[str]:
        # Short words (articles, "home", "news") are shared by too many unrelated pages.
        return {w.lower() for w in title.split() if len(w) >= 5}

    return words(probe.title) == words(control.title)


def headers_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    ours = {name.lower() for name, _ in probe.headers}
    theirs = {name.lower() for name, _ in control.headers}
    if not ours or not theirs:
        return None
    if ours == theirs:
        return True
    return bool((ours & theirs) - _COMMON_HEADERS)


def match_keys(probe: HTTPResponse | None, control: HTTPResponse | None) -> dict[str, Any]:
    """The comparison keys of ``test_keys``, all null unless both final responses exist."""
    compared: dict[str, Any] = dict.fromkeys(
        ("body_proportion", "status_code_match", "title_match", "headers_match")
    )
    if probe is not None and control is not None:
        compared = {
            "body_proportion": body_proportion(probe, control),
            "status_code_match": status_code_match(probe, control),
            "title_match": title_match(probe, control),
            "headers_match": headers_match(probe, control),
        }
    proportion = compared["body_proportion"]
    compared["body_length_match"] = None if proportion is None else proportion > 0.7
    return compared
