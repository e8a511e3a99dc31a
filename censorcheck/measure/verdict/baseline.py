"""Rules that weigh one target against the rest of the run: throttling, and networks without QUIC.

A target's own observations cannot tell a throttled site from a slow line, nor a site whose QUIC
is blocked from a network that drops all QUIC. The run can: after every target is measured,
:func:`accumulate` reduces the run's results to one small :class:`Baseline` per vantage (its
usual speed, and how many of its QUIC handshakes got anywhere), recorded in the run document, and
:func:`apply` then settles each result against its vantage's baseline. Both are pure; the two
steps stream, so a document assembled from a journal can call them in two passes.

Throttling (``tls.throttled`` over https, ``http.throttled`` over plain HTTP) is claimed only
when the page's body arrived at a tenth or less of both references: the control's throughput for
the same URL (a datacenter is always faster than a home line, so it alone proves nothing) and
this vantage's upper quartile over the run's other big fetches (a slow line is slow for every
site, so that alone proves nothing either). Only a sample that flowed for a second or more is
weighed: shorter ones measure the round trip and TCP's slow start more than any rate. With one
reference missing it is inconclusive with the numbers; a timed-out page is never made
accessible here.

QUIC: where handshakes failed at (nearly) every address tried in the run, at sites the control
reached over QUIC too, the network drops QUIC (a company firewall, a country-wide UDP/443 ban),
and blaming each site for it is wrong: its QUIC verdict becomes inconclusive, stating the counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from censorcheck.measure.verdict.facts import cite
from censorcheck.measure.verdict.transfer import froze
from censorcheck.models import (
    Baseline,
    HTTPHop,
    Layer,
    QUICFetch,
    Result,
    Run,
    Transfer,
    Verdict,
)

# A body counts towards the vantage's usual speed from this size on (a smaller one is timed
# mostly by the round trip).
BASELINE_MIN_BYTES = 64 * 1024
# Fewer fetches than this make no baseline: one odd site must not set the vantage's speed.
BASELINE_MIN_SAMPLES = 3
# A target's body must have flowed for this long to be weighed.
MIN_SECONDS = 1.0
# How many times slower than each reference a body must be to look throttled.
THROTTLE_RATIO = 10.0
# QUIC is taken as dropped by the network when at most this share of the addresses tried
# answered any handshake, over at least QUIC_MIN_TARGETS targets.
QUIC_ANSWERED_SHARE = 0.1
QUIC_MIN_TARGETS = 2


@dataclass
class _Tally:
    """One vantage's running figures while the results stream past."""

    rates: list[float] = field(default_factory=list)
    quic_targets: int = 0
    quic_addresses: int = 0
    quic_answered: int = 0
    quic_control_loaded: int = 0

    def add(self, result: Result | _Seen) -> None:
        rate = _baseline_rate(result)
        if rate is not None:
            self.rates.append(rate)
        tried = _quic_tried(result.quic)
        if tried:
            self.quic_targets += 1
            self.quic_addresses += len(tried)
            answered = sum(_answered(q) for q in tried)
            self.quic_answered += answered
            if not answered and any(_answered(c) for c in _quic_tried(result.control.quic)):
                self.quic_control_loaded += 1

    def baseline(self, vantage: str | None) -> Baseline:
        return Baseline(
            vantage=vantage,
            throughput=_upper_quartile(self.rates),
            throughput_samples=len(self.rates),
            quic_targets=self.quic_targets,
            quic_addresses=self.quic_addresses,
            quic_answered=self.quic_answered,
            quic_control_loaded=self.quic_control_loaded,
        )


def accumulate(results: Iterable[Result]) -> list[Baseline]:
    """One baseline per vantage, in the order the vantages first appear. Holds one number per
    big accessible fetch and a few counters: nothing of the results themselves."""
    settling = Settling()
    for result in results:
        settling.accumulate(result)
    return settling.baselines


