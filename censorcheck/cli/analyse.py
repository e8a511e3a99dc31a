"""What analysts do with run documents already on disk, none of it on the network: ``diff``,
``history``, ``query``, ``report``, ``export`` and ``reanalyze``."""

from __future__ import annotations

import csv
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from censorcheck.cli.common import Opt, app, log, user_errors
from censorcheck.cli.text import (
    FORMAT_HELP,
    Format,
    console,
    joined,
    literal,
    write_json,
    write_tsv,
)
from censorcheck.cli.text import table as text_table
from censorcheck.errors import ConfigError

# DuckDB and the analysis modules load only in the command that uses them, so that every other
# command (and --help) starts quickly.
if TYPE_CHECKING:
    from censorcheck.results.dataset import Shape
    from censorcheck.results.export import Format as ExportFormatName
    from censorcheck.results.history import Period
    from censorcheck.results.warehouse import Warehouse

_STATUS_STYLE = {
    "accessible": "green",
    "blocked": "bold red",
    "down": "yellow",
    "inconclusive": "cyan",
}
_SHOWN_ROWS = 200


class ExportFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"
    ooni = "ooni"


class QueryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    tsv = "tsv"


NoIndex = Annotated[
    bool,
    Opt("--no-index", help="Read every document afresh instead of the cached results index."),
]
Folders = Annotated[list[Path], typer.Argument(help="Folders of run documents (or files).")]


def _open(paths: list[Path], no_index: bool) -> Warehouse:
    from censorcheck.results import dataset
    from censorcheck.results.warehouse import Warehouse

    exported = dataset.parquet_input(paths)
    if exported is not None:  # a Parquet export (a hive dataset too) in place of documents
        return dataset.open_dataset(exported)
    wh = Warehouse(paths, index=not no_index)
    for line in wh.sync.skipped:
        log(f"warning: skipped {line}")
    if wh.sync.files == 0:
        wh.close()
        raise ConfigError(f"{', '.join(map(str, paths))}: no run documents among the files")
    return wh


@app.command()
def reanalyze(
    run_file: Annotated[Path, typer.Argument(help="The run document to re-judge.")],
    output: Annotated[
        str, Opt("--output", "-o", help="Where the re-judged document goes; '-' for stdout.")
    ],
) -> None:
    """Recompute every verdict of a run document with today's rules (no network)."""
    with user_errors():
        from censorcheck.results.reanalyze import reanalyze as rejudge
        from censorcheck.results.store import read_run, write_run

        old = read_run(run_file)
        done = rejudge(old)
        if output == "-":
            sys.stdout.write(done.run.model_dump_json(indent=2) + "\n")
        else:
            write_run(done.run, Path(output))
    log(
        f"reanalyzed {len(done.run.results)} results with rules {done.run.rules_version} "
        f"(were {old.rules_version}): {len(done.changed)} verdicts changed"
    )


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


HISTORY_COLUMNS = ("target", "vantage", "status", "outcome", "from", "to", "runs")


def _history_row(p: Period) -> tuple[str, ...]:
    quic = f"\nQUIC: {p.quic_status} {p.quic_outcome}" if p.quic_status else ""
    now = " (now)" if p.current else ""
    return (p.url, p.vantage, p.status + now, p.outcome + quic, _when(p.first_seen),
            _when(p.last_seen), str(p.runs))  # fmt: skip


def history_table(found: list[Period], title: str) -> Table:
    table = Table(title=literal(title))
    for column in HISTORY_COLUMNS:
        wide = 10 if column in ("from", "to") else None  # a date, its time on the next line
        table.add_column(column, overflow="fold", width=wide,
                         justify="right" if column == "runs" else "left")  # fmt: skip
    for p in found[:_SHOWN_ROWS]:
        row = _history_row(p)
        status = joined((p.status, _STATUS_STYLE[p.status]), row[2][len(p.status) :])
        # A date and its time on lines of their own: a narrow column then never cuts either.
        when = [literal(cell.replace(" ", "\n")) for cell in row[4:6]]
        table.add_row(literal(row[0]), literal(row[1]), status, literal(row[3]), *when,
                      literal(row[6]))  # fmt: skip
    if len(found) > _SHOWN_ROWS:
        table.caption = literal(
            f"first {_SHOWN_ROWS} of {len(found)} periods; --format tsv for all"
        )
    return table


