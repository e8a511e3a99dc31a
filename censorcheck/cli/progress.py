"""The progress bar of a run: done of total, time left, and the verdicts so far by status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from censorcheck.measure.handover import Done

# The order a reader scans for: what is blocked first.
_ORDER = ("blocked", "down", "inconclusive", "accessible")


def counts_text(counts: Counter[str]) -> str:
    """``blocked 3 · down 1 · accessible 12``: the statuses seen so far, blocked first."""
    return " · ".join(f"{status} {counts[status]}" for status in _ORDER if counts[status])


def bar(doing: str, quiet: bool, console: Console, *more: TextColumn) -> Progress:
    """A transient progress bar on ``console``, headed ``doing``: done of total, time spent and
    left, then ``more``; none off a terminal or with ``quiet``."""
    return Progress(
        TextColumn(f"[bold]{doing}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *more,
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    )


def run_progress(
    total: int, quiet: bool, console: Console
) -> tuple[Progress, Callable[[Done], None]]:
    """A run's bar (``bar``) with the verdicts so far and the last target, and the callback
    that advances it with each result."""
    progress = bar(
        "measuring",
        quiet,
        console,
        # Both fields carry outside text (a domain from the target list): never markup.
        TextColumn("{task.fields[counts]}", markup=False),
        TextColumn("{task.description}", markup=False),
    )
    task = progress.add_task("", total=total, counts="")
    counts: Counter[str] = Counter()

    def on_done(done: Done) -> None:
        counts[done.status] += 1
        progress.update(task, advance=1, description=done.domain, counts=counts_text(counts))

    return progress, on_done
