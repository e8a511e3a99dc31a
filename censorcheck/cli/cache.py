"""``censorcheck cache prune``: keep the results index small (it is a cache: nothing is lost)."""

from __future__ import annotations

from typing import Annotated

import typer

from censorcheck.cli.common import Opt, app, log
from censorcheck.results import cache

cache_app = typer.Typer(no_args_is_help=True, help="The results index in the user's cache.")
app.add_typer(cache_app, name="cache")


@cache_app.command()
def prune(
    older_than: Annotated[
        float, Opt(help="Delete indexes unused for more than DAYS (0: every one).", min=0)
    ] = cache.AUTO_MAX_AGE_DAYS,
    max_size: Annotated[
        float, Opt(help="Then delete the least recently used until the rest fits in MB.", min=0)
    ] = cache.AUTO_MAX_BYTES / 2**20,
) -> None:
    """Delete results indexes by age, then by size (each use of the index also does this with
    the defaults); the next use rebuilds what it needs from the run documents."""
    folder = cache.index_folder()
    if not folder.is_dir():
        log(f"nothing to prune: {folder} does not exist")
        return
    done = cache.prune(folder, older_than, int(max_size * 2**20))
    log(f"removed {len(done.removed)} index files ({done.freed / 2**20:.1f} MB) from {folder}; "
        f"{done.kept / 2**20:.1f} MB left")  # fmt: skip
