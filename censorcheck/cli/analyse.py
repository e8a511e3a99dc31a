"""What analysts do with run documents already on disk, none of it on the network: ``diff``,
``history``, ``query``, ``report``, ``export`` and ``reanalyze``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from censorcheck.cli.common import Opt, app, log, table_console, user_errors
from censorcheck.errors import ConfigError
from censorcheck.results.store import read_run, write_run

# DuckDB and the analysis modules load only in the command that uses them, so that every other
# command (and --help) starts quickly.
if TYPE_CHECKING:
    from censorcheck.results.diff import DiffReport, Seen
    from censorcheck.results.history import Period
    from censorcheck.results.warehouse import Warehouse

_STATUS_STYLE = {
    "accessible": "green",
    "blocked": "bold red",
    "down": "yellow",
    "inconclusive": "cyan",
}
_SHOWN_ROWS = 200
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


_KIND_STYLE = {
    "newly_blocked": "bold red",
    "quic_newly_blocked": "bold red",
    "unblocked": "green",
    "quic_unblocked": "green",
    "added": "cyan",
    "removed": "dim",
}


def _verdict(seen: Seen | None) -> str:
    if seen is None:
        return "-"
    quic = f"\nQUIC: {seen.quic_status} {seen.quic_outcome}" if seen.quic_status else ""
    return f"{seen.status} {seen.outcome} {seen.confidence:.2f}{quic}"


def diff_table(report: DiffReport) -> Table:
    table = Table(title=f"censorcheck diff · {report.compared} (target, vantage) pairs compared")
    table.add_column("change", no_wrap=True)
    table.add_column("target", overflow="fold", max_width=40)
    table.add_column("vantage", no_wrap=True)
    table.add_column("before", overflow="fold")
    table.add_column("after", overflow="fold")
    for c in report.changes:
        style = _KIND_STYLE.get(c.kind, "yellow")
        table.add_row(
            f"[{style}]{c.kind}[/]", c.url, c.vantage, _verdict(c.before), _verdict(c.after)
        )
    from censorcheck.results.diff import KINDS

    counts = [f"{kind} {report.counts[kind]}" for kind in KINDS if report.counts[kind]]
    table.caption = ", ".join(counts) or "no changes"
    return table


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="Old run document, or a folder of them.")],
    new: Annotated[Path, typer.Argument(help="New run document, or a folder of them.")],
    json_out: Annotated[bool, Opt("--json", help="Print the diff as JSON on stdout.")] = False,
    no_index: NoIndex = False,
) -> None:
    """What changed per (target, vantage) between two runs or folders (exit 1: newly blocked)."""
    with user_errors():
        from censorcheck.results.diff import diff_sides, load_side

        before, after = load_side(old, not no_index), load_side(new, not no_index)
    for line in before.skipped + after.skipped:
        log(f"warning: skipped {line}")
    report = diff_sides(before, after)
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        table_console().print(diff_table(report))
    raise typer.Exit(1 if report.became_blocked else 0)


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


def history_table(found: list[Period], title: str) -> Table:
    table = Table(title=title)
    for column in ("target", "vantage", "status", "outcome", "from", "to", "runs"):
        table.add_column(column, overflow="fold", justify="right" if column == "runs" else "left")
    for p in found[:_SHOWN_ROWS]:
        style = _STATUS_STYLE[p.status]
        now = " (now)" if p.current else ""
        table.add_row(
            p.url,
            p.vantage,
            f"[{style}]{p.status}[/]{now}",
            p.outcome + (f"\nQUIC: {p.quic_status} {p.quic_outcome}" if p.quic_status else ""),
            _when(p.first_seen),
            _when(p.last_seen),
            str(p.runs),
        )
    if len(found) > _SHOWN_ROWS:
        table.caption = f"first {_SHOWN_ROWS} of {len(found)} periods; --json for all"
    return table


@app.command()
def history(
    folders: Folders,
    target: Annotated[
        str | None, Opt("--target", "-t", help="A domain or URL: its whole timeline.")
    ] = None,
    vantage: Annotated[str | None, Opt(help="Only this vantage.")] = None,
    json_out: Annotated[bool, Opt("--json", help="Print the periods as JSON on stdout.")] = False,
    no_index: NoIndex = False,
) -> None:
    """Since when each verdict holds: periods of one verdict per (target, vantage).

    With --target, every period of that target; without, the current one of every target.
    """
    with user_errors(), _open(folders, no_index) as wh:
        from censorcheck.results.history import periods

        found = periods(wh, target, vantage, current_only=target is None)
        if not found:
            what = f"target {target}" if target else "results"
            raise ConfigError(f"no {what} in {', '.join(map(str, folders))}")
    if json_out:
        sys.stdout.write(json.dumps([p.model_dump(mode="json") for p in found], indent=2) + "\n")
        return
    title = f"history of {target}" if target else "current verdicts, and since when"
    table_console().print(history_table(found, f"censorcheck {title}"))


@app.command()
def query(
    folder: Annotated[Path, typer.Argument(help="A folder of run documents (or one file).")],
    sql: Annotated[str, typer.Argument(help="SQL over the table 'results' (DuckDB's dialect).")],
    output_format: Annotated[
        str, Opt("--format", "-f", help="table, json (an array of objects) or csv.")
    ] = "table",
    no_index: NoIndex = False,
) -> None:
    """Run SQL over every result of the run documents (table 'results'; see the README)."""
    if output_format not in ("table", "json", "csv"):
        raise typer.BadParameter("table, json or csv", param_hint="--format")
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
    if output_format == "json":
        records = [dict(zip(names, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
    elif output_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    else:
        table = Table(title=f"{len(rows)} rows")
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows[:_SHOWN_ROWS]:
            table.add_row(*("" if v is None else str(v) for v in row))
        if len(rows) > _SHOWN_ROWS:
            table.caption = f"first {_SHOWN_ROWS} rows; --format csv or json for all"
        table_console().print(table)


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="A folder of run documents (or one file).")],
    output_format: Annotated[str, Opt("--format", "-f", help="csv, parquet or ooni (JSONL).")],
    output: Annotated[Path, Opt("--output", "-o", help="Folder the export is written to.")],
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

    chosen = [f for f in exporting.FORMATS if f == output_format]
    if not chosen:
        raise typer.BadParameter("csv, parquet or ooni", param_hint="--format")
    fmt = chosen[0]
    with user_errors(), _open([folder], no_index) as wh:
        skipped: list[str] = []
        if shape not in ("results", "observations"):
            raise ConfigError(f"--shape {shape}: results or observations")
        path, count = exporting.export(
            wh, fmt, output, skipped, "observations" if shape == "observations" else "results",
            partitioned,
        )  # fmt: skip
    for line in skipped:
        log(f"warning: left out {line}")
    log(f"{count} {'measurements' if fmt == 'ooni' else 'rows'} written to {path}")


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
        if html_out is not None:
            write_text(reporting.html(data), html_out)
            log(f"report written to {html_out}")
    if markdown_out:
        sys.stdout.write(reporting.markdown(data))
