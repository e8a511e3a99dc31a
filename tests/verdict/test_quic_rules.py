"""The QUIC verdict, one row per rule and per trap. Pure data, like the main verdict's table."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from censorcheck.measure.verdict import Observations, judge_quic
from censorcheck.models import Control, HTTPResponse, QUICFetch, QUICHandshake, Target, TLSHandshake
from tests.verdict.builders import SITE, control, hs, server

EDGE2 = "93.184.215.15"
PAGE = HTTPResponse(status=200, headers=[], body_length=900, body_sha256="00", protocol="HTTP/3")


def _quic(address: str = SITE, failure: str | None = None, neutral: str | None = "",
          page: bool = False, get_failure: str | None = None) -> QUICFetch:  # fmt: skip
    """``neutral``: None for no neutral handshake, "" for one that completed, else its failure."""
    twin = None
    if neutral is not None:
        twin = QUICHandshake(address=address, port=443, sni="example.org", failure=neutral or None)
    if failure is None:
        hand = QUICHandshake(address=address, port=443, sni="site.example", alpn="h3", trusted=True)
        return QUICFetch(address=address, port=443, handshake=hand,
                         response=PAGE if page else None, failure=get_failure)  # fmt: skip
    hand = QUICHandshake(address=address, port=443, sni="site.example", failure=failure,
                         neutral=twin)  # fmt: skip
    return QUICFetch(address=address, port=443, handshake=hand, failure=failure)


def _server_quic(*fetches: QUICFetch) -> Control:
    return server().model_copy(update={"quic": list(fetches)})


def _helper_hs(address: str = SITE, failure: str | None = None) -> QUICFetch:
    """A test helper's QUIC handshake as the OONI client records it: no page, and trusted only
    when it completed (the helper validates the chain)."""
    hand = QUICHandshake(address=address, port=443, sni="site.example", failure=failure,
                         trusted=True if failure is None else None)  # fmt: skip
    return QUICFetch(address=address, port=443, handshake=hand, failure=failure)


def _helper(*fetches: QUICFetch, resolved: tuple[str, ...] = (SITE,)) -> Control:
    found = control(*resolved)
    return found.model_copy(update={"source": "ooni", "quic": list(fetches)})


@dataclass
class Row:
    id: str
    expect: tuple[str, str | None, str] | None
    quic: list[QUICFetch]
    control: Control = field(default_factory=lambda: control(SITE))
    tls: list[TLSHandshake] = field(default_factory=lambda: [hs()])
    cites: tuple[str, ...] = ()


TIMEOUT = _quic(failure="quic.timeout", neutral="quic.timeout")
ROWS = [
    Row("the page loaded over HTTP/3", ("accessible", None, "accessible"),
        [_quic(page=True)], cites=("/quic/0",)),
    Row("one address loads over HTTP/3 though the other times out", ("accessible", None,
        "accessible"), [TIMEOUT, _quic(EDGE2, page=True)]),
    Row("the host's name times out where a neutral name completes, and TLS validated the host "
        "there", ("blocked", "quic", "quic.sni_blocking"), [_quic(failure="quic.timeout")],
        cites=("/quic/0", "/quic/0/handshake/neutral", "/tls/0")),
    Row("the same, with the host's certificate shown only behind TLS's neutral name",
        ("blocked", "quic", "quic.sni_blocking"), [_quic(failure="quic.timeout")],
        tls=[hs(failure="tls.reset", neutral=hs(sni="example.org"))]),
    # Traps.
    Row("a neutral name completes, but nothing over TCP showed the address is the site's: an "
        "SNI router whose backend for the host may be down", ("inconclusive", None,
        "quic.timeout"), [_quic(failure="quic.timeout")], tls=[hs(failure="tls.timeout")]),
    Row("every handshake unanswered, the control server loaded HTTP/3: UDP is dropped here",
        ("blocked", "quic", "quic.timeout"), [TIMEOUT], control=_server_quic(_quic(page=True)),
        cites=("/quic/0", "/control/quic/0")),
    Row("every handshake unanswered and the control server's too: a stale advertisement",
        ("down", None, "quic.timeout"), [TIMEOUT], control=_server_quic(TIMEOUT)),
    Row("every handshake unanswered, and only control resolvers: nothing to compare with",
        ("inconclusive", None, "quic.timeout"), [TIMEOUT]),
    Row("a refused UDP port here, HTTP/3 for the control server: a refusal is not a drop",
        ("inconclusive", None, "quic.refused"),
        [_quic(failure="quic.refused", neutral="quic.refused")],
        control=_server_quic(_quic(page=True))),
    Row("a certificate failure fails any name the site does not hold: not the name's fault",
        ("inconclusive", None, "quic.invalid_certificate"),
        [_quic(failure="quic.invalid_certificate")]),
    Row("the handshake worked and the HTTP/3 request failed, the control loaded it",
        ("inconclusive", None, "quic.error"), [_quic(get_failure="quic.error")],
        control=_server_quic(_quic(page=True))),
    # An OONI test helper: handshakes only, each at an address and port (rules 6).
    Row("every handshake unanswered here, the helper's naming the host completed at the same "
        "address: QUIC to the site is dropped here", ("blocked", "quic", "quic.timeout"),
        [TIMEOUT], control=_helper(_helper_hs()), cites=("/quic/0", "/control/quic/0")),
    Row("the helper completed only at another address: that one's QUIC may work and this one's "
        "not", ("inconclusive", None, "quic.timeout"), [TIMEOUT],
        control=_helper(_helper_hs(EDGE2), resolved=(SITE, EDGE2)), cites=("/control/quic/0",)),
    Row("the host's name times out where a neutral name completes; nothing over TCP vouches, "
        "but the helper's validated handshake at that address does",
        ("blocked", "quic", "quic.sni_blocking"), [_quic(failure="quic.timeout")],
        control=_helper(_helper_hs()), tls=[hs(failure="tls.timeout")],
        cites=("/quic/0/handshake/neutral", "/control/quic/0")),
    Row("a neutral name completes here, the host's times out, and the control server loaded "
        "HTTP/3 elsewhere: not every handshake was silent, and nothing vouches for the address",
        ("inconclusive", None, "quic.timeout"), [_quic(failure="quic.timeout")],
        control=_server_quic(_quic(EDGE2, page=True)), tls=[hs(failure="tls.timeout")]),
    Row("a refusal here, the helper's handshake completed there: a refusal is not a drop",
        ("inconclusive", None, "quic.refused"),
        [_quic(failure="quic.refused", neutral="quic.refused")], control=_helper(_helper_hs())),
    Row("every handshake failed here and the helper's failed at the site's address too",
        ("down", None, "quic.timeout"), [TIMEOUT],
        control=_helper(_helper_hs(failure="quic.timeout")), cites=("/control/quic/0",)),
    Row("the helper failed only at the probe's address, which its own lookup never gave",
        ("inconclusive", None, "quic.timeout"), [TIMEOUT],
        control=_helper(_helper_hs(failure="quic.timeout"), resolved=(EDGE2,)),
        cites=("/control/quic/0",)),
    Row("a helper that tried no QUIC (none advertised to it, or QUIC off)",
        ("inconclusive", None, "quic.timeout"), [TIMEOUT], control=_helper()),
    Row("QUIC not tried, or nothing sent (a proxy)", None,
        [QUICFetch(address=SITE, port=443, skipped="a proxy cannot carry QUIC")]),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_quic_rule(row: Row) -> None:
    obs = Observations(
        target=Target(url="https://site.example/", domain="site.example"),
        tls=row.tls,
        control=row.control,
        quic=row.quic,
    )
    verdict = judge_quic(obs)
    if row.expect is None:
        assert verdict is None
        return
    assert verdict is not None
    assert (verdict.status, verdict.blocking, verdict.outcome) == row.expect, verdict.reason
    assert verdict.reason.endswith(".")
    assert set(row.cites) <= {e.ref for e in verdict.evidence}
