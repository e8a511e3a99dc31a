"""What a report shows: the time axis, the grids, the blocking methods and the latest verdicts.

``query.collect`` fills these from the warehouse; the renderers draw them and read nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Column:
    """One column of the time axis."""

    index: int
    start: datetime  # UTC, naive
    end: datetime  # exclusive; equal to ``start`` when the column is one run start
    runs: int  # distinct runs started in it, all vantages together


@dataclass(frozen=True)
class Cell:
    """The latest result of one target from one vantage in one column."""

    url: str
    column: int
    status: str | None
    outcome: str | None
    started_at: datetime
    results: int  # results of this target and vantage in the column
    quic_status: str | None = None  # the QUIC verdict's, when QUIC was tried


@dataclass(frozen=True)
class VantageGrid:
    """A vantage's target-by-time grid."""

    vantage: str
    country: str | None
    asn: int | None
    runs: int
    targets: list[str]  # URLs, sorted: the grid's rows
    cells: list[Cell]
    runs_by_column: dict[int, int]

    _index: dict[tuple[str, int], Cell] = field(default_factory=dict, repr=False, compare=False)

    def cell(self, url: str, column: int) -> Cell | None:
        """The cell of ``url`` in ``column``; None where nothing was measured."""
        if not self._index:
            self._index.update(((c.url, c.column), c) for c in self.cells)
        return self._index.get((url, column))


@dataclass(frozen=True)
class MethodCount:
    """Blocked results with one outcome in one column, from one vantage or (None) from all."""

    column: int
    vantage: str | None
    outcome: str
    count: int


@dataclass(frozen=True)
class EvidenceItem:
    ref: str
    fact: str


@dataclass(frozen=True)
class LatestVerdict:
    """The latest verdict for one (target, vantage), and since when it has been so."""

    url: str
    vantage: str
    status: str | None
    blocking: str | None
    outcome: str | None
    confidence: float | None
    reason: str | None
    run_id: str
    run_started_at: datetime
    file: str
    since: datetime  # start of the earliest run of the latest streak of this status and outcome
    since_run_id: str
    streak: int  # results in that streak
    measured: int  # results of this (target, vantage) in all
    previous_status: str | None  # the verdict before the streak, if any
    previous_outcome: str | None
    evidence: tuple[EvidenceItem, ...] = ()
    quic_status: str | None = None  # the QUIC verdict (None: QUIC not tried)
    quic_outcome: str | None = None
    quic_confidence: float | None = None
    quic_reason: str | None = None  # from the run document, as the evidence
    quic_evidence: tuple[EvidenceItem, ...] = ()


@dataclass(frozen=True)
class TargetDetail:
    url: str
    domain: str | None
    category: str | None
    verdicts: list[LatestVerdict]  # one per vantage, by vantage name


@dataclass(frozen=True)
class Totals:
    runs: int = 0
    vantages: int = 0
    targets: int = 0
    results: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportData:
    """Everything the renderers draw."""

    totals: Totals
    start: datetime | None  # first and last run start
    end: datetime | None
    per_run: bool  # each column is one run start (else an equal time bucket)
    bucket_seconds: int | None  # the columns' length when not per run
    columns: list[Column]
    grids: list[VantageGrid]
    methods: list[MethodCount]
    targets: list[TargetDetail]
    target: str | None = None  # the report is about this one target (URL or domain)
    skipped: list[str] = field(default_factory=list)  # run documents whose evidence was unread

    def latest(self) -> list[LatestVerdict]:
        return [v for t in self.targets for v in t.verdicts]

    def methods_of(self, vantage: str | None) -> dict[int, dict[str, int]]:
        """column → outcome → blocked results, for a vantage or (None) all of them."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for m in self.methods:
            if m.vantage == vantage:
                found[m.column][m.outcome] = m.count
        return dict(found)


def quic_blocked_now(data: ReportData) -> list[LatestVerdict]:
    """The latest verdicts whose QUIC verdict is ``blocked``, by target then vantage: among
    them, sites that load over TCP while HTTP/3 is blocked."""
    return sorted(
        (v for v in data.latest() if v.quic_status == "blocked"),
        key=lambda v: (v.url, v.vantage),
    )


def blocked_now(data: ReportData) -> list[LatestVerdict]:
    """The latest verdicts that are ``blocked``, by target then vantage."""
    return sorted(
        (v for v in data.latest() if v.status == "blocked"), key=lambda v: (v.url, v.vantage)
    )
