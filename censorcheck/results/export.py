"""``export``: the results in the formats other tools read.

CSV and Parquet hold the results table (``censorcheck.results.warehouse.COLUMNS``, documented in the
README): the path for analysts who outgrow one machine (Spark, BigQuery, pandas). OONI JSONL
holds one OONI-style measurement per result, with every observation (``censorcheck.results.ooni``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from censorcheck.errors import ConfigError, StoreError
from censorcheck.models import Run
from censorcheck.results import dataset
from censorcheck.results.dataset import Shape
from censorcheck.results.store import read_run
from censorcheck.results.warehouse import COLUMNS, Warehouse

Format = Literal["csv", "parquet", "ooni"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "ooni")
FILE_NAMES: dict[Format, str] = {
    "csv": "results.csv",
    "parquet": "results.parquet",
    "ooni": "measurements.jsonl",
}
_ORDER = "ORDER BY run_started_at, run_id, vantage, url"


SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".jsonl": "ooni"}


def format_of(path: Path) -> Format | None:
    """The format a file name asks for by its suffix, if any."""
    return SUFFIXES.get(path.suffix.lower())


def export(
    wh: Warehouse,
    fmt: Format,
    folder: Path,
    skipped: list[str] | None = None,
    shape: Shape = "results",
    partitioned: bool = False,
) -> tuple[Path, int]:
    """Write the results of ``wh`` into ``folder`` as ``fmt``; the file and the rows written.

    A document the index took but the full model refuses (OONI needs every observation) is
    left out of the OONI export and named in ``skipped``. ``shape`` and ``partitioned``: see
    :mod:`censorcheck.results.dataset`.
    """
    if fmt != "ooni" and (shape != "results" or partitioned):
        values = ", ".join(_exported(c.name, c.type, fmt) for c in COLUMNS)
        runs = each_run(wh, skipped if skipped is not None else [])
        select = f"SELECT {values} FROM results {_ORDER}"
        return dataset.write(wh, fmt, folder, shape, partitioned, runs, select)
    if fmt == "ooni" and (shape != "results" or partitioned):
        raise ConfigError("--shape and --partitioned are for csv and parquet")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    path = folder / FILE_NAMES[fmt]
    return path, export_file(wh, fmt, path, skipped)


def export_file(wh: Warehouse, fmt: Format, path: Path, skipped: list[str] | None = None) -> int:
    """Write the results of ``wh`` to the file ``path`` as ``fmt``, readable by the owner only
    (it holds every URL and verdict); the rows written.

    A document the index took but the full model refuses (OONI needs every observation) is
    left out of the OONI export and named in ``skipped``.
    """
    if fmt == "ooni":
        from censorcheck.results.ooni import write_jsonl

        return write_jsonl(each_run(wh, skipped if skipped is not None else []), path)
    values = ", ".join(_exported(c.name, c.type, fmt) for c in COLUMNS)
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
    select = f"SELECT {values} FROM results {_ORDER}"
    return dataset.copy_private(wh, select, options, path)


def _exported(name: str, kind: str, fmt: Format) -> str:
    if name == "file":
        # Only the file's name: a local path names the analyst (/home/<user>/...).
        return "parse_filename(file) AS file"
    if fmt == "parquet" and kind == "TIMESTAMP":
        return f"{name}::TIMESTAMPTZ AS {name}"  # UTC, and Parquet says so (isAdjustedToUTC)
    if fmt == "csv" and kind.endswith("[]"):
        # A list in a CSV cell: space-separated, as a spreadsheet can split it.
        return f"array_to_string({name}, ' ') AS {name}"
    return name


def each_run(wh: Warehouse, skipped: list[str]) -> Iterator[Run]:
    """Each run once (a copy in another folder is the same run), oldest first, one at a time."""
    files = wh.rows(
        "SELECT min(file) FROM results GROUP BY run_id ORDER BY min(run_started_at), run_id"
    )
    for (file,) in files:
        try:
            yield read_run(Path(file))
        except ConfigError as exc:
            skipped.append(str(exc))
