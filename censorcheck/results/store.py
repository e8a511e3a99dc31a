"""Writing results: the run document atomically, and a journal of finished targets as they come.

The journal is one JSON line per finished target, flushed at once, next to the run document. Its
first line is a header naming the run (id, start, settings, targets), so that a run killed half-way
can be finished later into the same document (``censorcheck run --resume``). A run that finishes
replaces its journal with the document.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from censorcheck.errors import ConfigError, StoreError, first_error
from censorcheck.measure.vantages import Vantage
from censorcheck.models import Result, Run, Target
from censorcheck.settings import Settings

JOURNAL_SUFFIX = ".journal.jsonl"
_HEADER_START = '{"kind":"censorcheck.journal"'
# results/<UTC time>-<vantage>.json, as default_output names them (optionally with -N).
_RESULT_NAME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)-.+\.json")


def default_output(results_dir: Path, started_at: str, vantage: str) -> Path:
    """``results/<UTC time>-<vantage>.json``, with characters safe on every filesystem."""
    stamp = started_at.replace(":", "-").split(".")[0].rstrip("Z") + "Z"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", vantage) or "local"
    return results_dir / f"{stamp}-{safe}.json"


def journal_path(output: Path) -> Path:
    return output.with_name(output.name + JOURNAL_SUFFIX)


def output_of_journal(journal: Path) -> Path:
    """The run document a journal will become."""
    if not journal.name.endswith(JOURNAL_SUFFIX):
        raise ConfigError(f"{journal}: not a journal (its name ends in {JOURNAL_SUFFIX})")
    return journal.with_name(journal.name[: -len(JOURNAL_SUFFIX)])


def unused_output(path: Path) -> Path:
    """``path``, or ``path`` with ``-2``, ``-3``... when a document or journal already has it.

    Two runs in the same second from the same vantage must not overwrite each other.
    """
    candidate, n = path, 1
    while candidate.exists() or journal_path(candidate).exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class JournalHeader(BaseModel):
    """The first line of a journal: what is needed to finish the run after a kill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["censorcheck.journal"] = "censorcheck.journal"
    run_id: str
    started_at: str
    settings: Settings  # the first vantage's
    targets: list[Target]
    # A run from several vantages: each one's settings and what the user said about it.
    vantages: list[VantagePlan] = Field(default_factory=list)
    control_vantage: Settings | None = None


class TargetRows:
    """A target list held as one line of JSON per target: a tenth of the memory of the models,
    which for a list of ten thousand is most of what a run holds. A target becomes a model again
    when it is asked for (to be measured, once)."""

    def __init__(self, targets: Iterable[Target]) -> None:
        self._rows = [target.model_dump_json() for target in targets]

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> Target:
        return Target.model_validate_json(self._rows[index])

    def __iter__(self) -> Iterator[Target]:
        return (Target.model_validate_json(row) for row in self._rows)

    def json(self) -> str:
        """The list as a JSON array, as pydantic writes a list of targets."""
        return "[" + ",".join(self._rows) + "]"


