"""Labs for the benchmarks, each in a child process, so that the lab's CPU time and memory are
never counted as those of the process being measured.

The two sides speak over a pipe: the child sends one message once its lab is up (or
``{"error": ...}`` when it could not start), answers "cpu" with the CPU seconds it has used so
far (the lab shares the machine with what is measured, so its cost is reported beside), serves
until the parent sends "stop" or goes away, and may then send one last message (what the lab
counted while it served).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from figures import cpu_seconds
from workload import Entries, lab_entries

from censorcheck.lab import LabThread
from censorcheck.settings import Settings

Message = dict[str, Any]

# --- both sides of the pipe ------------------------------------------------------------------


def serve(conn: Connection, ready: Message, farewell: Callable[[], Message] | None = None) -> None:
    """The child, its lab up: say so, serve until told to stop, then send ``farewell()``."""
    conn.send(ready)
    with contextlib.suppress(EOFError):  # EOF: the parent is gone, so stop too
        while conn.recv() == "cpu":
            conn.send(sum(cpu_seconds(resource.RUSAGE_SELF)))
        if farewell is not None:
            conn.send(farewell())


def report_failure(conn: Connection, exc: BaseException) -> None:
    """The child, its lab broken: tell the parent, which fails loudly."""
    with contextlib.suppress(OSError):  # unless the parent has gone already
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def child_cpu(conn: Connection) -> float:
    """The CPU seconds the child behind ``conn`` has used so far (it answers between requests)."""
    conn.send("cpu")
    return float(conn.recv())


@contextlib.contextmanager
def child_process(
    target: Callable[..., None],
    args: tuple[Any, ...],
    name: str,
    start_limit: float,
    conn_out: list[Connection] | None = None,
) -> Iterator[tuple[Message, Message]]:
    """Run ``target(conn, *args)`` in a spawned child; yield what it said once ready, and a dict
    that receives its farewell when the block ends. ``conn_out`` receives the parent's end of the
    pipe, for :func:`child_cpu`."""
    mp = multiprocessing.get_context("spawn")
    ours, theirs = mp.Pipe()
    proc = mp.Process(target=target, args=(theirs, *args), name=name, daemon=True)
    proc.start()
    theirs.close()
    if conn_out is not None:
        conn_out.append(ours)
    after: Message = {}
    try:
        if not ours.poll(start_limit):
            raise RuntimeError(f"the lab did not start within {start_limit:.0f} s")
        try:
            ready = ours.recv()
        except EOFError:
            raise RuntimeError(f"the lab process died (exit code {proc.exitcode})") from None
        if "error" in ready:
            raise RuntimeError(f"the lab did not start: {ready['error']}")
        yield ready, after
    finally:
        # A child without a farewell closes its end as it exits, which ends the wait too.
        with contextlib.suppress(OSError, EOFError):
            ours.send("stop")
            if ours.poll(10):
                after.update(ours.recv())
        proc.join(15)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        ours.close()


# --- the web lab (scenarios) -----------------------------------------------------------------

LAB_START_LIMIT = 120.0  # seconds for the lab process to make its keys and bind every socket


@dataclass(frozen=True)
class LabInfo:
    """What the measuring process needs to know about a lab running elsewhere."""

    network: str
    settings: Settings  # Lab.settings(): the censored vantage, the honest resolver as control
    https_port: int
    censored_resolver: str
    censored_vantage: str
    arguments: tuple[str, ...]  # the `censorcheck run` flags of the censored vantage
    conn: Connection  # to the lab process, for lab_cpu()

    def lab_cpu(self) -> float:
        """CPU seconds the lab process has used so far."""
        return child_cpu(self.conn)

    @property
    def ca_bundle(self) -> Path:
        assert self.settings.ca_bundle is not None
        return self.settings.ca_bundle

    @property
    def doh_url(self) -> str:
        """The censored resolver's DNS over HTTPS endpoint (it shares the HTTPS port)."""
        return f"https://{self.censored_resolver}:{self.https_port}/dns-query"


def _serve_lab(conn: Connection, entries: Entries | None) -> None:
    """The lab process: start a lab on a free /24, report it, serve until told to stop."""
    try:
        with LabThread(entries=lab_entries(entries)) as lab:
            topo = lab.topology
            ready = {
                "network": str(topo.network),
                "settings": lab.settings().model_dump_json(),
                "https_port": topo.ports.https,
                "censored_resolver": topo.censored_resolver,
                "censored_vantage": topo.censored_vantage,
                "arguments": lab.arguments(True),
            }
            serve(conn, ready)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails loudly
        report_failure(conn, exc)


@contextlib.contextmanager
def lab_process(entries: Entries | None) -> Iterator[LabInfo]:
    """Run a lab (``entries``, or the default scenario table) in a child process."""
    conns: list[Connection] = []
    with child_process(_serve_lab, (entries,), "bench-lab", LAB_START_LIMIT, conns) as (ready, _):
        yield LabInfo(
            network=ready["network"],
            settings=Settings.model_validate_json(ready["settings"]),
            https_port=ready["https_port"],
            censored_resolver=ready["censored_resolver"],
            censored_vantage=ready["censored_vantage"],
            arguments=tuple(ready["arguments"]),
            conn=conns[0],
        )
