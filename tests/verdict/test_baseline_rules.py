"""The rules that weigh a result against its run (measure/verdict/baseline.py), one row per rule
and per trap: a throttled page against the control and the vantage's usual speed, and QUIC on a
network that drops all of it. Pure data: each row's result is judged by the target's own rules
first, then settled against the row's baseline, as a run does."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from censorcheck.measure.verdict import Observations, judge, judge_quic
from censorcheck.measure.verdict.baseline import (
    BASELINE_MIN_BYTES,
    Settling,
    accumulate,
    apply,
    settle,
)
from censorcheck.models import (
    Baseline,
    Control,
    HTTPFetch,
    HTTPHop,
    QUICFetch,
    QUICHandshake,
    Result,
    Target,
    TCPConnect,
    TLSHandshake,
    Transfer,
)
from tests.verdict.builders import HTTP_URL, SITE, SITE_PAGE, body, control, hs, q, server
from tests.verdict.cases_transfer import CONTROL_READ_ALL, FROZE_TWICE

URL = "https://site.example/"
KiB = 1024


def _transfer(got: int, seconds: float, cut: bool) -> Transfer:
    return Transfer(ttfb=0.1, sample_bytes=got, sample_seconds=seconds,
                    throughput=round(got / seconds, 1), points=[(seconds, got)],
                    complete=not cut, cut_after_bytes=got if cut else None,
                    silence_seconds=0.05 if cut else None)  # fmt: skip


def _fetch(got: int, seconds: float, cut: bool, url: str = URL) -> HTTPFetch:
    """A page whose body came at ``got / seconds``; ``cut``: still arriving at the timeout."""
    response = body(SITE_PAGE).model_copy(
        update={"body_length": got, "transfer": _transfer(got, seconds, cut)}
    )
    failure = "http.timeout" if cut else None
    hop = HTTPHop(url=url, address=SITE, response=response, failure=failure)
    return HTTPFetch(hops=[hop], failure=failure)


# The throttled page: 64 KiB/s, still trickling when the 3 s read gave up.
TRICKLE = _fetch(192 * KiB, 2.95, cut=True)
# A control server that read the first 512 KiB of the same URL in a twentieth of a second.
FAST_CONTROL = server(http=_fetch(512 * KiB, 0.05, cut=False))
SLOW_CONTROL = server(http=_fetch(300 * KiB, 4.0, cut=False))
# The vantage's usual speed: 5 MB/s over 12 pages.
USUAL = Baseline(vantage="home", throughput=5e6, throughput_samples=12)


@dataclass
class Row:
    id: str
    expect: tuple[str, str | None, str]
    http: HTTPFetch | None = field(default_factory=lambda: TRICKLE)
    control: Control = field(default_factory=lambda: FAST_CONTROL)
    baseline: Baseline | None = field(default_factory=lambda: USUAL)
    url: str = URL
    tls: list[TLSHandshake] = field(default_factory=lambda: [hs()])
    quic: list[QUICFetch] = field(default_factory=list)
    expect_quic: tuple[str, str | None, str] | None = None
    cites: tuple[str, ...] = ()


def result_of(
    http: HTTPFetch | None,
    ctl: Control,
    url: str = URL,
    tls: list[TLSHandshake] | None = None,
    quic: list[QUICFetch] | None = None,
    vantage: str = "home",
) -> Result:
    """A result as the run judged it, target by target."""
    port = 443 if url.startswith("https://") else 80
    obs = Observations(target=Target(url=url, domain="site.example"), dns=[q([SITE])],
                       tcp=[TCPConnect(address=SITE, port=port)],
                       tls=[hs()] if tls is None else tls, http=http, control=ctl,
                       quic=quic or [])  # fmt: skip
    return Result(vantage=vantage, started_at="2026-12-06T00:00:00.000Z", t=3.0,
                  verdict=judge(obs), quic_verdict=judge_quic(obs), **obs.fields())  # fmt: skip


def _quic(failure: str | None, address: str = SITE, page: bool = False) -> QUICFetch:
    twin = (
        None
        if failure is None
        else QUICHandshake(address=address, port=443, sni="example.org", failure=failure)
    )
    hand = QUICHandshake(address=address, port=443, sni="site.example", failure=failure,
                         trusted=True if failure is None else None, neutral=twin)  # fmt: skip
    response = body(SITE_PAGE) if page else None
    return QUICFetch(address=address, port=443, handshake=hand, failure=failure,
                     response=response)  # fmt: skip


QUIC_TIMEOUT = [_quic("quic.timeout")]
SERVER_LOADED_H3 = FAST_CONTROL.model_copy(update={"quic": [_quic(None, page=True)]})
# No handshake got through at 9 of 10 addresses over 6 targets, 4 the control reached over QUIC.
NO_QUIC_HERE = USUAL.model_copy(update={"quic_targets": 6, "quic_addresses": 10,
                                        "quic_answered": 1, "quic_control_loaded": 4})  # fmt: skip
QUIC_WORKS_HERE = NO_QUIC_HERE.model_copy(update={"quic_answered": 5})
# The host's name unanswered where a neutral name completed: the address speaks QUIC.
_NEUTRAL_OK = QUICHandshake(address=SITE, port=443, sni="example.org")
SNI_NAMED = [
    QUICFetch(address=SITE, port=443, failure="quic.timeout",
              handshake=QUICHandshake(address=SITE, port=443, sni="site.example",
                                      failure="quic.timeout", neutral=_NEUTRAL_OK))
]  # fmt: skip

ROWS = [
    Row("server: the body trickled at 64 KiB/s until the timeout, the control read it 150 "
        "times as fast, and this vantage's pages come at 5 MB/s",
        ("blocked", "tls", "tls.throttled"),
        cites=("/http/hops/0/response/transfer", "/control/http/hops/0/response/transfer",
               "/http/hops/0/response/transfer/throughput")),
    Row("server: the same over plain HTTP", ("blocked", "http", "http.throttled"),
        http=_fetch(192 * KiB, 2.95, cut=True, url=HTTP_URL), url=HTTP_URL, tls=[],
        control=server(tls=[], http=_fetch(512 * KiB, 0.05, cut=False, url=HTTP_URL))),
    Row("server: the page loaded, but at 75 kB/s over 4 s, against 10 MB/s for the control "
        "and 5 MB/s usually", ("blocked", "tls", "tls.throttled"),
        http=_fetch(300 * KiB, 4.0, cut=False)),
    Row("resolvers only: trickling at a seventieth of the vantage's usual speed, no control "
        "read", ("inconclusive", None, "tls.throttled"), control=control(SITE),
        cites=("/http/hops/0/response/transfer",)),
    Row("server: far slower than the control, but only 2 pages make the vantage's speed",
        ("inconclusive", None, "tls.throttled"),
        baseline=USUAL.model_copy(update={"throughput_samples": 2})),
    Row("server: far slower than the control, and no page of the run timed a usual speed",
        ("inconclusive", None, "tls.throttled"), baseline=Baseline(vantage="home")),
    # Traps: none of these is throttling.
    Row("server: the control read the whole page about as slowly: a site slow for everyone",
        ("inconclusive", None, "http.timeout"), control=SLOW_CONTROL),
    Row("server: the control's read trickled until its timeout too: the existing rule's down",
        ("down", None, "http.timeout"), control=server(http=_fetch(200 * KiB, 2.9, cut=True))),
    Row("server: the page loaded slowly for the control too: accessible",
        ("accessible", None, "accessible"), http=_fetch(300 * KiB, 2.0, cut=False),
        control=server(http=_fetch(300 * KiB, 1.8, cut=False))),
    Row("resolvers only: a page that loaded slowly loaded", ("accessible", None, "accessible"),
        http=_fetch(300 * KiB, 2.0, cut=False), control=control(SITE)),
    Row("server: this vantage is slow for every site (100 kB/s): a home line, not a censor",
        ("inconclusive", None, "http.timeout"),
        baseline=USUAL.model_copy(update={"throughput": 1e5})),
    Row("server: the control nine times as fast only: not far enough below it",
        ("inconclusive", None, "http.timeout"),
        control=server(http=_fetch(512 * KiB, 512 / 192 * 2.95 / 9, cut=False))),
    Row("server: a small page that came in 0.4 s is timed by the round trip, not a rate",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.4, cut=False)),
    Row("server: a body that froze twice is the freeze rule's", ("blocked", "tls",
        "tls.stall_after_bytes"), http=FROZE_TWICE, control=CONTROL_READ_ALL),
    Row("server: no run-level baseline at all (an old document)",
        ("inconclusive", None, "http.timeout"), baseline=None),
    # QUIC on a network that drops it everywhere.
    Row("QUIC unanswered here while the control server loaded HTTP/3, on a network where "
        "9 of 10 QUIC addresses failed: not this site's doing",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        control=SERVER_LOADED_H3, baseline=NO_QUIC_HERE, quic=QUIC_TIMEOUT,
        expect_quic=("inconclusive", None, "quic.timeout"), cites=("/quic",)),
    Row("the same where QUIC got through at half the run's addresses: blocked for this site",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        control=SERVER_LOADED_H3, baseline=QUIC_WORKS_HERE, quic=QUIC_TIMEOUT,
        expect_quic=("blocked", "quic", "quic.timeout")),
    Row("QUIC failed at every address, but over one target only: no network-wide fact",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        control=SERVER_LOADED_H3, quic=QUIC_TIMEOUT,
        baseline=NO_QUIC_HERE.model_copy(update={"quic_targets": 1, "quic_addresses": 2}),
        expect_quic=("blocked", "quic", "quic.timeout")),
    Row("QUIC failed everywhere, but at no site the control reached over QUIC: left alone",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        control=server(), quic=QUIC_TIMEOUT,
        baseline=NO_QUIC_HERE.model_copy(update={"quic_control_loaded": 0}),
        expect_quic=("inconclusive", None, "quic.timeout")),
    Row("a neutral name got through where the host's did not: the name is what fails",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        baseline=NO_QUIC_HERE, quic=SNI_NAMED,
        expect_quic=("blocked", "quic", "quic.sni_blocking")),
    Row("the control's QUIC failed too: down, whatever the network does",
        ("accessible", None, "accessible"), http=_fetch(24 * KiB, 0.01, cut=False),
        control=FAST_CONTROL.model_copy(update={"quic": [_quic("quic.timeout")]}),
        baseline=NO_QUIC_HERE, quic=QUIC_TIMEOUT, expect_quic=("down", None, "quic.timeout")),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_baseline_rule(row: Row) -> None:
    judged = result_of(row.http, row.control, row.url, row.tls, row.quic)
    settled = apply(judged, row.baseline)
    v = settled.verdict
    assert (v.status, v.blocking, v.outcome) == row.expect, v.reason
    assert v.reason.endswith(".")
    refs = {e.ref for e in v.evidence}
    if settled.quic_verdict is not None:
        refs |= {e.ref for e in settled.quic_verdict.evidence}
    assert set(row.cites) <= refs, f"evidence cites {sorted(refs)}"
    got_quic = settled.quic_verdict
    seen = None if got_quic is None else (got_quic.status, got_quic.blocking, got_quic.outcome)
    assert seen == row.expect_quic, got_quic and got_quic.reason
    if v.outcome.endswith(".throttled"):
        # Every such claim carries its numbers: a rate, and how many times slower.
        assert "/s" in v.reason and any("times" in e.fact for e in v.evidence)
    if v.status == "blocked":
        assert v.confidence >= 0.7


def test_nothing_changes_without_cause() -> None:
    """A result the baseline does not touch is handed back as it was, the very object."""
    loaded = result_of(_fetch(24 * KiB, 0.01, cut=False), FAST_CONTROL)
    assert apply(loaded, USUAL) is loaded
    assert apply(loaded, None) is loaded


def test_accumulate_takes_the_upper_quartile_of_big_accessible_pages_per_vantage() -> None:
    big = [result_of(_fetch(512 * KiB, s, cut=False), FAST_CONTROL) for s in (0.5, 0.1, 0.25)]
    small = result_of(_fetch(BASELINE_MIN_BYTES - 1, 0.001, cut=False), FAST_CONTROL)
    trickled = result_of(TRICKLE, FAST_CONTROL)
    elsewhere = result_of(_fetch(512 * KiB, 1.0, cut=False), FAST_CONTROL, vantage="office")
    home, office = accumulate([*big, small, trickled, elsewhere])
    assert (home.vantage, home.throughput_samples) == ("home", 3)
    # Three quarters of the way from the slowest to the fastest rank: between the middle page
    # and the fastest.
    middle, fastest = 512 * KiB / 0.25, 512 * KiB / 0.1
    assert home.throughput == round(middle + (fastest - middle) / 2, 1)
    assert (office.vantage, office.throughput_samples) == ("office", 1)


def test_sites_slow_for_everyone_do_not_make_the_line_look_slow() -> None:
    """Half the big pages slow for everyone (as the lab's slow rows), half fast: the vantage's
    figure is what the line carried, so a throttled page still stands out tenfold."""
    pages = [result_of(_fetch(512 * KiB, s, cut=False), FAST_CONTROL) for s in (4, 4, 0.4, 0.4)]
    (home,) = accumulate(pages)
    assert home.throughput == round(512 * KiB / 0.4, 1)


def test_accumulate_counts_where_quic_got_through() -> None:
    tried = [
        result_of(None, SERVER_LOADED_H3, quic=QUIC_TIMEOUT),
        result_of(None, control(SITE), quic=[_quic("quic.timeout"), _quic("quic.refused")]),
        result_of(None, control(SITE), quic=SNI_NAMED),  # the neutral name answered
        result_of(None, control(SITE)),  # QUIC not tried
    ]
    (b,) = accumulate(tried)
    assert (b.quic_targets, b.quic_addresses, b.quic_answered, b.quic_control_loaded) == (
        3, 4, 1, 1,
    )  # fmt: skip


def test_a_whole_run_settles_a_throttled_page_among_fast_ones() -> None:
    """Both steps as a run calls them: four pages at the vantage's usual speed make its
    baseline, and the one that trickled is throttled against it and the control."""
    usual = [result_of(_fetch(512 * KiB, 0.1, cut=False), FAST_CONTROL) for _ in range(4)]
    slow = result_of(TRICKLE, FAST_CONTROL)
    assert slow.verdict.outcome == "http.timeout"
    settled, (baseline,) = settle([*usual, slow])
    assert baseline.throughput_samples == 4
    assert settled[:4] == usual
    assert (settled[4].verdict.status, settled[4].verdict.outcome) == ("blocked", "tls.throttled")


def test_a_journal_record_adds_what_its_result_adds() -> None:
    """The run's baselines are accumulated from the journal's records, reading only what the
    baseline needs of each: the figures must be those of the whole results, for big pages and
    small, cut and whole, QUIC answered or not, at the probe and the control, per vantage."""
    results = [
        *(result_of(_fetch(512 * KiB, s, cut=False), FAST_CONTROL) for s in (0.1, 0.25, 4)),
        result_of(TRICKLE, FAST_CONTROL),
        result_of(_fetch(16 * KiB, 0.1, cut=False), FAST_CONTROL),
        result_of(_fetch(512 * KiB, 0.5, cut=False), FAST_CONTROL, vantage="office"),
        result_of(None, SERVER_LOADED_H3, quic=QUIC_TIMEOUT),
        result_of(None, control(SITE), quic=[_quic("quic.timeout"), _quic(None, page=True)]),
        result_of(None, control(SITE), quic=SNI_NAMED, vantage="office"),
        result_of(None, control(SITE)),
    ]
    from_results, from_records = Settling(), Settling()
    for r in results:
        from_results.accumulate(r)
        from_records.accumulate_record(r.model_dump_json().encode() + b"\n")
    assert from_records.baselines == from_results.baselines
    home, office = from_records.baselines
    assert (home.throughput_samples, home.quic_targets, home.quic_control_loaded) == (3, 2, 1)
    assert (office.throughput_samples, office.quic_answered) == (1, 1)
