"""``diff`` and ``reanalyze``: what analysts do with run documents already on disk (no network)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from censorcheck.cli.common import Opt, app, log, user_errors
from censorcheck.diff import KINDS, DiffReport, Seen, diff_sides, load_side
from censorcheck.reanalyze import reanalyze as rejudge
from censorcheck.store import read_run, write_run

_KIND_STYLE = {"newly_blocked": "bold red", "unblocked": "green", "added": "cyan", "removed": "dim"}


def _verdict(seen: Seen | None) -> str:
    return f"{seen.status} {seen.outcome} {seen.confidence:.2f}" if seen else "-"


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
    counts = [f"{kind} {report.counts[kind]}" for kind in KINDS if report.counts[kind]]
    table.caption = ", ".join(counts) or "no changes"
    return table


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="Old run document, or a folder of them.")],
    new: Annotated[Path, typer.Argument(help="New run document, or a folder of them.")],
    json_out: Annotated[bool, Opt("--json", help="Print the diff as JSON on stdout.")] = False,
) -> None:
    """What changed per (target, vantage) between two runs or folders (exit 1: newly blocked)."""
    with user_errors():
        before, after = load_side(old), load_side(new)
    for line in before.skipped + after.skipped:
        log(f"warning: skipped {line}")
    report = diff_sides(before, after)
    if json_out:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        Console().print(diff_table(report))
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
