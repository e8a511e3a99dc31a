"""What changed between two sets of runs, per (target URL, vantage name).

Each side is one run document or a folder of them. In a folder, the latest result of each
(target, vantage) counts, by the start time of its run. Documents are merged by ``run_id``, so
copies of one run (folders gathered from many machines) never count twice. Files in a folder that
are not run documents are skipped and reported, never fatal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field

from censorcheck.errors import ConfigError
from censorcheck.models import ControlSource, Model, Result, Run, Status
from censorcheck.results.store import read_run
from censorcheck.results.warehouse import Warehouse, iso_utc

ChangeKind = Literal[
    "newly_blocked",
    "unblocked",
    "method_changed",
    "status_changed",
    "quic_newly_blocked",
    "quic_unblocked",
    "quic_changed",
    "confidence_changed",
    "added",
    "removed",
]
KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)  # in the order a report lists them
# A smaller move in confidence is the same verdict.
CONFIDENCE_STEP = 0.1


class Seen(Model):
    """One side's verdict for a (target, vantage), and the run it comes from."""

    status: Status
    outcome: str = Field(description="Dotted code of what happened, e.g. dns.nxdomain.")
    confidence: float
    run_id: str
    started_at: str = Field(description="Start of the run the result comes from.")
    quic_status: Status | None = Field(
        None, description="The QUIC verdict's status; null when QUIC was not tried."
    )
    quic_outcome: str | None = Field(None, description="The QUIC verdict's outcome.")
    control: ControlSource | None = Field(
        None,
        description="What the verdict was judged against: the control resolvers alone, a "
        "control server, OONI's test helper or a control vantage; null when no control answered "
        "or the index predates this field.",
    )


class Change(Model):
    """One (target, vantage) whose verdict differs between the two sides."""

    kind: ChangeKind = Field(
        description="newly_blocked: not blocked before, blocked now; unblocked: the reverse; "
        "method_changed: blocked on both sides with another outcome; status_changed: any "
        "other change of status; quic_newly_blocked, quic_unblocked, quic_changed: the same "
        "verdict over TCP, and the QUIC verdict (tried on both sides) became blocked, stopped "
        "being blocked, or changed status or blocked outcome; confidence_changed: same status "
        "and outcome, confidence moved by 0.1 or more; added / removed: on one side only."
    )
    url: str = Field(description="The target's URL.")
    vantage: str = Field(description="The vantage name of the runs compared.")
    before: Seen | None = Field(description="The old side's verdict; null when added.")
    after: Seen | None = Field(description="The new side's verdict; null when removed.")
    control_changed: bool = Field(
        False,
        description="The two verdicts were judged against different kinds of control (say, "
        "resolvers alone, then a control server): the change may come from what the control "
        "could tell, not from the network.",
    )


class DiffReport(Model):
    """The changes from an old set of runs to a new one."""

    old_runs: list[str] = Field(description="run_id of each run document read on the old side.")
    new_runs: list[str] = Field(description="run_id of each run document read on the new side.")
    compared: int = Field(description="(target, vantage) pairs present on both sides.")
    counts: dict[ChangeKind, int] = Field(description="Number of changes of each kind.")
    changes: list[Change] = Field(description="Ordered by kind, then vantage, then URL.")

    @property
    def became_blocked(self) -> bool:
        """Whether something not blocked before is blocked now, over QUIC too (CI alerts on
        it)."""
        return self.counts["newly_blocked"] + self.counts["quic_newly_blocked"] > 0


Key = tuple[str, str]  # (target url, vantage name)


@dataclass(frozen=True)
class Side:
    """The latest verdict of each (target, vantage) on one side, and what was read or skipped."""

    latest: dict[Key, Seen]
    runs: list[str]
    skipped: list[str]  # one line per file that is not a run document


def load_side(path: Path, index: bool = True) -> Side:
    """A run document, or the latest per (target, vantage) of the run documents in a folder
    (through the results index, so that folders of thousands of runs stay quick)."""
    if path.is_dir():
        return _folder_side(path, index)
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    run = read_run(path)
    latest = {
        (result.target.url, result.vantage or run.vantage.name): _seen(run, result)
        for result in run.results
    }
    return Side(latest, [run.run_id], [])


def _folder_side(path: Path, index: bool) -> Side:
    with Warehouse([path], index=index) as wh:
        if wh.sync.files == 0:
            raise ConfigError(f"{path}: no run documents (*.json) in this folder")
        # The latest by the run's start; run_id breaks ties, as a sort of the documents would.
        rows = wh.rows(
            """
            SELECT url, vantage,
                arg_max(struct_pack(status, outcome, confidence, run_id, run_started_at,
                    quic_status, quic_outcome, control_source), (run_started_at, run_id))
            FROM results GROUP BY url, vantage
            """
        )
        runs = [r for (r,) in wh.rows("SELECT DISTINCT run_id FROM results ORDER BY run_id")]
        skipped = list(wh.sync.skipped)
    latest = {
        (url, vantage): Seen(
            status=last["status"],
            outcome=last["outcome"],
            confidence=last["confidence"],
            run_id=last["run_id"],
            started_at=iso_utc(last["run_started_at"]),
            quic_status=last["quic_status"],
            quic_outcome=last["quic_outcome"],
            control=last["control_source"],
        )
        for url, vantage, last in rows
    }
    return Side(latest, runs, skipped)


