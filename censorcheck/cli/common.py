"""What every command shares: the typer app, one-line errors, plain logs, the verdict table.

The ``cli`` package is the only part of censorcheck that imports typer or rich.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from censorcheck.cli import helpformat
from censorcheck.cli.lazy import LazyGroup
from censorcheck.cli.text import console, joined, literal
from censorcheck.errors import CensorcheckError, explain, where

if TYPE_CHECKING:
    from censorcheck.models import Result, Run

# Commands are imported when used (see ``lazy``), and typer's help formatter without what only
# Markdown help or a crash needs (see ``helpformat``): importing this module stays light.
helpformat.load()
app = typer.Typer(
    cls=LazyGroup,
    no_args_is_help=True,
    help="Measure Internet censorship: DNS, TCP, TLS and HTTP checks with blocking verdicts.",
)


def _print_version(value: bool) -> None:
    if value:
        from censorcheck import __version__

        print(f"censorcheck {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version."
    ),
) -> None:
    """Measure Internet censorship: DNS, TCP, TLS and HTTP checks with blocking verdicts."""


stderr = Console(stderr=True, emoji=False)


# settings.CONTROL_ENV and CONTROL_FORMS, for the help of `run` and `schedule install`: settings
# costs pydantic to import, which --help does not need (a test keeps the two equal).
CONTROL_ENV = "CENSORCHECK_CONTROL"
CONTROL_FORMS = "ooni, ooni:URL[,URL...], a server's http:// or https:// URL, vantage:NAME or none"


class FailOn(str, Enum):
    blocked = "blocked"
    down = "down"
    any = "any"
    never = "never"


class LockMode(str, Enum):
    wait = "wait"
    skip = "skip"


class IPv6Mode(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


class QuicMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


def log(message: str) -> None:
    """A plain line on stderr: no markup, no wrapping, so journald and CI logs keep it whole."""
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)


def skip_row(reason: str) -> None:
    """A bad row of a target list left out: one line, and the command goes on (as ``run``
    does without --strict)."""
    log(f"warning: {reason}; skipped")


def one_line(text: str) -> str:
    """``text`` with control characters (newlines included) shown as escapes: a message quotes
    what the user gave, which may hold any of them."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def fatal(message: str, code: int = 2) -> NoReturn:
    """One line, no traceback: what went wrong and, where possible, what to do."""
    # The message quotes user input: it goes to rich as plain text, on one line.
    stderr.print(
        joined(("error:", "bold red"), " ", one_line(message)), highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Translate the library's user-facing exceptions into one-line errors and exit codes."""
    from pydantic import ValidationError

    try:
        yield
    except CensorcheckError as exc:
        fatal(str(exc), exc.exit_code)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = where(first) or "value"
        fatal(f"--{place.replace('_', '-')}: {explain(first)}")


def parse_port_map(values: Sequence[str]) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for value in values:
        try:
            a, b = value.split("=", 1)
            mapping[int(a)] = int(b)
        except ValueError:
            fatal(f"--port-map {value!r}: expected URLPORT=PORT, e.g. 443=10443")
    return mapping


_STYLE = {"accessible": "green", "blocked": "bold red", "down": "yellow", "inconclusive": "cyan"}
SUMMARY_COLUMNS = ("url", "vantage", "status", "outcome", "confidence", "reason")


def _short(url: str) -> str:
    """``https://host/`` is shown as ``host``; anything else in full."""
    if url.startswith("https://") and url.count("/") == 3 and url.endswith("/"):
        return url[8:-1]
    return url


def table_console(to_stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or room enough off a terminal."""
    return console(stderr=to_stderr)


def shown(run: Run, problems_only: bool) -> list[Result]:
    """The results a listing shows: all, or (``--summary``) only those not accessible."""
    if not problems_only:
        return list(run.results)
    return [r for r in run.results if r.verdict.status != "accessible" or _quic_differs(r)]


def _quic_differs(r: Result) -> bool:
    return r.quic_verdict is not None and r.quic_verdict.status != r.verdict.status


def summary_rows(run: Run, problems_only: bool = False) -> list[tuple[str, ...]]:
    """One row per result, ``SUMMARY_COLUMNS``, for TSV."""
    rows: list[tuple[str, ...]] = []
    for r in shown(run, problems_only):
        v = r.verdict
        rows.append((r.target.url, r.vantage or run.vantage.name, v.status, v.outcome,
                     f"{v.confidence:.2f}", v.reason))  # fmt: skip
        q = r.quic_verdict
        if q is not None and _quic_differs(r):
            rows.append((r.target.url, r.vantage or run.vantage.name, f"quic {q.status}",
                         q.outcome, f"{q.confidence:.2f}", q.reason))  # fmt: skip
    return rows


def counts_line(run: Run) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(run.summary.by_status.items()))


def summary_table(run: Run, problems_only: bool = False) -> Table:
    """The verdicts of a run; with ``problems_only``, the counts and the targets not accessible."""
    if len(run.vantages) > 1:
        return grid_table(run, problems_only)
    results = shown(run, problems_only)
    title = f"censorcheck · vantage {run.vantage.name} · {len(run.results)} targets"
    if problems_only:
        title += f" · {len(results)} not accessible"
    table = Table(title=literal(title))
    # Only the confidence never wraps: on a narrow terminal every other column folds, so the
    # reason keeps its words instead of being cut at the edge.
    table.add_column("target", overflow="fold", max_width=28)
    table.add_column("verdict", overflow="fold")
    table.add_column("outcome", overflow="fold")
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1, min_width=16, overflow="fold")
    for r in results:
        v, q = r.verdict, r.quic_verdict
        # A QUIC finding is a second fact about the site, shown beside TCP's, not hidden in it.
        quic = q if q and q.status != v.status else None
        verdict = joined((v.status, _STYLE[v.status]))
        if quic is not None:
            verdict.append(f"\nQUIC {quic.status}", style=_STYLE[quic.status])
        table.add_row(
            literal(_short(r.target.url)),
            verdict,
            literal(v.outcome + (f"\n{quic.outcome}" if quic else "")),
            f"{v.confidence:.2f}",
            literal(v.reason + (f" QUIC: {quic.reason}" if quic else "")),
        )
    table.caption = literal(counts_line(run))
    return table


def grid_table(run: Run, problems_only: bool = False) -> Table:
    """Targets down, vantages across: each cell the verdict and its outcome."""
    names = [v.name for v in run.vantages]
    table = Table(
        title=literal(f"censorcheck · {len(names)} vantages · {len(run.results)} results")
    )
    table.add_column("target", overflow="fold", max_width=40)
    for info in run.vantages:
        where = info.proxy or info.source_address or "direct"
        table.add_column(joined(info.name, "\n", (where, "dim")), overflow="fold")
    cells: dict[str, dict[str, Text]] = {}
    # With problems_only a target stays when any vantage finds a problem, with every cell.
    kept = {r.target.url for r in shown(run, problems_only)}
    for r in (r for r in run.results if r.target.url in kept):
        v = r.verdict
        text = joined((v.status, _STYLE[v.status]))
        if v.outcome != "accessible":
            text.append(f" {v.outcome}")
        cells.setdefault(r.target.url, {})[r.vantage or names[0]] = text
    for url, row in cells.items():
        missing = literal("not measured", "dim")
        table.add_row(literal(_short(url)), *(row.get(name, missing) for name in names))
    failed = [f"{info.name}: {info.failure}" for info in run.vantages if info.failure]
    counts = "; ".join(
        f"{name}: " + ", ".join(f"{k} {n}" for k, n in sorted(by.items()))
        for name, by in run.summary.by_vantage.items()
    )
    table.caption = literal("; ".join([counts, *failed]))
    return table


Opt = typer.Option
