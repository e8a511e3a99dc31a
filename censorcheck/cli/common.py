"""What every command shares: the typer app, one-line errors, plain logs, the verdict table.

The ``cli`` package is the only part of censorcheck that imports typer or rich.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from censorcheck.errors import CensorcheckError, explain, where
from censorcheck.models import Run

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Measure Internet censorship: DNS, TCP, TLS and HTTP checks with blocking verdicts.",
)
stderr = Console(stderr=True)


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


def one_line(text: str) -> str:
    """``text`` with control characters (newlines included) shown as escapes: a message quotes
    what the user gave, which may hold any of them."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def fatal(message: str, code: int = 2) -> NoReturn:
    """One line, no traceback: what went wrong and, where possible, what to do."""
    # The message quotes user input: '[/]' in it would be a rich markup error, not text.
    stderr.print(
        f"[bold red]error:[/] {escape(one_line(message))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Translate the library's user-facing exceptions into one-line errors and exit codes."""
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


def _short(url: str) -> str:
    """``https://host/`` is shown as ``host``; anything else in full."""
    if url.startswith("https://") and url.count("/") == 3 and url.endswith("/"):
        return url[8:-1]
    return url


def table_console(to_stderr: bool = False) -> Console:
    """A console for tables. Off a terminal (a pipe, cron's mail, a CI log) Rich would assume 80
    columns and crop what does not fit; there the table gets room instead, so no line is cut."""
    console = Console(stderr=to_stderr)
    return console if console.is_terminal else Console(stderr=to_stderr, width=160)


def summary_table(run: Run) -> Table:
    if len(run.vantages) > 1:
        return grid_table(run)
    table = Table(title=f"censorcheck · vantage {run.vantage.name} · {len(run.results)} targets")
    # Only the confidence never wraps: on a narrow terminal every other column folds, so the
    # reason keeps its words instead of being cut at the edge.
    table.add_column("target", overflow="fold", max_width=28)
    table.add_column("verdict", overflow="fold")
    table.add_column("outcome", overflow="fold")
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1, min_width=16, overflow="fold")
    for r in run.results:
        v, q = r.verdict, r.quic_verdict
        # A QUIC finding is a second fact about the site, shown beside TCP's, not hidden in it.
        quic = f"\n[{_STYLE[q.status]}]QUIC {q.status}[/]" if q and q.status != v.status else ""
        table.add_row(
            _short(r.target.url),
            f"[{_STYLE[v.status]}]{v.status}[/]{quic}",
            v.outcome + (f"\n{q.outcome}" if quic and q else ""),
            f"{v.confidence:.2f}",
            v.reason + (f" QUIC: {q.reason}" if quic and q else ""),
        )
    table.caption = ", ".join(f"{k} {n}" for k, n in sorted(run.summary.by_status.items()))
    return table


def grid_table(run: Run) -> Table:
    """Targets down, vantages across: each cell the verdict and its outcome."""
    names = [v.name for v in run.vantages]
    table = Table(title=f"censorcheck · {len(names)} vantages · {len(run.results)} results")
    table.add_column("target", overflow="fold", max_width=40)
    for info in run.vantages:
        where = info.proxy or info.source_address or "direct"
        table.add_column(f"{info.name}\n[dim]{where}[/]", no_wrap=True)
    cells: dict[str, dict[str, str]] = {}
    for r in run.results:
        v = r.verdict
        text = f"[{_STYLE[v.status]}]{v.status}[/]"
        if v.outcome != "accessible":
            text += f" {v.outcome}"
        cells.setdefault(r.target.url, {})[r.vantage or names[0]] = text
    for url, row in cells.items():
        table.add_row(_short(url), *(row.get(name, "[dim]not measured[/]") for name in names))
    failed = [f"{info.name}: {info.failure}" for info in run.vantages if info.failure]
    counts = "; ".join(
        f"{name}: " + ", ".join(f"{k} {n}" for k, n in sorted(by.items()))
        for name, by in run.summary.by_vantage.items()
    )
    table.caption = "; ".join([counts, *failed])
    return table


Opt = typer.Option
