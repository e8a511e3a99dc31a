"""Text from outside (the network, a file, the user) on its way to a terminal, and rows in the
three forms every listing command offers: a table, TSV or JSON.

Rich reads ``[...]`` in a string as markup and ``:name:`` as an emoji. A page title that a censor
wrote, a URL path or a SQL result must come out as it came in, so nothing from outside reaches
rich as a plain string: it goes through ``literal`` (a ``Text``, which rich never parses), or
``escape`` where rich insists on markup (typer's help). Consoles are made here, with emoji off.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from rich.console import Console
from rich.markup import escape as _escape_markup
from rich.table import Table
from rich.text import Text

# Off a terminal (a pipe, cron's mail, a CI log) rich would assume 80 columns; a table there gets
# room, and its columns fold, so that no line is cut.
PIPE_WIDTH = 160


class Format(str, Enum):
    table = "table"
    json = "json"
    tsv = "tsv"


FORMAT_HELP = "table (folds to fit), tsv (one row a line, nothing cut) or json."


def console(stderr: bool = False) -> Console:
    """A console that takes no emoji codes and, off a terminal, is wide enough for tables."""
    made = Console(stderr=stderr, emoji=False)
    return made if made.is_terminal else Console(stderr=stderr, emoji=False, width=PIPE_WIDTH)


def literal(value: object, style: str = "") -> Text:
    """``value`` as text that rich shows exactly: no markup, no emoji."""
    return Text("" if value is None else str(value), style=style)


def escape(value: str) -> str:
    """``value`` for a place where rich parses markup anyway (typer's help texts)."""
    return _escape_markup(value)


def joined(*parts: Text | str | tuple[str, str]) -> Text:
    """Pieces into one ``Text``: a ``(text, style)`` pair is styled, every string is literal."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(part[0], style=part[1])
        else:
            out.append(part)
    return out


def table(title: object, columns: Sequence[str], caption: object = None) -> Table:
    """A table whose every column folds: a long URL or reason wraps, it is never cut."""
    made = Table(title=literal(title), caption=None if caption is None else literal(caption))
    for name in columns:
        made.add_column(literal(name), overflow="fold")
    return made


def tsv_cell(value: object) -> str:
    """One TSV field: tabs, newlines and backslashes escaped as ``\\t``, ``\\n``, ``\\\\``."""
    text = "" if value is None else value.plain if isinstance(value, Text) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def write_tsv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A header line and one line per row on stdout."""
    out = sys.stdout
    out.write("\t".join(header) + "\n")
    for row in rows:
        out.write("\t".join(tsv_cell(v) for v in row) + "\n")
    out.flush()


def write_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (what is not JSON, a timestamp, as its string)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
