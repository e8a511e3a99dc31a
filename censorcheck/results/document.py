"""The run document written a result at a time, so that a run's memory does not grow with it.

``write_document`` writes the same bytes as ``write_run`` (pydantic's indented JSON of the whole
``Run``), but takes the results from an iterable, read back from the journal one at a time, and
counts the summary as they pass. A ``Finisher`` sees every result once before any is written
(``accumulate``) and then changes each on its way into the document (``finish``): the place for a
judgment that needs the whole run, such as a baseline of the vantage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TextIO

from censorcheck.models import Result, Run, Summary
from censorcheck.results.store import write_with

# The results and the summary are the last two fields of a Run, in this order: the document is
# the head, then the results one by one, then the summary.
_SPLIT = '\n  "results": [],\n  "summary": '


class Finisher(Protocol):
    """A pass over every result before the document is written, then a change to each."""

    def accumulate(self, result: Result) -> None:
        """See one result (first pass, in document order)."""

    def head(self, run: Run) -> Run:
        """The document's head once every result was seen (its run-level fields)."""

    def finish(self, result: Result) -> Result:
        """The result as the document records it (second pass, in document order)."""


class Tally:
    """``Summary.of`` counted one result at a time, with the same keys in the same order."""

    def __init__(self) -> None:
        self.total = 0
        self.by_status: Counter[str] = Counter()
        self.by_blocking: Counter[str] = Counter()
        self.by_vantage: dict[str, Counter[str]] = {}
        self.quic_by_status: Counter[str] = Counter()

    def add(self, result: Result) -> None:
        verdict = result.verdict
        self.total += 1
        self.by_status[verdict.status] += 1
        if verdict.blocking:
            self.by_blocking[verdict.blocking] += 1
        if result.vantage is not None:
            self.by_vantage.setdefault(result.vantage, Counter())[verdict.status] += 1
        if result.quic_verdict is not None:
            self.quic_by_status[result.quic_verdict.status] += 1

    def summary(self) -> Summary:
        return Summary(
            total=self.total,
            by_status=dict(self.by_status),
            by_blocking=dict(self.by_blocking),
            by_vantage={name: dict(counts) for name, counts in self.by_vantage.items()},
            quic_by_status=dict(self.quic_by_status),
        )


def _indented(text: str, by: str) -> str:
    # JSON strings never hold a raw newline, so every newline is between two tokens.
    return text.replace("\n", "\n" + by)


def write_document(
    head: Run,
    results: Callable[[], Iterable[Result]],
    out: Path | TextIO,
    finisher: Finisher | None = None,
    on_written: Callable[[Result], None] | None = None,
    *,
    accumulated: bool = False,
) -> Run:
    """Write ``head`` with the results ``results()`` yields (called once, or twice with a
    ``finisher``) as one document to ``out``: a file (written atomically) or a stream; ``head``
    with the summary counted.

    ``head.results`` is ignored; ``on_written`` hears each result as the document records it.
    ``accumulated``: the caller made the finisher's first pass itself (over the journal's
    records, which is cheaper than over results), so ``results()`` is called once.
    """
    if finisher is not None:
        if not accumulated:
            for result in results():
                finisher.accumulate(result)
        head = finisher.head(head)
    text = head.model_copy(update={"results": [], "summary": Tally().summary()}).model_dump_json(
        indent=2
    )
    before, found, _ = text.partition(_SPLIT)
    if not found:
        raise AssertionError("a Run no longer ends with its results and summary")
    tally = Tally()

    def fill(out: TextIO) -> None:
        out.write(before + '\n  "results": [')
        sep = "\n    "
        for result in results():
            if finisher is not None:
                result = finisher.finish(result)
            tally.add(result)
            out.write(sep + _indented(result.model_dump_json(indent=2), "    "))
            sep = ",\n    "
            if on_written is not None:
                on_written(result)
        out.write("\n  ],\n  " if tally.total else "],\n  ")
        summary = tally.summary()
        out.write('"summary": ' + _indented(summary.model_dump_json(indent=2), "  ") + "\n}\n")

    if isinstance(out, Path):
        write_with(out, fill)
    else:
        fill(out)
    return head.model_copy(update={"results": [], "summary": tally.summary()})