@app.command()
def history(
    folders: Folders,
    target: Annotated[
        str | None, Opt("--target", "-t", help="A domain or URL: its whole timeline.")
    ] = None,
    vantage: Annotated[str | None, Opt(help="Only this vantage.")] = None,
    output_format: Annotated[Format, Opt("--format", "-f", help=FORMAT_HELP)] = Format.table,
    json_out: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
    no_index: NoIndex = False,
) -> None:
    """Since when each verdict holds: periods of one verdict per (target, vantage).

    With --target, every period of that target; without, the current one of every target.
    """
    with user_errors(), _open(folders, no_index) as wh:
        from censorcheck.results.history import periods

        found = periods(wh, target, vantage, current_only=target is None)
        if not found:
            _nothing_for(target, folders)
    if json_out or output_format is Format.json:
        write_json([p.model_dump(mode="json") for p in found])
    elif output_format is Format.tsv:
        write_tsv(HISTORY_COLUMNS, map(_history_row, found))
    else:
        title = f"history of {target}" if target else "current verdicts, and since when"
        console().print(history_table(found, f"censorcheck {title}"))


def _nothing_for(target: str | None, folders: list[Path]) -> NoReturn:
    """A target that no run measured is most often a typing mistake: ``history`` and ``report``
    both say so and exit 2, rather than print an empty answer that looks like news."""
    what = f"target {target}" if target else "results"
    raise ConfigError(f"no {what} in {', '.join(map(str, folders))} (no run measured it)")