class VantagePlan(BaseModel):
    """One vantage of a run: the settings it measures with, and its configured description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: Settings
    about: Vantage | None = None


def _fail(action: str, path: Path, exc: OSError) -> StoreError:
    return StoreError(f"cannot {action} {path}: {exc.strerror or exc}")


class Journal:
    """Append-only JSONL of finished results; each line is on disk before the next target ends.

    Each record goes to the kernel in one ``write`` call, so a kill leaves whole records; only a
    full disk or a power cut can leave a partial one, and ``open`` cuts that off first (see
    ``repair_journal``), so a new record is never glued onto a torn one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.repaired: Repair | None = None
        self.size = 0  # where the next record starts: this process is the journal's one writer

    def open(self, header: JournalHeader | str | None = None) -> Journal:
        """Open for appending, after cutting off a torn tail (kept in ``repaired``); a new
        (empty) journal starts with ``header`` (a model, or its record) when one is given."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.repaired = repair_journal(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.size = os.fstat(self._fd).st_size
            if header is not None and self.size == 0:
                line = header if isinstance(header, str) else header.model_dump_json()
                self._write(line + "\n")
        except OSError as exc:
            self.close()
            raise _fail("write the journal", self.path, exc) from exc
        return self

    def _write(self, line: str) -> None:
        assert self._fd is not None
        data = line.encode("utf-8")
        # One call for the whole record; the loop only continues a short write, which the
        # kernel makes when the disk fills part way (the next call then raises ENOSPC).
        while data:
            written = os.write(self._fd, data)
            self.size += written
            data = data[written:]

    def append(self, result: Result) -> int:
        """Journal ``result``; the offset its record starts at (see ``record_at``)."""
        return self.append_line(result.model_dump_json())

    def append_line(self, line: str) -> int:
        """Journal a result already encoded as one line of JSON; the offset it starts at."""
        if self._fd is None:
            raise RuntimeError("journal is not open")
        offset = self.size
        try:
            self._write(line + "\n")
        except OSError as exc:
            raise _fail("write the journal", self.path, exc) from exc
        return offset

    def close(self, remove: bool = False) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()


class Repair(NamedTuple):
    """A torn tail cut off a journal: how many bytes, and the file that keeps them."""

    cut: int
    kept_in: Path

    def describe(self, journal: Path) -> str:
        return (
            f"warning: {journal} ended in a torn record (a full disk or a power cut); "
            f"its {self.cut} bytes were moved to {self.kept_in}"
        )


def torn_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".torn")


def repair_journal(path: Path) -> Repair | None:
    """Cut ``path`` back to its last complete record (the last newline), appending what is cut
    to ``<journal>.torn`` first, so that nothing measured is lost silently; None when whole.

    The torn bytes are copied and synced before the journal is truncated: a crash in between
    leaves them in both places, never in neither.
    """
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            end = size
            while end > 0:  # find the last newline, reading backwards a block at a time
                start = max(0, end - 65536)
                f.seek(start)
                block = f.read(end - start)
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
            if end == size:
                return None
            f.seek(end)
            tail = f.read()
    except FileNotFoundError:
        return None
    kept_in = torn_path(path)
    fd = os.open(kept_in, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while tail:
            tail = tail[os.write(fd, tail) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.truncate(path, end)
    return Repair(size - end, kept_in)


def read_journal(path: Path) -> list[Result]:
    """The results a journal holds. A torn last record (no newline: a full disk or a power cut
    mid-write) is ignored; any other unreadable line is an error, never skipped."""
    return [result for _, result in scan_journal(path)]


def scan_journal(path: Path) -> Iterator[tuple[int, Result]]:
    """Each result of a journal with the offset of its record, one at a time (as
    ``read_journal`` reads them)."""
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            start, offset = offset, offset + len(raw)
            if raw.endswith(b"\n") and not raw.startswith(_HEADER_START.encode()):
                yield start, Result.model_validate_json(raw)


def record_at(journal: BinaryIO, offset: int) -> bytes:
    """The record (a result's JSON line) that starts at ``offset`` of an open journal."""
    journal.seek(offset)
    return journal.readline()


def read_header(path: Path) -> JournalHeader:
    """The header of a journal, or StoreError when it has none (a journal from before headers)."""
    try:
        with path.open("rb") as f:
            # Bytes, decoded here: a text file decodes ahead of the line asked for, so a bad
            # byte in a later result would fail the header too.
            first = f.readline().decode("utf-8")
    except OSError as exc:
        raise _fail("read the journal", path, exc) from exc
    except UnicodeDecodeError as exc:
        raise StoreError(f"{path}: the journal header is not UTF-8 (byte {exc.start})") from None
    if not first.startswith(_HEADER_START) or not first.endswith("\n"):
        raise StoreError(f"{path}: the journal has no header, so its run cannot be resumed")
    try:
        return JournalHeader.model_validate_json(first)
    except ValidationError as exc:
        raise StoreError(f"{path}: unreadable journal header ({first_error(exc, '/')})") from None


def newest_journal(folder: Path) -> Path:
    """The most recently written journal in ``folder``: the run to resume by default."""
    journals = sorted(folder.glob(f"*{JOURNAL_SUFFIX}"), key=lambda p: p.stat().st_mtime)
    if not journals:
        raise ConfigError(f"--resume: no interrupted run (no *{JOURNAL_SUFFIX}) in {folder}")
    return journals[-1]


def prune(folder: Path, days: float, now: datetime | None = None) -> list[Path]:
    """Delete run documents in ``folder`` that started more than ``days`` ago; return them.

    Only files named as censorcheck names them are touched, by the time in their name (copies
    keep it, unlike their mtime). Journals are never pruned: they are runs still to finish.
    """
    limit = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    removed = []
    for path in sorted(folder.glob("*.json")):
        match = _RESULT_NAME.fullmatch(path.name)
        if match is None:
            continue
        started = datetime.strptime(match[1], "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=timezone.utc)
        if started < limit:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _fail("prune", path, exc) from exc
            removed.append(path)
    return removed


def read_run(path: Path) -> Run:
    """The run document at ``path``; ConfigError (one line) when it is not one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return Run.model_validate_json(data)
    except ValidationError as exc:
        detail = first_error(exc, "/")
        raise ConfigError(f"{path}: not a censorcheck run document ({detail})") from None


def write_run(run: Run, path: Path) -> None:
    """Write the run document so that ``path`` is either the old file or the whole new one."""
    write_text(run.model_dump_json(indent=2) + "\n", path)


def write_text(data: str, path: Path) -> None:
    """Write ``data`` atomically (old file or whole new one), readable by the owner only."""
    write_with(path, lambda f: f.write(data))


def write_with(path: Path, fill: Callable[[TextIO], object]) -> None:
    """Write what ``fill`` writes to the file it is given, atomically, owner-only (as
    ``write_text``), without holding it all in memory.

    A symbolic link is followed: its target is what gets written, and the link stays. A path
    that is not a regular file (a device such as /dev/stdout, a FIFO) is written in place:
    renaming over it would replace the device node with a file.
    """
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        try:
            with open(path, "w", encoding="utf-8") as f:
                fill(f)
        except OSError as exc:
            raise _fail("write", path, exc) from exc
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _fail("write", path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _fail("write", path, exc) from exc
    except BaseException:  # fill failed (or was interrupted): no half document left behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


JournalHeader.model_rebuild()
