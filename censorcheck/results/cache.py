"""The results index's folder in the user's cache: kept private, and kept small.

Every index file holds every URL and verdict of some folders of runs, so the folder is the
owner's alone (0700, files 0600). An index is a cache: deleting one loses nothing (the next use
rebuilds it from the documents), so pruning by age and by size is always safe.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

# Applied on every use of the index: an index unused for a month goes, and the folder stays
# under 512 MB (the least recently used go first). Listing a folder of a few files costs nothing.
AUTO_MAX_AGE_DAYS = 30.0
AUTO_MAX_BYTES = 512 * 1024 * 1024


def index_folder() -> Path:
    """Where the results indexes live."""
    from platformdirs import user_cache_path

    return user_cache_path("censorcheck") / "index"


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) with only the owner allowed in."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)


def private_files(index: Path) -> None:
    """An index file and its write-ahead log, the owner's alone."""
    for path in (index, index.with_name(index.name + ".wal")):
        try:
            os.chmod(path, 0o600)
        except FileNotFoundError:
            continue


@dataclass(frozen=True)
class Pruned:
    removed: list[Path]
    freed: int  # bytes
    kept: int  # bytes still in the folder


def prune(
    folder: Path,
    max_age_days: float | None,
    max_bytes: int | None,
    keep: Path | None = None,
    now: float | None = None,
) -> Pruned:
    """Delete the indexes of ``folder`` unused for more than ``max_age_days``, then the least
    recently used until the rest fits in ``max_bytes``. ``keep`` (the index in use) stays."""
    now = time.time() if now is None else now
    entries: list[tuple[float, int, Path]] = []
    for path in folder.glob("results-*.duckdb*"):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        entries.append((st.st_mtime, st.st_size, path))
    entries.sort()  # least recently used first
    total = sum(size for _, size, _ in entries)
    removed: list[Path] = []
    freed = 0
    for mtime, size, path in entries:
        if keep is not None and path.name.startswith(keep.name):
            continue
        too_old = max_age_days is not None and now - mtime > max_age_days * 86400
        too_big = max_bytes is not None and total > max_bytes
        if not (too_old or too_big):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        removed.append(path)
        freed += size
        total -= size
    return Pruned(removed, freed, total)