class Settling:
    """Both steps over a run streamed twice, as the run document is written from its journal
    (``results.document.Finisher``): every result seen, then the head given the baselines, then
    each result settled on its way into the document."""

    def __init__(self) -> None:
        self._tallies: dict[str | None, _Tally] = {}
        self._baselines: list[Baseline] | None = None

    def accumulate(self, result: Result) -> None:
        """See one result as it was judged target by target (first pass)."""
        self._tallies.setdefault(result.vantage, _Tally()).add(result)

    def accumulate_record(self, record: bytes) -> None:
        """``accumulate`` for a result still in its journal record (its JSON).

        Only what the baseline reads is made into objects: validating the whole result costs
        about three times as much, and every record was validated as a whole when it was
        written (or read back for a resume), and is again when the document is written."""
        seen = _Seen.model_validate_json(record)
        self._tallies.setdefault(seen.vantage, _Tally()).add(seen)

    @property
    def baselines(self) -> list[Baseline]:
        """One per vantage, from every result seen; fixed at the first call."""
        if self._baselines is None:
            self._baselines = [t.baseline(vantage) for vantage, t in self._tallies.items()]
        return self._baselines

    def head(self, run: Run) -> Run:
        """The document's head with the baselines."""
        return run.model_copy(update={"baselines": self.baselines})

    def finish(self, result: Result) -> Result:
        """``result`` settled against its vantage's baseline (second pass)."""
        return apply(result, baseline_of(self.baselines, result))


class _Part(BaseModel):
    # A part of a result's record, for the baseline: what it does not name is skipped. The
    # names and types are the Result's own, so the figures are the ones the Result gives.
    # Built when the first record is read (the run's end), not in every process that measures.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class _SeenVerdict(_Part):
    status: str


class _SeenResponse(_Part):
    transfer: Transfer | None = None


class _SeenHop(_Part):
    response: _SeenResponse | None = None


class _SeenHTTP(_Part):
    hops: list[_SeenHop] = Field(default_factory=list)
    failure: str | None = None


class _SeenControl(_Part):
    quic: list[QUICFetch] = Field(default_factory=list)


class _Seen(_Part):
    """What ``_Tally.add`` reads of a Result, read from its JSON record."""

    vantage: str | None = None
    http: _SeenHTTP | None = None
    control: _SeenControl
    quic: list[QUICFetch] = Field(default_factory=list)
    verdict: _SeenVerdict


def baseline_of(baselines: Iterable[Baseline], result: Result) -> Baseline | None:
    """The baseline of ``result``'s vantage."""
    return next((b for b in baselines if b.vantage == result.vantage), None)


def apply(result: Result, baseline: Baseline | None) -> Result:
    """``result`` settled against its vantage's baseline: the same object when nothing changes.

    Call it once per result, on results as judged target by target (not on a settled one)."""
    update: dict[str, Verdict] = {}
    if baseline is not None:
        if (verdict := throttled(result, baseline)) is not None:
            update["verdict"] = verdict
        if (quic := quic_everywhere(result, baseline)) is not None:
            update["quic_verdict"] = quic
    return result.model_copy(update=update) if update else result


def settle(results: Iterable[Result]) -> tuple[list[Result], list[Baseline]]:
    """Both steps over results held in memory: the settled results and the baselines."""
    kept = list(results)
    baselines = accumulate(kept)
    return [apply(r, baseline_of(baselines, r)) for r in kept], baselines


# --- throttling ----------------------------------------------------------------------------