def _seen(run: Run, result: Result) -> Seen:
    v = result.verdict
    quic = result.quic_verdict
    return Seen(
        status=v.status,
        outcome=v.outcome,
        confidence=v.confidence,
        run_id=run.run_id,
        started_at=run.started_at,
        quic_status=quic.status if quic else None,
        quic_outcome=quic.outcome if quic else None,
        control=result.control.source if result.control else None,
    )


def classify(before: Seen, after: Seen) -> ChangeKind | None:
    """The kind of change from ``before`` to ``after``, or None when the verdict is the same."""
    if (before.status == "blocked") != (after.status == "blocked"):
        return "newly_blocked" if after.status == "blocked" else "unblocked"
    if before.status == "blocked" and before.outcome != after.outcome:
        return "method_changed"
    if before.status != after.status:
        return "status_changed"
    quic = _quic_change(before, after)
    if quic is not None:
        return quic
    # Rounded, so that 0.9 - 0.8 (0.0999...) counts as a step of 0.1.
    if round(abs(after.confidence - before.confidence), 6) >= CONFIDENCE_STEP:
        return "confidence_changed"
    return None


def _other_control(before: Seen, after: Seen) -> bool:
    # Unknown on a side (an old index, no control answered) is not a known difference.
    return None not in (before.control, after.control) and before.control != after.control


def _quic_change(before: Seen, after: Seen) -> ChangeKind | None:
    # QUIC tried on one side only (an older document, an Alt-Svc that came or went, --quic
    # changed) is no change of the network's: there is nothing to compare with.
    if before.quic_status is None or after.quic_status is None:
        return None
    if (before.quic_status == "blocked") != (after.quic_status == "blocked"):
        return "quic_newly_blocked" if after.quic_status == "blocked" else "quic_unblocked"
    if before.quic_status != after.quic_status or (
        before.quic_status == "blocked" and before.quic_outcome != after.quic_outcome
    ):
        return "quic_changed"
    return None


def diff_sides(old: Side, new: Side) -> DiffReport:
    """The changes from ``old`` to ``new``."""
    changes: list[Change] = []
    for key in old.latest.keys() | new.latest.keys():
        before = old.latest.get(key)
        after = new.latest.get(key)
        if before is None:
            kind: ChangeKind | None = "added"
        elif after is None:
            kind = "removed"
        else:
            kind = classify(before, after)
        if kind is not None:
            url, vantage = key
            other = before is not None and after is not None and _other_control(before, after)
            changes.append(
                Change(
                    kind=kind,
                    url=url,
                    vantage=vantage,
                    before=before,
                    after=after,
                    control_changed=other,
                )
            )
    changes.sort(key=lambda c: (KINDS.index(c.kind), c.vantage, c.url))
    counted = Counter(c.kind for c in changes)
    return DiffReport(
        old_runs=old.runs,
        new_runs=new.runs,
        compared=len(old.latest.keys() & new.latest.keys()),
        counts={kind: counted[kind] for kind in KINDS},
        changes=changes,
    )


def across_vantages(old: Side, new: Side | None, names: Sequence[str] = ()) -> tuple[Side, Side]:
    """The same targets seen from two vantages, as two sides keyed by target alone: the first
    vantage's verdicts before, the second's after (their pair named ``A -> B`` in each change).

    From one side (a document or folder that measured from both) or from two (each side's one
    vantage). ``names`` picks the two vantages, the first from ``old``, the second from ``new``
    (or ``old``); without them each side must hold one vantage, or the one side exactly two
    (taken in alphabetical order).
    """
    second = new if new is not None else old
    if names and len(names) != 2:
        raise ConfigError("--vantage: give it twice (the baseline, then the other), or not at all")
    if names:
        first_name, second_name = names
    elif new is None:
        present = _vantages(old)
        if len(present) != 2:
            raise ConfigError(
                f"--across-vantages: the document holds {len(present)} vantages "
                f"({', '.join(present) or 'none'}); name two with --vantage A --vantage B"
            )
        first_name, second_name = present
    else:
        first_name, second_name = _only(old, "old"), _only(new, "new")
    label = f"{first_name} -> {second_name}"
    return _one_vantage(old, first_name, label), _one_vantage(second, second_name, label)


def _vantages(side: Side) -> list[str]:
    return sorted({vantage for _, vantage in side.latest})


def _only(side: Side, which: str) -> str:
    present = _vantages(side)
    if len(present) != 1:
        raise ConfigError(
            f"--across-vantages: the {which} side holds {len(present)} vantages "
            f"({', '.join(present)}); choose with --vantage A --vantage B"
        )
    return present[0]


def _one_vantage(side: Side, name: str, label: str) -> Side:
    latest = {(url, label): seen for (url, vantage), seen in side.latest.items() if vantage == name}
    if not latest:
        have = ", ".join(_vantages(side)) or "none"
        raise ConfigError(f"--vantage {name}: no results from it (vantages there: {have})")
    return Side(latest, side.runs, side.skipped)
