"""The top-level command group, which imports a command's module only when that command is used.

``censorcheck --help`` lists every command from ``COMMANDS`` (name, module, first paragraph of
its help) without importing one; running or asking for the help of a command imports its module,
which registers it on the typer app, and typer builds it then. So ``--help``, ``version`` and any
light command start without duckdb, httpx, pydantic models or the control client.
``tests/test_cli_startup.py`` checks that the texts here are the commands' own.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from typing import Any, NamedTuple

import typer
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer._click.formatting import HelpFormatter
from typer._click.shell_completion import CompletionItem
from typer.core import TyperCommand, TyperGroup, TyperOption


class Lazy(NamedTuple):
    module: str
    help: str


# In the order `censorcheck --help` and the manual page list them.
COMMANDS: dict[str, Lazy] = {
    "reanalyze": Lazy(
        "analyse", "Recompute every verdict of a run document with today's rules (no network)."
    ),
    "history": Lazy(
        "analyse",
        "Since when each verdict holds: periods of one verdict per (target, vantage).",
    ),
    "query": Lazy(
        "analyse",
        "Run SQL over every result of the run documents (table 'results'; see the README).",
    ),
    "export": Lazy(
        "analyse",
        "Export the results as CSV or Parquet (the README's columns) or OONI-style JSONL.",
    ),
    "report": Lazy(
        "analyse", "A report over many runs: an HTML page with charts, or a Markdown summary."
    ),
    "diff": Lazy(
        "diff",
        "What changed per (target, vantage) between two runs or folders, or per target between\n"
        "two vantages (exit 1: newly blocked).",
    ),
    "update-db": Lazy(
        "geo", "Fetch or refresh the offline IP-to-ASN-and-country table (IPtoASN, PDDL)."
    ),
    "lab": Lazy("lab", "Start the censorship lab alone and print how to point a run at it."),
    "man": Lazy(
        "manpage",
        "Print the manual page (roff): censorcheck man > censorcheck.1; man ./censorcheck.1.",
    ),
    "run": Lazy("run", "Measure targets and write the run document."),
    "demo": Lazy(
        "run",
        "Run the shipped Kazakhstan list against the built-in censorship lab (no Internet needed).",
    ),
    "dns-scan": Lazy(
        "scan",
        "Ask many resolvers about every domain and compare with the control (exit 1: blocked).",
    ),
    "schema": Lazy("", "Print the JSON Schema of the run document."),
    "version": Lazy("", "Print the version."),
    "cache": Lazy("cache", "The results index in the user's cache."),
    "control": Lazy("control", "The control server: an uncensored view."),
    "lists": Lazy("lists", "Target lists: fetch Citizen Lab's test lists."),
    "schedule": Lazy(
        "schedule", "Run censorcheck unattended: systemd user timers or crontab entries."
    ),
    "vantage": Lazy("vantage", "Vantage points: where a run measures from."),
}


class Listed(TyperCommand):
    """What a help listing or a completion shows of a command not yet imported."""


def _unset_flags_false(command: Command, ctx: Context) -> None:
    """An unset boolean flag (``--help``, typer's completion options) defaults to None, which
    typer coerces through pydantic, importing it (~0.1 s) in every command; False reads the same
    to their callbacks and skips that."""
    for param in command.get_params(ctx):
        if (
            isinstance(param, TyperOption)
            and param.is_flag
            and param.default is None
            and param.type_descriptor.annotation is bool
        ):
            param.default = False
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _unset_flags_false(sub, ctx)


def _module(lazy: Lazy) -> str:
    return f"censorcheck.cli.{lazy.module}" if lazy.module else "censorcheck.cli"


class LazyGroup(TyperGroup):
    """A ``TyperGroup`` whose commands are built from ``COMMANDS`` only when asked for."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        lazy = COMMANDS.get(cmd_name)
        if cmd_name not in self.commands and lazy is not None:
            if self._listing:
                return Listed(cmd_name, help=lazy.help)
            self.commands[cmd_name] = self._load(cmd_name, lazy)
        command = self.commands.get(cmd_name)
        if command is not None:
            _unset_flags_false(command, ctx)
        return command

    def _load(self, name: str, lazy: Lazy) -> Command:
        """Import the command's module (it registers the command on the app) and build it."""
        from censorcheck.cli.common import app

        importlib.import_module(_module(lazy))
        for info in app.registered_commands:
            if (
                info.callback is not None
                and (info.name or typer.main.get_command_name(info.callback.__name__)) == name
            ):
                return typer.main.get_command_from_info(
                    info,
                    pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=self.rich_markup_mode,
                )
        for group in app.registered_groups:
            if group.name == name:
                return typer.main.get_group_from_info(
                    group,
                    pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=self.rich_markup_mode,
                    suggest_commands=self.suggest_commands,
                )
        raise LookupError(f"{_module(lazy)} registers no command {name!r}")

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        # typer suggests close names from the commands built so far; here, from them all.
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as exc:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if self.suggest_commands and matches:
                names = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        _unset_flags_false(self, ctx)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        self._listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self._listing = False
