"""``lab``: the censorship lab on its own, with the commands that point a run at it; and where
the lab runs, for ``lab`` and ``demo`` alike.

Where: in a network namespace of its own when the machine allows one. When this process is not
in a private namespace already, the CLI executes itself again under ``unshare --net
--map-root-user`` (no root needed where user namespaces are allowed); ``lab`` then prints its
commands behind ``nsenter``, which enters that namespace from the user's shell. Elsewhere the
lab falls back to loopback and says why.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from censorcheck.cli.common import Opt, app, fatal, log, stderr, user_errors

if TYPE_CHECKING:
    from censorcheck.lab import Lab, LabThread


class Namespace(str, Enum):
    auto = "auto"
    new = "new"
    off = "off"


NAMESPACE_HELP = (
    "Where the lab runs: auto (a network namespace of its own where the machine allows one, "
    "else loopback), new (always a new namespace), off (loopback, 127.0.0.0/8)."
)


def place_lab(choice: Namespace) -> str | None:
    """Decide where the lab runs. Returns None for a namespace lab in this process, or why it
    runs on loopback; when the answer is a new namespace, this command executes itself again in
    one and does not return."""
    from censorcheck.lab import netns

    try:
        where, why = netns.where(choice.value)
    except RuntimeError as exc:
        fatal(f"--namespace {choice.value}: {exc}")
    if where == "new":
        command, env = netns.unshare_argv(sys.argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(command[0], command, env)
        except OSError as exc:
            fatal(f"cannot run {command[0]}: {exc.strerror or exc}")
    return why if where == "loopback" else None


def lab_thread(why: str | None) -> LabThread:
    """The demo's lab, placed by ``place_lab`` (``why`` is its answer)."""
    from censorcheck.lab import ROUTABLE_NETWORK, LabThread
    from censorcheck.lab.netns import enter_prefix

    if why is not None:
        return LabThread()
    # A namespace made for this command holds nothing else: the lab's usual /24. A namespace
    # shared with others (a test run's) may hold other labs: a random one.
    return LabThread(ROUTABLE_NETWORK if enter_prefix() else None, routable=True)


def which_lab(the_lab: Lab, why: str | None) -> str:
    """The one line that says which lab runs."""
    from censorcheck.lab import netns

    topo = the_lab.topology
    if topo.loopback:
        ports = f"{topo.ports.dns}/{topo.ports.http}/{topo.ports.https}/{topo.ports.dot}"
        return f"lab: simulated on loopback {topo.network}, ports {ports} ({why or 'as asked'})"
    if netns.enter_prefix():
        where = f"a network namespace of its own (PID {os.getpid()})"
    else:
        where = "this process's own network namespace"
    return f"lab: a real network in {where}, {topo.network} on ports 53/80/443/853"


@app.command()
def lab(
    network: Annotated[
        str | None,
        Opt(
            help="The lab's /24: public-looking in a namespace (default 45.90.7.0/24), or inside "
            "127.0.0.0/8, which means loopback (default 127.77.0.0/24)."
        ),
    ] = None,
    workdir: Annotated[Path | None, Opt(help="Folder for the CA bundle and target list.")] = None,
    namespace: Annotated[Namespace, Opt(help=NAMESPACE_HELP)] = Namespace.auto,
) -> None:
    """Start the censorship lab alone and print how to point a run at it."""
    import asyncio

    from censorcheck.lab import ROUTABLE_NETWORK, Lab, Topology
    from censorcheck.lab.files import write_run_files
    from censorcheck.lab.netns import enter_prefix
    from censorcheck.measure.running import run_blocking

    if network is not None:
        try:
            # Check the network before anything is created; a loopback one needs no namespace.
            if Topology(network, entries=[]).loopback:
                namespace = Namespace.off
        except ValueError as exc:
            fatal(f"--network {network}: {exc}")
    why = place_lab(namespace)
    if network is None:
        network = "127.77.0.0/24" if why is not None else ROUTABLE_NETWORK
    elif why is not None:
        fatal(f"--network {network}: a public-looking lab needs a network namespace ({why})")
    enter = shlex.join(enter_prefix()) + " " if enter_prefix() else ""

    async def serve() -> None:
        folder = workdir or Path.cwd() / "lab"
        folder.mkdir(parents=True, exist_ok=True)
        the_lab = Lab(network, workdir=folder)
        try:
            await the_lab.start()
        except OSError as exc:
            fatal(f"cannot start the lab on {network}: {exc.strerror or exc}")
        targets = write_run_files(the_lab, folder)["lab-targets.txt"]
        log(which_lab(the_lab, why))
        run = f"{enter}censorcheck run {targets}"
        print(f"lab running on {network}; Ctrl-C to stop")
        print(f"censored view: {run} {the_lab.command(censored=True)}")
        print(f"free view:     {run} {the_lab.command(censored=False)}")
        topo = the_lab.topology
        both = ["--vantage-file", str(folder / "vantages.yaml"), "--vantage", "lab-censored"]
        both += ["--vantage", "lab-proxy", "--ca-bundle", str(the_lab.ca_bundle)]
        both += ["--control-resolver", f"tcp://{topo.honest_resolver}:{topo.ports.dns}"]
        if topo.loopback:
            both += ["--treat-as-public", str(topo.network)]
        both += ["--control", "none"]
        print(f"side by side:  {run} {shlex.join(both)}")
        if the_lab.control is not None:
            print(f"control server: {the_lab.control.url} (token in {the_lab.control.token_file})")
            command = the_lab.command(censored=True, control=True)
            print(f"with control:  {run} {command}")
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
