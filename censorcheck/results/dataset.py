"""Exports beyond one results file: the observations shape, hive-partitioned Parquet datasets,
and such a dataset read back as the results table.

A partitioned export is a folder that DuckDB, Spark, BigQuery and pyarrow read as one table:
``results/date=YYYY-MM-DD/vantage=NAME/*.parquet`` (the day the run started, UTC), or for the
observations shape ``observations/bucket_date=YYYY-MM-DD/*.parquet``. The partition columns live
in the folder names, not in the files. ``query`` and ``report`` take such a folder (or one
exported Parquet file) in place of run documents.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb

from censorcheck.errors import ConfigError, StoreError
from censorcheck.models import Run
from censorcheck.results import observations
from censorcheck.results.warehouse import COLUMNS, Warehouse, quiet, sql_string

Shape = Literal["results", "observations"]
SHAPES: tuple[Shape, ...] = ("results", "observations")
PARTITIONS: dict[Shape, tuple[str, ...]] = {
    "results": ("date", "vantage"),
    "observations": ("bucket_date",),
}
_BATCH = 5000  # observation rows loaded per statement


def _replace(partial: Path, final: Path) -> None:
    """``partial`` (a file or a folder) in place of ``final``: a dataset folder replaces the
    previous one; a file never replaces a folder (os.replace refuses, a StoreError)."""
    if partial.is_dir() and final.is_dir() and not final.is_symlink():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(partial, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, final)


def _load_observations(con: duckdb.DuckDBPyConnection, runs: Iterable[Run]) -> None:
    columns = ", ".join(f'"{c.name}" {c.type}' for c in observations.COLUMNS)
    con.execute(f"CREATE TEMP TABLE observations ({columns})")
    casts = ", ".join(f"unnest(${i + 1})::{c.type}" for i, c in enumerate(observations.COLUMNS))
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        if batch:
            con.execute(
                f"INSERT INTO observations SELECT {casts}",
                [list(column) for column in zip(*batch, strict=True)],
            )
            batch.clear()

    for row in observations.rows(runs):
        batch.append(row)
        if len(batch) >= _BATCH:
            flush()
    flush()


def write(
    wh: Warehouse,
    fmt: Literal["csv", "parquet"],
    folder: Path,
    shape: Shape,
    partitioned: bool,
    runs: Iterable[Run],
    results_select: str,
) -> tuple[Path, int]:
    """Write ``shape`` into ``folder``: one file, or with ``partitioned`` a Parquet dataset.
    ``results_select`` is the SELECT of the results shape's rows; ``runs`` feed observations."""
    if partitioned and fmt != "parquet":
        raise ConfigError("--partitioned writes Parquet only: give --format parquet")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    name = shape if partitioned else f"{shape}.{fmt}"
    path = folder / name
    if shape == "observations":
        _load_observations(wh.con, runs)
        select = (
            "SELECT * FROM observations "
            "ORDER BY measurement_start_time, measurement_uid, observation_idx"
        )
    else:
        select = results_select
        if partitioned:
            select = f"SELECT *, strftime(run_started_at, '%Y-%m-%d') AS date FROM ({select})"
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
    if partitioned:
        options += f", PARTITION_BY ({', '.join(PARTITIONS[shape])})"
    return path, copy_private(wh, select, options, path)


def copy_private(wh: Warehouse, select: str, options: str, path: Path) -> int:
    """``COPY (select) TO path (options)``, readable by the owner only; the rows written.

    DuckDB creates its files after the umask (0644): it writes inside a folder of the owner's
    alone, and everything (a file, or a partitioned folder) is made private before it takes its
    name, since it holds every URL and verdict. StoreError when it cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    partial = private / path.name
    try:
        # COPY answers with the number of rows it wrote: no second pass to count them.
        written = wh.rows(f"COPY ({select}) TO {sql_string(str(partial))} ({options})")
        _make_private(partial)
        _replace(partial, path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return int(written[0][0])


def _make_private(path: Path) -> None:
    """Folders 0700 and files 0600, all the way down."""
    if not path.is_dir():
        os.chmod(path, 0o600)
        return
    os.chmod(path, 0o700)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)


# --- reading a dataset back ------------------------------------------------------------------


def parquet_input(paths: Sequence[Path]) -> list[str] | None:
    """The Parquet files to read when ``paths`` name an exported dataset or Parquet file rather
    than run documents; None when they hold run documents (or nothing of either)."""
    found: list[str] = []
    for path in paths:
        if path.is_file() and path.suffix == ".parquet":
            found.append(str(path))
        elif path.is_dir():
            if any(path.rglob("*.json")):
                return None
            found += sorted(str(p) for p in path.rglob("*.parquet") if not _hidden(p, path))
        else:
            return None
    return found or None


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def open_dataset(files: Sequence[str]) -> Warehouse:
    """The results table over exported Parquet (one file or a hive-partitioned dataset)."""
    con = quiet(duckdb.connect())
    listed = ", ".join(sql_string(f) for f in files)
    # The partition keys are read from the folder names only where there are such folders: a
    # single exported file holds every column itself.
    hive = any(part.startswith("vantage=") for f in files for part in Path(f).parts)
    keys = "hive_partitioning = true, hive_types = {'date': DATE, 'vantage': VARCHAR}"
    source = f"read_parquet([{listed}], union_by_name = true, " + (
        keys + ")" if hive else "hive_partitioning = false)"
    )
    try:
        found = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(
            f"not a censorcheck Parquet export ({str(exc).splitlines()[0]})"
        ) from None
    missing = [c.name for c in COLUMNS if c.name not in found]
    if missing:
        con.close()
        raise ConfigError(
            f"not the results shape of a censorcheck export (no {', '.join(missing[:3])})"
        )
    # The table's timestamps are naive UTC, as the index keeps them; the export zoned them.
    values = ", ".join(
        f"{c.name}::TIMESTAMP AS {c.name}"
        if c.type == "TIMESTAMP"
        else f"{c.name}::{c.type} AS {c.name}"
        for c in COLUMNS
    )
    con.execute(f"CREATE VIEW results AS SELECT {values} FROM {source}")
    return Warehouse.over(con, len(files))
