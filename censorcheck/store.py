"""Writing results: the run document atomically, and a journal of finished targets as they come.

The journal is one JSON line per finished target, flushed at once, next to the run document. A run
killed half-way leaves its journal; a run that finishes replaces it with the document.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO

from censorcheck.errors import StoreError
from censorcheck.models import Result, Run


def default_output(results_dir: Path, started_at: str, vantage: str) -> Path:
    """``results/<UTC time>-<vantage>.json``, with characters safe on every filesystem."""
    stamp = started_at.replace(":", "-").split(".")[0].rstrip("Z") + "Z"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", vantage) or "local"
    return results_dir / f"{stamp}-{safe}.json"


def journal_path(output: Path) -> Path:
    return output.with_name(output.name + ".journal.jsonl")


def _fail(action: str, path: Path, exc: OSError) -> StoreError:
    return StoreError(f"cannot {action} {path}: {exc.strerror or exc}")


class Journal:
    """Append-only JSONL of finished results; each line is on disk before the next target ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def open(self) -> Journal:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        except OSError as exc:
            raise _fail("write the journal", self.path, exc) from exc
        return self

    def append(self, result: Result) -> None:
        if self._file is None:
            raise RuntimeError("journal is not open")
        try:
            self._file.write(result.model_dump_json() + "\n")
            self._file.flush()
        except OSError as exc:
            raise _fail("write the journal", self.path, exc) from exc

    def close(self, remove: bool = False) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()


def read_journal(path: Path) -> list[Result]:
    """The results a journal holds; a torn last line (a kill mid-write) is ignored."""
    results = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                results.append(Result.model_validate_json(line))
    return results


def write_run(run: Run, path: Path) -> None:
    """Write the run document so that ``path`` is either the old file or the whole new one."""
    data = run.model_dump_json(indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _fail("write", path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _fail("write", path, exc) from exc