def throttled(result: Result, baseline: Baseline) -> Verdict | None:
    """The verdict on a page whose body came slowly, or None to keep the target's own."""
    http, verdict = result.http, result.verdict
    if http is None or not http.hops:
        return None
    index = len(http.hops) - 1
    hop = http.hops[index]
    transfer = hop.response.transfer if hop.response is not None else None
    if transfer is None or transfer.throughput is None or froze(hop.response):
        return None
    if transfer.sample_seconds < MIN_SECONDS:
        return None
    cut = hop.failure == "http.timeout" and transfer.cut_after_bytes is not None
    timed_out = cut and verdict.status == "inconclusive" and verdict.outcome == hop.failure
    loaded = hop.failure is None and verdict.status == "accessible"
    if not (timed_out or loaded):
        return None
    rate = transfer.throughput
    layer: Layer = "tls" if hop.url.startswith("https://") else "http"
    ref = f"/http/hops/{index}/response/transfer"
    evidence = [cite(ref, f"{transfer.sample_bytes} bytes of body in "
                          f"{transfer.sample_seconds:.2f} s ({_rate(rate)})"
                          + (", still arriving when the read gave up" if cut else ""))]  # fmt: skip
    theirs = _control_rate(result, hop)
    by_control = theirs is not None and rate * THROTTLE_RATIO <= theirs[2]
    if theirs is not None:
        j, their_transfer, their_rate = theirs
        evidence.append(cite(f"/control/http/hops/{j}/response/transfer",
                             f"the control read {their_transfer.sample_bytes} bytes of the same "
                             f"URL in {their_transfer.sample_seconds:.2f} s ({_rate(their_rate)}, "
                             f"{their_rate / rate:.1f} times as fast)"))  # fmt: skip
    usual = baseline.throughput if baseline.throughput_samples >= BASELINE_MIN_SAMPLES else None
    by_usual = usual is not None and rate * THROTTLE_RATIO <= usual
    evidence.append(cite(f"{ref}/throughput", _usual_fact(baseline, rate)))
    if by_control and by_usual:
        assert theirs is not None and usual is not None
        if layer == "tls" and not _authentic(result, hop):
            return None
        return Verdict(
            status="blocked",
            blocking=layer,
            outcome=f"{layer}.throttled",
            confidence=0.7,
            reason=f"The page arrived at {_rate(rate)}: {theirs[2] / rate:.0f} times slower "
            f"than the control read the same URL, and {usual / rate:.0f} times slower than "
            f"this vantage's upper quartile over {baseline.throughput_samples} pages of the "
            "run.",
            evidence=evidence,
        )
    if not timed_out:
        return None  # the page loaded; what was slow about it is not a claim
    # Throttling is named when a reference points to it and none speaks against it.
    against = (theirs is not None and not by_control) or (usual is not None and not by_usual)
    outcome = f"{layer}.throttled" if (by_control or by_usual) and not against else verdict.outcome
    return Verdict(
        status="inconclusive",
        outcome=outcome,
        confidence=0.4,
        reason=f"The body was still arriving at {_rate(rate)} when the read gave up "
        f"({transfer.sample_bytes} bytes in {transfer.sample_seconds:.2f} s); "
        + _why_not(rate, theirs[2] if theirs is not None else None, usual, baseline)
        + ".",
        evidence=[*verdict.evidence, *evidence],
    )


def _why_not(
    rate: float,
    theirs: float | None,
    usual: float | None,
    baseline: Baseline,
) -> str:
    """Why a slow body is not called throttled, in words, with the ratios."""
    by_control = theirs is not None and rate * THROTTLE_RATIO <= theirs
    by_usual = usual is not None and rate * THROTTLE_RATIO <= usual
    if theirs is None:
        missing = "no control read the same URL to compare with"
    elif not by_control:
        missing = (
            f"the control read it only {theirs / rate:.1f} times as fast (a claim needs "
            f"{THROTTLE_RATIO:.0f}), so the site may be slow for everyone"
        )
    elif usual is None:
        missing = (
            f"only {baseline.throughput_samples} pages of this run make the vantage's usual "
            f"speed, fewer than the {BASELINE_MIN_SAMPLES} needed"
            if baseline.throughput_samples
            else "no page of this run was big enough to time the vantage's usual speed"
        )
    else:
        missing = (
            f"this vantage's pages usually come at {_rate(usual)}, only {usual / rate:.1f} "
            f"times as fast (a claim needs {THROTTLE_RATIO:.0f}), so the line may be slow"
        )
    if by_control and usual is None:
        assert theirs is not None
        return f"{theirs / rate:.0f} times slower than the control, but {missing}"
    if by_usual and theirs is None:
        assert usual is not None
        return f"{usual / rate:.0f} times slower than this vantage's usual pages, but {missing}"
    return missing


def _usual_fact(baseline: Baseline, rate: float) -> str:
    if baseline.throughput is None:
        return "no page of this run timed 64 KiB or more to give this vantage's usual speed"
    return (
        f"this vantage's upper quartile over {baseline.throughput_samples} pages of the run is "
        f"{_rate(baseline.throughput)} ({baseline.throughput / rate:.1f} times this page's)"
    )


