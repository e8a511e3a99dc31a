"""The results table: every result of every run document in some folders, queryable with SQL.

``history``, ``query``, ``report``, ``export`` and folder ``diff`` read run documents through
this module. DuckDB is the engine: the documents' JSON is read where it lies, with no import
step and no server. One row per (run, vantage, target) with the verdict and the observations an
analyst filters on; ``COLUMNS`` documents each one, and the README repeats them.

Parsing JSON is the cost (a run of 100 targets is about 0.7 MB on disk), so the rows are kept
in an index, a DuckDB file in the user's cache folder, one per set of folders. Each use compares
the files' sizes and modification times with the index and reads only the files that are new or
changed; removed files leave it. Deleting the index loses nothing: it is rebuilt from the
documents. When the index cannot be opened (another process holds it, a read-only cache) the
rows are read into memory instead, which is slower but gives the same answers.

Documents are merged by ``run_id``: a run copied into two folders counts once. Files that are
not run documents (malformed JSON, other tools' files, dns-scan documents) are listed in
``skipped`` and never fatal.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from censorcheck.errors import ConfigError
from censorcheck.results import cache, rowreader

INDEX_VERSION = "6"
_BATCH = 2000  # files indexed per statement: bounds the memory of a first indexing
# Where the run's start is among the files table's columns (file, id, size, mtime_ns, problem,
# run_id, run_started_at, ...).
_STARTED = 6
_PER_WORKER = 200  # fewer files than this per worker: parsing them here is quicker


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    per_run: bool = False  # the same for every row of a document: kept once, in ``files``


COLUMNS: tuple[Column, ...] = (
    Column("run_id", "VARCHAR", "The run's id; copies of a run count once.", per_run=True),
    Column("file", "VARCHAR", "The run document the row was read from.", per_run=True),
    Column("run_started_at", "TIMESTAMP", "When the run started (UTC).", per_run=True),
    Column("schema_version", "VARCHAR", "The document's schema version.", per_run=True),
    Column("rules_version", "VARCHAR", "The verdict rules that judged it.", per_run=True),
    Column("tool_version", "VARCHAR", "censorcheck's version.", per_run=True),
    Column("vantage", "VARCHAR", "The vantage the target was measured from."),
    Column("country", "VARCHAR", "The vantage's country, configured or detected."),
    Column("asn", "BIGINT", "The vantage's autonomous system, configured or detected."),
    Column("network_type", "VARCHAR", "home, mobile, vpn, ... as configured."),
    Column("url", "VARCHAR", "The target's URL."),
    Column("domain", "VARCHAR", "The target's host name."),
    Column("category", "VARCHAR", "Its Citizen Lab category code."),
    Column("started_at", "TIMESTAMP", "When the target's measurement started (UTC)."),
    Column("t", "DOUBLE", "Seconds the target took."),
    Column("status", "VARCHAR", "accessible, blocked, down or inconclusive."),
    Column("blocking", "VARCHAR", "dns, tcp, tls or http when blocked."),
    Column("outcome", "VARCHAR", "What happened, e.g. dns.nxdomain."),
    Column("confidence", "DOUBLE", "The verdict's confidence, 0 to 1."),
    Column("reason", "VARCHAR", "The verdict in one sentence."),
    Column("dns_failure", "VARCHAR", "Failure of the probe's first A query (null: answered)."),
    Column("dns_addresses", "VARCHAR[]", "Every address the probe's resolvers answered."),
    Column("tcp_failure", "VARCHAR", "The first connect failure, when no connection succeeded."),
    Column("tls_failure", "VARCHAR", "The first handshake failure, when none succeeded."),
    Column("http_status", "INTEGER", "Status of the last response of the redirect chain."),
    Column("http_failure", "VARCHAR", "Failure of the fetch's last hop."),
    Column("http_title", "VARCHAR", "The last page's title."),
    Column("http_body_length", "BIGINT", "Bytes of the last page's body."),
    Column("fingerprint", "VARCHAR", "The blockpage fingerprint matched, if any."),
    Column("control_source", "VARCHAR", "resolvers, server or vantage."),
    Column("control_failure", "VARCHAR", "Why the control failed, if it did."),
    Column("deadline_hit", "BOOLEAN", "The per-target deadline cut it short."),
    Column("error", "VARCHAR", "An internal error that cut the target short."),
    Column("quic_status", "VARCHAR", "The QUIC verdict's status (null: QUIC not tried)."),
    Column("quic_outcome", "VARCHAR", "The QUIC verdict's outcome, e.g. quic.sni_blocking."),
    Column("quic_confidence", "DOUBLE", "The QUIC verdict's confidence, 0 to 1."),
)
ROW_COLUMNS = tuple(c for c in COLUMNS if not c.per_run)
_ROWS_SCHEMA = ", ".join(f'"{c.name}" {c.type}' for c in ROW_COLUMNS)


@dataclass
class Sync:
    """What one look at the folders found."""

    files: int = 0  # run documents the results come from (all copies)
    read: int = 0  # files parsed this time (new or changed)
    skipped: list[str] = field(default_factory=list)  # "<path>: <why>" for each file left out
    index: Path | None = None  # the index file, or None when read into memory


def run_files(paths: Iterable[Path]) -> list[Path]:
    """The ``*.json`` files named or found under ``paths`` (folders are searched recursively,
    hidden folders skipped), each once, in a stable order."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".json") and not name.startswith("."):
                        found[Path(root, name).absolute()] = None
        elif path.is_file():
            found[path.absolute()] = None
        else:
            raise ConfigError(f"{path}: no such file or folder")
    return list(found)


