"""Runs that survive a kill, a reboot or a power cut, and can be finished later.

A run with a document path journals every finished target at once (``store.Journal``), after a
header naming the run. ``resume`` reads such a journal back; ``complete`` measures only what is
missing and writes one document in which every target appears exactly once, under the original
``run_id`` and ``started_at``. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import shutil
import tempfile
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from censorcheck import __version__
from censorcheck.errors import CensorcheckError, StoreError, first_error
from censorcheck.measure.api import public_settings, utc_now
from censorcheck.measure.controls import OnControl
from censorcheck.measure.handover import Done
from censorcheck.measure.verdict import RULES_VERSION
from censorcheck.measure.verdict.baseline import Settling
from censorcheck.measure.workers import OnDone, WorkerLost, default_workers, measure
from censorcheck.models import Result, Run, Summary, Target, Tool
from censorcheck.results.document import Finisher, write_document
from censorcheck.results.store import (
    Journal,
    JournalHeader,
    Repair,
    TargetRows,
    VantagePlan,
    journal_path,
    output_of_journal,
    read_header,
    record_at,
    repair_journal,
    scan_journal,
)
from censorcheck.settings import Settings


@dataclass(frozen=True)
class Pending:
    """A run to do or to finish: who it is, where it goes, what is already measured."""

    head: JournalHeader  # the journal's header but its targets, which are in ``targets``
    path: Path | None  # the run document; None when it goes to stdout only (no journal)
    targets: TargetRows
    # Per vantage (in ``vantages()`` order), per target (in list order): where the target's
    # result starts in the journal, or -1 while it is still to measure. Offsets, not results:
    # a run holds none of its results in memory.
    offsets: tuple[array[int], ...] = ()
    # The control token travels beside the journal, never in it: a file on disk must not hold a
    # secret that lets anyone spend the server operator's measurements.
    control_token: str | None = None
    repaired: Repair | None = None  # a torn tail cut off the journal when it was read back

    def __post_init__(self) -> None:
        if not self.offsets:
            count = len(self.targets)
            fresh = tuple(array("q", [-1]) * count for _ in self.vantages())
            object.__setattr__(self, "offsets", fresh)

    @classmethod
    def of(
        cls,
        header: JournalHeader,
        path: Path | None,
        control_token: str | None = None,
        repaired: Repair | None = None,
    ) -> Pending:
        """The run ``header`` names, nothing measured yet; its targets kept compact (a model
        per target would be most of a long run's memory)."""
        head = header.model_copy(update={"targets": []})
        targets = TargetRows(header.targets)
        return cls(head, path, targets, control_token=control_token, repaired=repaired)

    @property
    def header(self) -> JournalHeader:
        """The journal's whole header (targets included, as models: costly for a long list)."""
        return self.head.model_copy(update={"targets": list(self.targets)})

    def header_line(self) -> str:
        """The journal's header record, written from the compact targets (its ``kind`` first,
        which is how a reader tells the header from a result)."""
        rest = self.head.model_dump_json(exclude={"targets"})
        return rest[:-1] + ',"targets":' + self.targets.json() + "}"

    def _with_token(self, settings: Settings) -> Settings:
        if self.control_token is None:
            return settings
        return settings.model_copy(update={"control_token": self.control_token})

    @property
    def settings(self) -> Settings:
        """The settings to measure with: the journal's, with the control token put back."""
        return self._with_token(self.head.settings)

    def vantages(self) -> list[VantagePlan]:
        """Every vantage of the run (one, for a run that named none)."""
        plans = self.head.vantages or [VantagePlan(settings=self.head.settings)]
        return [p.model_copy(update={"settings": self._with_token(p.settings)}) for p in plans]

    def _missing(self, v: int) -> Iterator[tuple[int, Target]]:
        return ((i, self.targets[i]) for i in range(len(self.targets)) if self.offsets[v][i] < 0)

    def todo_of(self, vantage: str) -> list[Target]:
        """The targets that have no result from ``vantage`` yet, in list order."""
        names = [p.settings.vantage for p in self.vantages()]
        return [t for _, t in self._missing(names.index(vantage))]

    @property
    def todo(self) -> list[Target]:
        """Every (vantage, target) measurement still to make, as targets in list order."""
        return [t for v in range(len(self.offsets)) for _, t in self._missing(v)]

    @property
    def to_measure(self) -> int:
        """How many (vantage, target) measurements are still to make."""
        return sum(o < 0 for offsets in self.offsets for o in offsets)

    @property
    def done(self) -> int:
        """How many (vantage, target) results the journal already holds."""
        return sum(o >= 0 for offsets in self.offsets for o in offsets)


def _vantage_of(result: Result, header: JournalHeader) -> str:
    # Results journaled before schema 1.3 name no vantage: they are the run's only one.
    return result.vantage or header.settings.vantage


def _absolute(settings: Settings) -> Settings:
    """Local paths made absolute so a resume works from anywhere; no secret."""
    return settings.model_copy(
        update={
            "ca_bundle": settings.ca_bundle.absolute() if settings.ca_bundle else None,
            "fingerprints": [p.absolute() for p in settings.fingerprints],
            "control_token": None,
        }
    )


def start(
    targets: Sequence[Target],
    settings: Settings,
    path: Path | None,
    started_at: str | None = None,
    vantages: Sequence[VantagePlan] = (),
    control_vantage: Settings | None = None,
) -> Pending:
    """A new run, from ``settings``' vantage or from each of ``vantages``."""
    plans = [p.model_copy(update={"settings": _absolute(p.settings)}) for p in vantages]
    header = JournalHeader(
        run_id=str(uuid.uuid4()),
        started_at=started_at or utc_now(),
        settings=plans[0].settings if plans else _absolute(settings),
        targets=list(targets),
        # Kept for one vantage too: its plan carries what the user said of the network
        # (country, ASN), which the document and every export must not lose.
        vantages=plans,
        control_vantage=_absolute(control_vantage) if control_vantage else None,
    )
    return Pending.of(header, path, settings.control_token)


def resume(journal: Path, control_token: str | None = None) -> Pending:
    """The interrupted run a journal belongs to, with the results it kept (each target once).

    A torn last record is cut off first (kept beside the journal, named in ``repaired``), so
    the results appended next start on a line of their own.
    """
    try:
        repaired = repair_journal(journal)
    except OSError as exc:
        raise StoreError(f"cannot repair the journal {journal}: {exc.strerror or exc}") from exc
    header = read_header(journal)
    pending = Pending.of(header, output_of_journal(journal), control_token, repaired)
    names = {p.settings.vantage: v for v, p in enumerate(pending.vantages())}
    where: dict[str, int] = {}
    for index, target in enumerate(header.targets):
        where.setdefault(target.url, index)
    head = pending.head
    del header
    try:
        for offset, result in scan_journal(journal):
            v = names.get(_vantage_of(result, head))
            at = where.get(result.target.url)
            # A result the run did not ask for is left out; of two, the first is kept.
            if v is not None and at is not None and pending.offsets[v][at] < 0:
                pending.offsets[v][at] = offset
    except ValidationError as exc:
        # pydantic's own text spans several lines; the CLI shows one.
        detail = first_error(exc, "/")
        raise StoreError(
            f"cannot read the journal {journal}: a result is invalid ({detail})"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the journal {journal}: {exc}") from exc
    return pending


def complete(
    pending: Pending,
    on_done: OnDone | None = None,
    on_control: OnControl | None = None,
    workers: int | None = None,
    stdout: TextIO | None = None,
    on_written: Callable[[Result], None] | None = None,
    finisher: Finisher | None = None,
) -> Run:
    """Measure what is missing, journal each result as it comes, write the whole document.

    The document is written from the journal a result at a time (``results.document``), to
    ``pending.path`` and, when given, to ``stdout`` as well; ``finisher`` sees every result
    before any is written, ``on_written`` hears each as the document records it. Returned: the
    document without its results (the summary counted). ``workers``: processes that measure
    (None: ``default_workers``). Without a ``finisher``, the run-level baseline settles the
    results.
    """
    with contextlib.ExitStack() as stack:
        if pending.path is None:
            # No document on disk: the results still go through a journal, a temporary one,
            # so that the run's memory stays flat.
            spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="censorcheck-")))
            journal = Journal(spool / "run.journal.jsonl").open(pending.header_line())
        else:
            journal = Journal(journal_path(pending.path)).open(pending.header_line())
        stack.callback(journal.close)
        try:
            head = _measure(pending, journal, on_done, on_control, workers)
            results = functools.partial(_results, pending, journal.path)
            out = pending.path if pending.path is not None else stdout
            if out is not None:
                accumulated = finisher is None
                if finisher is None:
                    finisher = _baseline(pending, journal.path)
                head = write_document(
                    head, results, out, finisher, on_written, accumulated=accumulated
                )
            if pending.path is not None and stdout is not None:
                with pending.path.open(encoding="utf-8") as f:
                    shutil.copyfileobj(f, stdout)
        except (StoreError, WorkerLost) as exc:
            if pending.path is None:
                raise
            raise type(exc)(f"{exc}; {kept(journal.path)}") from exc
        except CensorcheckError:
            # Refused before measuring anything (no resolver answered): nothing to resume.
            if pending.done == 0:
                journal.close(remove=True)
            raise
        journal.close(remove=True)
    return head


