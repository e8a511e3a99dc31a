"""The command line: parse, call the library, render.

The ``cli`` package is the only part of censorcheck that imports typer or rich. Each module adds
its commands to the one typer ``app`` in ``common`` when imported; ``lazy`` imports a command's
module only when that command is used, so that ``--help`` and ``version`` start at once.

May import: everything, the lab included (``censorcheck lab`` and ``demo`` start it). Nothing
imports ``cli``: the library is usable without a terminal.
"""

from __future__ import annotations

import sys

import typer
from typer._click import exceptions as click  # typer's own click: its errors
from typer.core import TyperOption

from censorcheck import __version__
from censorcheck.cli.common import app, stderr
from censorcheck.cli.text import joined

__all__ = ["app", "main"]


@app.command()
def schema() -> None:
    """Print the JSON Schema of the run document."""
    import json

    from censorcheck.models import Run

    print(json.dumps(Run.model_json_schema(), indent=2))


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def usage_line(exc: click.UsageError) -> str:
    """A usage error as one line: the option at fault, what is wrong, where help is."""
    message = exc.format_message()
    if isinstance(exc, click.BadParameter) and (exc.param is not None or exc.param_hint):
        hint = exc.param_hint
        if hint is None:
            param = exc.param
            assert param is not None
            hint = param.opts[0] if isinstance(param, TyperOption) else param.name
        elif not isinstance(hint, str):
            hint = hint[0]
        # typer checks values with pydantic, whose messages start with the kind of error; a
        # list of choices reads better bare ('maybe' is not one of auto, on, off).
        detail = exc.message.removeprefix("Value error, ")
        head, sep, choices = detail.partition(" is not one of ")
        if sep:
            detail = f"{head}{sep}{choices.rstrip('.').replace(chr(39), '')}"
        message = (
            f"missing {hint}" if isinstance(exc, click.MissingParameter) else f"{hint}: {detail}"
        )
    message = " ".join(message.split()).rstrip(".")
    where = exc.ctx.command_path if exc.ctx is not None else "censorcheck"
    return f"{message[:1].lower()}{message[1:]} (see {where} --help)"


def main() -> None:
    """The console script: typer's parsing, with usage errors as one line and exit 2."""
    try:
        code = app(standalone_mode=False, prog_name="censorcheck")
    except click.NoArgsIsHelpError:
        # Bare `censorcheck` or a bare group: typer printed the help on building the error.
        sys.exit(0)
    except click.UsageError as exc:
        stderr.print(joined(("error:", "bold red"), " ", usage_line(exc)), soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        stderr.print(joined(("error:", "bold red"), " ", "interrupted"), soft_wrap=True)
        sys.exit(130)
    except click.ClickException as exc:
        stderr.print(joined(("error:", "bold red"), " ", exc.format_message()), soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