@app.command()
def query(
    folder: Annotated[Path, typer.Argument(help="A folder of run documents (or one file).")],
    sql: Annotated[str, typer.Argument(help="SQL over the table 'results' (DuckDB's dialect).")],
    output_format: Annotated[
        QueryFormat, Opt("--format", "-f", help="table, json (an array of objects), csv or tsv.")
    ] = QueryFormat.table,
    no_index: NoIndex = False,
) -> None:
    """Run SQL over every result of the run documents (table 'results'; see the README)."""
    import duckdb

    with user_errors(), _open([folder], no_index) as wh:
        try:
            wh.read_only()
            relation = wh.sql(sql)
            if relation is None:
                raise ConfigError("the SQL statement returned no rows to show")
            names = list(relation.columns)
            rows = relation.fetchall()
        except duckdb.Error as exc:
            raise ConfigError(f"SQL: {str(exc).strip().splitlines()[0]}") from None
    if output_format is QueryFormat.json:
        write_json([dict(zip(names, row, strict=True)) for row in rows])
    elif output_format is QueryFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    elif output_format is QueryFormat.tsv:
        write_tsv(names, rows)
    else:
        more = f"first {_SHOWN_ROWS} rows; --format tsv or json for all"
        table = text_table(f"{len(rows)} rows", names, more if len(rows) > _SHOWN_ROWS else None)
        for row in rows[:_SHOWN_ROWS]:
            table.add_row(*(literal(v) for v in row))
        console().print(table)


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="A folder of run documents (or one file).")],
    output: Annotated[
        str,
        Opt(
            "--output",
            "-o",
            help="A file ending .csv, .parquet or .jsonl; a folder (results.csv ... inside); "
            "or '-' for stdout (CSV or OONI JSONL).",
        ),
    ],
    output_format: Annotated[
        ExportFormat | None,
        Opt("--format", "-f", help="csv, parquet or ooni (JSONL); default: the file's suffix."),
    ] = None,
    no_index: NoIndex = False,
    shape: Annotated[
        str, Opt(help="results (the README's columns) or observations (OONI's obs_web).")
    ] = "results",
    partitioned: Annotated[
        bool, Opt("--partitioned", help="A hive-partitioned Parquet dataset (date, vantage).")
    ] = False,
) -> None:
    """Export the results as CSV or Parquet (the README's columns) or OONI-style JSONL."""
    from censorcheck.results import export as exporting

    with user_errors():
        if shape not in ("results", "observations"):
            raise ConfigError(f"--shape {shape}: results or observations")
        to_stdout = output == "-"
        by_name = None if to_stdout else exporting.format_of(Path(output))
        given = next((f for f in exporting.FORMATS if output_format == f), None)
        if given is not None and by_name is not None and given != by_name:
            raise ConfigError(f"--output {output}: the name says {by_name}, --format says {given}")
        fmt: ExportFormatName | None = given or by_name
        if fmt is None:
            raise ConfigError(
                "--format: give csv, parquet or ooni (or an --output file ending .csv, "
                ".parquet or .jsonl)"
            )
        if to_stdout and fmt == "parquet":
            raise ConfigError("--output -: Parquet is binary; write it to a file (-o x.parquet)")
        whole = shape == "results" and not partitioned
        if not whole and (to_stdout or by_name is not None):
            raise ConfigError(
                f"--output {output}: --shape observations and --partitioned write into a folder"
            )
        with _open([folder], no_index) as wh:
            skipped: list[str] = []
            if to_stdout:
                count = _export_to_stdout(wh, fmt, skipped)
                where = "stdout"
            elif by_name is not None:
                count = exporting.export_file(wh, fmt, Path(output), skipped)
                where = output
            else:
                shaped: Shape = "observations" if shape == "observations" else "results"
                path, count = exporting.export(wh, fmt, Path(output), skipped, shaped, partitioned)
                where = str(path)
    for line in skipped:
        log(f"warning: left out {line}")
    log(f"{count} {'measurements' if fmt == 'ooni' else 'rows'} written to {where}")


def _export_to_stdout(wh: Warehouse, fmt: ExportFormatName, skipped: list[str]) -> int:
    """The export written to a private temporary file, then copied to stdout: the same bytes
    as ``-o FILE`` would hold."""
    import shutil
    import tempfile

    from censorcheck.results import export as exporting

    with tempfile.TemporaryDirectory(prefix="censorcheck-export-") as tmp:
        path = Path(tmp) / exporting.FILE_NAMES[fmt]
        count = exporting.export_file(wh, fmt, path, skipped)
        with open(path, "rb") as f:
            sys.stdout.flush()
            shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    return count


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A folder of run documents (or one file).")],
    html_out: Annotated[
        Path | None, Opt("--html", help="Write a self-contained HTML page here.")
    ] = None,
    markdown_out: Annotated[
        bool, Opt("--markdown", help="Print a Markdown summary on stdout.")
    ] = False,
    target: Annotated[str | None, Opt("--target", "-t", help="Only this domain or URL.")] = None,
    buckets: Annotated[int, Opt(help="Most time columns in the grid.", min=1, max=500)] = 60,
    no_index: NoIndex = False,
) -> None:
    """A report over many runs: an HTML page with charts, or a Markdown summary."""
    from censorcheck.results import report as reporting
    from censorcheck.results.store import write_text

    if html_out is None and not markdown_out:
        raise typer.BadParameter("give --html FILE, --markdown or both", param_hint="--html")
    with user_errors():
        with _open([folder], no_index) as wh:
            data = reporting.collect(wh, buckets=buckets, target=target)
            if target is not None and not data.totals.results:
                _nothing_for(target, [folder])
        if html_out is not None:
            write_text(reporting.html(data), html_out)
            log(f"report written to {html_out}")
    if markdown_out:
        sys.stdout.write(reporting.markdown(data))