def default_index(paths: Sequence[Path]) -> Path:
    """The index file for this set of folders, in the user's cache folder."""
    key = "\n".join(sorted(str(p.absolute()) for p in paths))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache.index_folder() / f"results-{digest}.duckdb"


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def iso_utc(moment: datetime) -> str:
    """A TIMESTAMP of the table (naive, UTC) as run documents write times."""
    return moment.isoformat(timespec="milliseconds") + "Z"


class Warehouse:
    """A DuckDB connection holding the ``results`` table for some folders or files.

    Use as a context manager. ``sync`` is what the look at the folders found.
    """

    def __init__(self, paths: Sequence[Path], index: Path | bool | None = True) -> None:
        """``index``: True for the default index file, a path for another, False for none."""
        files = run_files(paths)
        if not files:
            shown = ", ".join(str(p) for p in paths)
            raise ConfigError(f"{shown}: no run documents (*.json) found")
        self.con, where = self._connect(paths, index)
        self.sync = Sync(index=where)
        try:
            self._refresh(files)
        except BaseException:
            self.con.close()
            raise

    @classmethod
    def over(cls, con: duckdb.DuckDBPyConnection, files: int) -> Warehouse:
        """A warehouse on a connection whose ``results`` view the caller made (an exported
        dataset: nothing to index)."""
        wh = cls.__new__(cls)
        wh.con, wh.sync = con, Sync(files=files)
        return wh

    def _connect(
        self, paths: Sequence[Path], index: Path | bool | None
    ) -> tuple[duckdb.DuckDBPyConnection, Path | None]:
        if index is False or index is None:
            return quiet(duckdb.connect()), None
        where = default_index(paths) if index is True else Path(index)
        try:
            cache.private_folder(where.parent)
            if index is True:
                cache.prune(where.parent, cache.AUTO_MAX_AGE_DAYS, cache.AUTO_MAX_BYTES, where)
            con = duckdb.connect(str(where))
            cache.private_files(where)
        except (OSError, duckdb.Error):
            # Held by another censorcheck, or the cache is read-only: same answers, slower.
            return quiet(duckdb.connect()), None
        quiet(con)
        try:
            found = con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except duckdb.CatalogException:
            found = None
        if found is None or found[0] != INDEX_VERSION:
            for kind in ("VIEW", "TABLE"):  # older indexes kept the results as a table
                with suppress(duckdb.CatalogException):
                    con.execute(f"DROP {kind} IF EXISTS results")
            for table in ("rows", "files", "meta"):
                con.execute(f"DROP TABLE IF EXISTS {table}")
        return con, where

    def _refresh(self, files: Sequence[Path]) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", [INDEX_VERSION])
        con.execute(
            "CREATE TABLE IF NOT EXISTS files (file VARCHAR PRIMARY KEY, id INTEGER, "
            "size BIGINT, mtime_ns BIGINT, problem VARCHAR, run_id VARCHAR, "
            "run_started_at TIMESTAMP, schema_version VARCHAR, rules_version VARCHAR, "
            "tool_version VARCHAR)"
        )
        con.execute(f"CREATE TABLE IF NOT EXISTS rows (file_id INTEGER, {_ROWS_SCHEMA})")
        known = {
            file: (size, mtime)
            for file, size, mtime in con.execute(
                "SELECT file, size, mtime_ns FROM files"
            ).fetchall()
        }
        current: dict[str, tuple[int, int]] = {}
        for path in files:
            with suppress(OSError):
                st = path.stat()
                current[str(path)] = (st.st_size, st.st_mtime_ns)
        stale = [f for f, stamp in known.items() if current.get(f) != stamp]
        fresh = [Path(f) for f, stamp in current.items() if known.get(f) != stamp]
        if stale:
            with _transaction(con):
                con.execute("CREATE TEMP TABLE gone (file VARCHAR)")
                con.executemany("INSERT INTO gone VALUES (?)", [[f] for f in stale])
                con.execute(
                    "DELETE FROM rows WHERE file_id IN "
                    "(SELECT id FROM files WHERE file IN (SELECT file FROM gone))"
                )
                con.execute("DELETE FROM files WHERE file IN (SELECT file FROM gone)")
                con.execute("DROP TABLE gone")
        for start in range(0, len(fresh), _BATCH):
            self._read(fresh[start : start + _BATCH], current)
        # Copies of one run (folders gathered from many machines) count once. Where copies
        # differ, the one judged by the newest rules wins (a reanalyzed run keeps its run_id),
        # then the newest file. A view, not a table: a join with the small files table costs a
        # query milliseconds, where a second copy of a million rows costs seconds.
        values = ", ".join(f"{'f' if c.per_run else 'r'}.{c.name}" for c in COLUMNS)
        con.execute(
            f"CREATE OR REPLACE VIEW results AS SELECT {values} FROM rows AS r "
            "JOIN files AS f ON r.file_id = f.id WHERE f.id IN "
            "(SELECT arg_max(id, (coalesce(try_cast(rules_version AS INTEGER), 0), mtime_ns, "
            "file)) FROM files WHERE problem IS NULL GROUP BY run_id)"
        )
        self.sync.read = len(fresh)
        self.sync.files = 0
        for file, problem in con.execute(
            "SELECT file, problem FROM files ORDER BY file"
        ).fetchall():
            if problem is None:
                self.sync.files += 1
            else:
                self.sync.skipped.append(f"{file}: {problem}")

    def _read(self, files: Sequence[Path], stamps: dict[str, tuple[int, int]]) -> None:
        """Index ``files``: parsed to CSV (by worker processes when there are many), then
        loaded by DuckDB in one statement."""
        first = self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM files").fetchone()
        start = int(first[0]) if first else 1
        numbered = [(start + i, str(f)) for i, f in enumerate(files)]
        with tempfile.TemporaryDirectory(prefix="censorcheck-index-") as tmp:
            shares = _shares(numbered)
            outs = [str(Path(tmp, f"{i}.csv")) for i in range(len(shares))]
            if len(shares) == 1:
                seen = rowreader.to_csv(shares[0], outs[0])
            else:
                with ProcessPoolExecutor(len(shares)) as pool:
                    done = pool.map(rowreader.to_csv, shares, outs)
                    seen = [item for part in done for item in part]
            try:
                self._load(outs, seen, stamps)
            except duckdb.Error as exc:
                # A value the table cannot hold slipped past rowreader's checks: find the
                # file by halves and skip it, rather than fail the whole folder.
                if len(files) > 1:
                    half = len(files) // 2
                    self._read(files[:half], stamps)
                    self._read(files[half:], stamps)
                    return
                problem = f"not a censorcheck run document ({str(exc).splitlines()[0]})"
                self._load([], [rowreader.Seen(numbered[0][0], numbered[0][1], problem)], stamps)

    def _load(
        self,
        outs: Sequence[str],
        seen: Sequence[rowreader.Seen],
        stamps: dict[str, tuple[int, int]],
    ) -> None:
        """The rows of ``outs`` and the files of ``seen`` into the index, all or nothing."""
        with _transaction(self.con):
            written = [out for out in outs if os.path.getsize(out) > 0]
            if written:  # DuckDB refuses a CSV file without a line
                self.con.execute(f"INSERT INTO rows {_from_csv(written)}")
            # A file that could not be read now is read again next time: no size, no time.
            records = [
                (r.file, r.id, *((-1, -1) if r.retry else stamps[r.file]), *r.fields())
                for r in seen
            ]
            if records:
                # One statement for the lot: a statement per file costs a second per 2,000.
                columns = [list(c) for c in zip(*records, strict=True)]
                unnests = ", ".join(
                    f"unnest(${i + 1})::TIMESTAMP" if i == _STARTED else f"unnest(${i + 1})"
                    for i in range(len(columns))
                )
                self.con.execute(f"INSERT OR REPLACE INTO files SELECT {unnests}", columns)

    # --- use ------------------------------------------------------------------------------

    def read_only(self) -> None:
        """Reopen the index read-only: what a user's SQL runs on can then not change it."""
        if self.sync.index is None:
            return
        self.con.close()
        try:
            self.con = quiet(duckdb.connect(str(self.sync.index), read_only=True))
        except duckdb.Error:
            raise ConfigError(
                f"the results index {self.sync.index} is busy (another censorcheck took it); "
                "try again, or give --no-index"
            ) from None

    def sql(self, query: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyRelation:
        return self.con.sql(query, params=params)

    def rows(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    def close(self) -> None:
        self.con.close()
        if self.sync.index is not None:
            with suppress(OSError):
                cache.private_files(self.sync.index)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """No progress bar on the user's terminal: the commands print their own output."""
    con.execute("SET enable_progress_bar = false")
    with suppress(duckdb.Error):  # without the ICU extension there is no other zone anyway
        con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _shares(files: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """``files`` split between the worker processes (one share: no workers)."""
    workers = max(1, min(os.cpu_count() or 1, len(files) // _PER_WORKER))
    return [files[i::workers] for i in range(workers)]


def _from_csv(paths: Sequence[str]) -> str:
    """A SELECT of the rows in the CSV files ``rowreader`` wrote, typed as the table."""
    listed = ", ".join(sql_string(p) for p in paths)
    types = {"file_id": "INTEGER"}
    types.update((c.name, "VARCHAR" if c.type == "VARCHAR[]" else c.type) for c in ROW_COLUMNS)
    spec = "{" + ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in types.items()) + "}"
    values = ["file_id"]
    for c in ROW_COLUMNS:
        if c.type == "VARCHAR[]":
            values.append(
                f"list_filter(string_split({c.name}, ' '), lambda x: x <> '') AS {c.name}"
            )
        else:
            values.append(c.name)
    return f"""
        SELECT {", ".join(values)} FROM read_csv([{listed}], columns = {spec}, header = false,
            nullstr = {sql_string(rowreader.NULL)}, quote = '"', escape = '"', delim = ',')
    """
