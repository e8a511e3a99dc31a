"""``diff``: what changed between two sets of runs, or between two vantages' views."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from censorcheck.cli.common import Opt, app, log, user_errors
from censorcheck.cli.text import FORMAT_HELP, Format, console, joined, literal, write_tsv
from censorcheck.errors import ConfigError

if TYPE_CHECKING:
    from censorcheck.results.diff import DiffReport, Seen

_KIND_STYLE = {
    "newly_blocked": "bold red",
    "quic_newly_blocked": "bold red",
    "unblocked": "green",
    "quic_unblocked": "green",
    "added": "cyan",
    "removed": "dim",
}
TSV_COLUMNS = ("change", "url", "vantage", "before", "after")


def _verdict(seen: Seen | None, show_control: bool = False) -> str:
    if seen is None:
        return "-"
    quic = f"\nQUIC: {seen.quic_status} {seen.quic_outcome}" if seen.quic_status else ""
    # Only where the two sides differ: a change that may come from the control, not the network.
    control = f"\njudged with: {seen.control} control" if show_control else ""
    return f"{seen.status} {seen.outcome} {seen.confidence:.2f}{quic}{control}"


def diff_table(report: DiffReport, across: bool = False) -> Table:
    what = "targets" if across else "(target, vantage) pairs"
    table = Table(title=literal(f"censorcheck diff · {report.compared} {what} compared"))
    table.add_column("change", overflow="fold")
    table.add_column("target", overflow="fold", max_width=40)
    table.add_column("vantages" if across else "vantage", overflow="fold")
    table.add_column("before", overflow="fold")
    table.add_column("after", overflow="fold")
    for c in report.changes:
        style = _KIND_STYLE.get(c.kind, "yellow")
        table.add_row(
            joined((c.kind, style)),
            literal(c.url),
            literal(c.vantage),
            literal(_verdict(c.before, c.control_changed)),
            literal(_verdict(c.after, c.control_changed)),
        )
    from censorcheck.results.diff import KINDS

    counts = [f"{kind} {report.counts[kind]}" for kind in KINDS if report.counts[kind]]
    other = sum(c.control_changed for c in report.changes)
    counts += [f"{other} judged against another kind of control"] if other else []
    table.caption = literal(", ".join(counts) or "no changes")
    return table


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="Old run document, or a folder of them.")],
    new: Annotated[
        Path | None,
        typer.Argument(help="New run document, or a folder (optional with --across-vantages)."),
    ] = None,
    across_vantages: Annotated[
        bool,
        Opt(
            "--across-vantages",
            help="Compare the same targets seen from two vantages (one document with both, "
            "or one document each): the first vantage is 'before', the second 'after'.",
        ),
    ] = False,
    vantage: Annotated[
        list[str] | None,
        Opt(help="With --across-vantages: the two vantages, the baseline first (give it twice)."),
    ] = None,
    output_format: Annotated[Format, Opt("--format", "-f", help=FORMAT_HELP)] = Format.table,
    json_out: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
    no_index: Annotated[
        bool, Opt("--no-index", help="Read every document afresh instead of the results index.")
    ] = False,
) -> None:
    """What changed per (target, vantage) between two runs or folders, or per target between
    two vantages (exit 1: newly blocked)."""
    with user_errors():
        from censorcheck.results.diff import across_vantages as across
        from censorcheck.results.diff import diff_sides, load_side

        if new is None and not across_vantages:
            raise ConfigError("diff needs OLD and NEW (or one document with --across-vantages)")
        if vantage and not across_vantages:
            raise ConfigError("--vantage goes with --across-vantages")
        before = load_side(old, not no_index)
        after = load_side(new, not no_index) if new is not None else None
        for line in before.skipped + (after.skipped if after is not None else []):
            log(f"warning: skipped {line}")
        if across_vantages:
            before, after = across(before, after, vantage or [])
        assert after is not None
        report = diff_sides(before, after)
    if json_out or output_format is Format.json:
        import sys

        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    elif output_format is Format.tsv:
        rows = [(c.kind, c.url, c.vantage, _verdict(c.before, c.control_changed),
                 _verdict(c.after, c.control_changed)) for c in report.changes]  # fmt: skip
        write_tsv(TSV_COLUMNS, rows)
    else:
        console().print(diff_table(report, across_vantages))
    raise typer.Exit(1 if report.became_blocked else 0)
