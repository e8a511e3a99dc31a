"""``lists update CC``: the current Citizen Lab test lists (global and a country's) in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from censorcheck.cli.common import Opt, app, log, user_errors

lists_app = typer.Typer(no_args_is_help=True, help="Target lists: fetch Citizen Lab's test lists.")
app.add_typer(lists_app, name="lists")


@lists_app.command()
def update(
    country: Annotated[str, typer.Argument(help="Two-letter country code, e.g. KZ.")],
    url: Annotated[
        str | None,
        Opt(
            envvar="CENSORCHECK_LISTS_URL",
            show_envvar=True,
            help="Where the lists are (a folder URL holding global.csv, kz.csv, ...); default: "
            "citizenlab/test-lists on GitHub.",
        ),
    ] = None,
    folder: Annotated[Path, Opt("--folder", help="Where the lists are written.")] = Path("targets"),
    timeout: Annotated[float, Opt(help="Seconds allowed for each download.", min=1)] = 30.0,
) -> None:
    """Fetch the global list and the country's into FOLDER (global.csv, cc.csv)."""
    from censorcheck.measure import testlists

    with user_errors():
        fetched = testlists.update(
            country, folder, url or testlists.DEFAULT_URL, timeout, lambda r: log(f"warning: {r}")
        )
    for item in fetched:
        skipped = f", {item.skipped} rows a run will skip" if item.skipped else ""
        log(f"{item.path}: {item.targets} targets from {item.url}{skipped}")
