"""The command line: parse, call the library, render.

The ``cli`` package is the only part of censorcheck that imports typer or rich. Each module adds
its commands to the one typer ``app`` in ``common``; importing them here registers them.

May import: everything, the lab included (``censorcheck lab`` and ``demo`` start it). Nothing
imports ``cli``: the library is usable without a terminal.
"""

from __future__ import annotations

import json

from censorcheck import __version__
from censorcheck.cli import (  # noqa: F401 - registers the commands
    analyse,
    control,
    geo,
    lab,
    lists,
    run,
    scan,
    schedule,
    vantage,
)
from censorcheck.cli.common import app
from censorcheck.models import Run

__all__ = ["app", "main"]


@app.command()
def schema() -> None:
    """Print the JSON Schema of the run document."""
    print(json.dumps(Run.model_json_schema(), indent=2))


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    """The console script."""
    app()