def _control_rate(result: Result, hop: HTTPHop) -> tuple[int, Transfer, float] | None:
    """The control's figures for the same URL, at the same address when it fetched there."""
    control = result.control.http
    if control is None or result.control.source not in ("server", "vantage"):
        return None
    found = []
    for j, theirs in enumerate(control.hops):
        transfer = theirs.response.transfer if theirs.response is not None else None
        if theirs.url == hop.url and transfer is not None and transfer.throughput is not None:
            found.append((theirs.address != hop.address, j, transfer, transfer.throughput))
    if not found:
        return None
    _, j, transfer, rate = min(found, key=lambda f: (f[0], f[1]))
    return j, transfer, rate


def _authentic(result: Result, hop: HTTPHop) -> bool:
    """Did the hop ride a handshake validated for its host? A throttling box that is not the
    site must be proven to sit on the path to the site itself."""
    if hop.tls is not None:
        return hop.tls.failure is None and bool(hop.tls.trusted)
    return any(h.address == hop.address and h.failure is None and h.trusted for h in result.tls)


def _baseline_rate(result: Result | _Seen) -> float | None:
    """The throughput this result adds to its vantage's baseline, if it adds one."""
    http = result.http
    if result.verdict.status != "accessible" or http is None or http.failure or not http.hops:
        return None
    response = http.hops[-1].response
    transfer = response.transfer if response is not None else None
    if transfer is None or transfer.throughput is None or transfer.cut_after_bytes is not None:
        return None
    return transfer.throughput if transfer.sample_bytes >= BASELINE_MIN_BYTES else None


def _upper_quartile(rates: list[float]) -> float | None:
    # What the line can carry, not what a typical site sends: a site slow for everyone is as
    # common as a fast one, and a median over a run with a few of them would call the line slow
    # and hide a throttle. Interpolated between ranks, so three pages do not give the fastest.
    if not rates:
        return None
    ordered = sorted(rates)
    at = 0.75 * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (at - low), 1)


def _rate(bps: float) -> str:
    if bps >= 1e6:
        return f"{bps / 1e6:.1f} MB/s"
    return f"{bps / 1e3:.1f} kB/s"


# --- QUIC on a network that drops it all ---------------------------------------------------


def quic_dropped(baseline: Baseline) -> bool:
    """Did QUIC fail nearly everywhere from this vantage, at sites the control reached too?"""
    return (
        baseline.quic_targets >= QUIC_MIN_TARGETS
        and baseline.quic_answered <= QUIC_ANSWERED_SHARE * baseline.quic_addresses
        and baseline.quic_control_loaded >= 1
    )


def quic_everywhere(result: Result, baseline: Baseline) -> Verdict | None:
    """The QUIC verdict on a network that drops QUIC altogether, or None to keep the target's."""
    verdict = result.quic_verdict
    if verdict is None or not quic_dropped(baseline):
        return None
    if verdict.status not in ("blocked", "inconclusive") or not verdict.outcome.startswith("quic."):
        return None
    if verdict.outcome == "quic.sni_blocking":
        return None  # a neutral name got through there: this site's name is what fails
    failed = baseline.quic_addresses - baseline.quic_answered
    fact = (
        f"from this vantage QUIC failed at {failed} of the {baseline.quic_addresses} addresses "
        f"tried in this run, over {baseline.quic_targets} targets, {baseline.quic_control_loaded} "
        "of them sites the control reached over QUIC"
    )
    return Verdict(
        status="inconclusive",
        outcome=verdict.outcome,
        confidence=min(verdict.confidence, 0.4),
        reason=f"QUIC failed here ({verdict.outcome}), but {fact}: this network seems to drop "
        "QUIC altogether, which says nothing of this site.",
        evidence=[*verdict.evidence, cite("/quic", fact)],
    )


def _quic_tried(fetches: Iterable[QUICFetch]) -> list[QUICFetch]:
    return [q for q in fetches if q.handshake is not None]


def _answered(q: QUICFetch) -> bool:
    """Did a handshake at this address complete, naming the host or a neutral name?"""
    hand = q.handshake
    if hand is None:
        return False
    return hand.failure is None or (hand.neutral is not None and hand.neutral.failure is None)
