"""The OONI export file: every measurement of some runs, one JSON object a line, written whole or
not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from censorcheck.errors import StoreError
from censorcheck.models import Run
from censorcheck.results.ooni.measurement import measurements


def write_jsonl(runs: Iterable[Run], path: Path) -> int:
    """Write the measurements of ``runs`` to ``path``, one JSON object a line; the count.

    Atomic like the run documents: a temporary file in the same directory, renamed over ``path``
    once complete, so a reader never sees half an export.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for run in runs:
                for m in measurements(run):
                    # ASCII escapes keep U+2028 and its kind, which some readers split lines
                    # at, out of the file.
                    f.write(json.dumps(m, separators=(",", ":")) + "\n")
                    count += 1
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)  # a run that fails to convert must not leave a partial file behind
        raise
    return count


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