def _measure(
    pending: Pending,
    journal: Journal,
    on_done: OnDone | None,
    on_control: OnControl | None,
    workers: int | None,
) -> Run:
    """Measure what is missing; the document's head (every field but the results)."""

    def record(done: Done) -> None:
        pending.offsets[done.vantage][done.position] = journal.append_line(done.line)
        if on_done is not None:
            on_done(done)

    vantages = pending.vantages()
    plans = [(p.settings, p.about, pending._missing(v)) for v, p in enumerate(vantages)]
    count = workers
    if count is None:
        count = default_workers(pending.to_measure, max(p.concurrency for p, _, _ in plans))
    infos = measure(plans, record, count, None, pending.head.control_vantage, on_control)
    # The settings recorded are the first vantage's that measured.
    first = next(p for p, info in zip(vantages, infos, strict=True) if info.failure is None)
    return Run(
        run_id=pending.head.run_id,
        started_at=pending.head.started_at,
        finished_at=utc_now(),
        tool=Tool(version=__version__),
        vantage=infos[0],
        vantages=infos,
        settings=public_settings(first.settings),
        rules_version=RULES_VERSION,
        results=[],
        summary=Summary(total=0, by_status={}, by_blocking={}),
    )


def _results(pending: Pending, journal: Path) -> Iterator[Result]:
    """Every result of the run from its journal, in document order: vantage by vantage, each
    in list order."""
    return (Result.model_validate_json(record) for record in _records(pending, journal))


def _records(pending: Pending, journal: Path) -> Iterator[bytes]:
    """The records (JSON lines) of ``_results``, in the same order."""
    with journal.open("rb") as f:
        for offsets in pending.offsets:
            for offset in offsets:
                if offset >= 0:
                    yield record_at(f, offset)


def _baseline(pending: Pending, journal: Path) -> Settling:
    """The run-level baseline (issue 14), over the whole run: what was measured before a resume
    too, since the journal holds every result as it was judged target by target."""
    settling = Settling()
    for record in _records(pending, journal):
        settling.accumulate_record(record)
    return settling


def kept(journal: Path) -> str:
    """Where the finished targets are, and the command that finishes the run."""
    return (
        f"the finished targets are kept in {journal} "
        f"(finish with: censorcheck run --resume {shlex.quote(str(journal))})"
    )
