"""``lab``: the censorship lab on its own, with the commands that point a run at it."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from censorcheck.cli.common import Opt, app, fatal, stderr, user_errors


@app.command()
def lab(
    network: Annotated[str, Opt(help="A /24 inside 127.0.0.0/8 for the lab.")] = "127.77.0.0/24",
    workdir: Annotated[Path | None, Opt(help="Folder for the CA bundle and target list.")] = None,
) -> None:
    """Start the censorship lab alone and print how to point a run at it."""
    from censorcheck.lab import Lab, Topology
    from censorcheck.lab.files import write_run_files
    from censorcheck.measure.running import run_blocking

    try:
        Topology(network, entries=[])  # check the network before anything is created
    except ValueError as exc:
        fatal(f"--network {network}: {exc}")

    async def serve() -> None:
        folder = workdir or Path.cwd() / "lab"
        folder.mkdir(parents=True, exist_ok=True)
        the_lab = Lab(network, workdir=folder)
        try:
            await the_lab.start()
        except OSError as exc:
            fatal(f"cannot start the lab on {network}: {exc.strerror or exc}")
        targets = write_run_files(the_lab, folder)["lab-targets.txt"]
        print(f"lab running on {network}; Ctrl-C to stop")
        print(f"censored view: censorcheck run {targets} {the_lab.command(censored=True)}")
        print(f"free view:     censorcheck run {targets} {the_lab.command(censored=False)}")
        topo = the_lab.topology
        both = ["--vantage-file", str(folder / "vantages.yaml"), "--vantage", "lab-censored"]
        both += ["--vantage", "lab-proxy", "--ca-bundle", str(the_lab.ca_bundle)]
        both += ["--control-resolver", f"tcp://{topo.honest_resolver}:{topo.ports.dns}"]
        both += ["--treat-as-public", str(topo.network), "--control", "none"]
        print(f"side by side:  censorcheck run {targets} {shlex.join(both)}")
        if the_lab.control is not None:
            print(f"control server: {the_lab.control.url} (token in {the_lab.control.token_file})")
            command = the_lab.command(censored=True, control=True)
            print(f"with control:  censorcheck run {targets} {command}")
        else:
            print("control server: none (pip install 'censorcheck[control]' for one)")
        sys.stdout.flush()
        try:
            await asyncio.Event().wait()
        finally:
            await the_lab.close()

    with user_errors(), _interruptible():
        run_blocking(serve())


@contextmanager
def _interruptible() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        stderr.print("lab stopped")
