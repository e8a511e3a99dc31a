"""Measuring a run's targets in this process, or in worker processes that each run an event loop.

One Python thread measures about as many targets a second as its CPU allows; a large run is
then bound by one core, not by the network. ``measure`` pre-flights every vantage once (see
``handover``) and then measures either here (one worker) or in N processes started with the
"spawn" method (this process may hold threads and an event loop, which ``fork`` would copy
half-way). The processes share only the queue of targets, which this process deals out in list
order as each worker has room, and the journal, which only this process writes: each measured
target comes back as one encoded record (``Done``).

A worker that dies takes the targets it was measuring with it: the run stops with
``WorkerLost`` and the journal keeps every target measured so far, so ``--resume`` finishes it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from censorcheck.errors import CensorcheckError, NothingMeasured
from censorcheck.measure import spawned
from censorcheck.measure.api import _Run
from censorcheck.measure.controls import OnControl
from censorcheck.measure.fingerprints import Fingerprints
from censorcheck.measure.handover import (
    Done,
    Handover,
    Prepared,
    most_workers,
    prepare,
    rebuild,
    share,
    vantage_info,
)
from censorcheck.measure.running import (
    Interrupted,
    gather_or_cancel,
    interrupt,
    run_blocking,
    run_loop,
)
from censorcheck.measure.vantages import Vantage
from censorcheck.models import Target, VantageInfo
from censorcheck.settings import Settings

# Starting a worker costs about a second of CPU (it imports the probes and their libraries), and
# handing targets and results across processes costs more on each. Measured on two cores at 1,000
# targets (make bench): two workers took 9.1 s and 7.8 ms of CPU per target, one 8.1 s and
# 5.6 ms, with 217 MiB against 77. So a run gets a second worker only for many more targets.
TARGETS_PER_WORKER = 2500

OnDone = Callable[[Done], None]
# One vantage of a run: its settings, what the user said of it, and its targets still to
# measure, each with its place in the target list.
Plan = tuple[Settings, "Vantage | None", Iterator[tuple[int, Target]]]


class WorkerLost(CensorcheckError):
    """A worker process died or failed mid-run; what it had measured is journaled."""

    exit_code = 5


def default_workers(todo: int, concurrency: int) -> int:
    """The worker count for ``todo`` targets: one per core, but none that would have fewer
    than ``TARGETS_PER_WORKER`` targets to measure, nor more than the concurrency."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, todo // TARGETS_PER_WORKER, concurrency))


def measure(
    plans: Sequence[Plan],
    on_done: OnDone,
    workers: int = 1,
    fingerprints: Fingerprints | None = None,
    control_vantage: Settings | None = None,
    on_control: OnControl | None = None,
) -> list[VantageInfo]:
    """Pre-flight every vantage, measure each one's targets and hand each to ``on_done`` as
    it is measured; every vantage as the document records it.

    A vantage whose pre-flight fails is recorded with its failure and the others go on; with a
    single vantage, or when none answers, NothingMeasured is raised.
    """
    if fingerprints is None:
        from censorcheck.measure.fingerprints import load_fingerprints

        fingerprints = load_fingerprints(plans[0][0].fingerprints)
    fp = fingerprints

    async def preflight() -> list[Prepared | NothingMeasured]:
        outcomes = await asyncio.gather(
            *(prepare(s, fp, about, control_vantage, on_control) for s, about, _ in plans),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, NothingMeasured):
                await _close(outcomes)
                raise outcome
            if isinstance(outcome, NothingMeasured) and len(plans) == 1:
                raise outcome
        if not any(isinstance(o, Prepared) for o in outcomes):
            failed = [o for o in outcomes if isinstance(o, NothingMeasured)]
            names = (s.vantage for s, _, _ in plans)
            detail = "; ".join(f"{n}: {o}" for n, o in zip(names, failed, strict=True))
            raise NothingMeasured(detail) from failed[0]
        return [o for o in outcomes if isinstance(o, Prepared | NothingMeasured)]

    async def here() -> list[Prepared | NothingMeasured]:
        ready = await preflight()
        runs = [_Run.of(*p) if isinstance(p, Prepared) else None for p in ready]
        try:
            await gather_or_cancel(
                _lane(run, v, plans[v][2], on_done)
                for v, run in enumerate(runs)
                if run is not None
                for _ in range(plans[v][0].concurrency)
            )
        finally:
            for run in runs:
                if run is not None:
                    await run.aclose()
        return ready

    async def only_preflight() -> list[Prepared | NothingMeasured]:
        ready = await preflight()
        await _close(ready)  # a worker builds its own; sockets and SSL state do not travel
        return ready

    if workers <= 1:
        ready = run_blocking(here())
    else:
        # Started first: their imports take the time the pre-flight spends waiting on the
        # network.
        with Pool(workers) as pool:
            ready = run_blocking(only_preflight())
            todo = [
                plan[2] if isinstance(p, Prepared) else iter(())
                for plan, p in zip(plans, ready, strict=True)
            ]
            pool.run(
                [p.handover if isinstance(p, Prepared) else None for p in ready], todo, on_done
            )
    return [_info(p, plan, control_vantage) for p, plan in zip(ready, plans, strict=True)]


def _info(outcome: Prepared | NothingMeasured, plan: Plan, control: Settings | None) -> VantageInfo:
    if isinstance(outcome, Prepared):
        return outcome.handover.info
    info = vantage_info(plan[0], [], False, plan[1], None, control)
    return info.model_copy(update={"failure": str(outcome)})


async def _close(outcomes: Sequence[object]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, Prepared):
            await outcome.ctx.aclose()
            if outcome.server is not None:
                await outcome.server.aclose()


async def _lane(
    run: _Run, vantage: int, todo: Iterator[tuple[int, Target]], on_done: OnDone
) -> None:
    """One of a vantage's ``concurrency`` lanes: the next target of the list, until none is
    left. Lanes rather than a task per target keep memory flat however long the list."""
    for index, target in todo:
        on_done(_done(vantage, index, target, await run.target(target)))


def _done(vantage: int, index: int, target: Target, result: Any) -> Done:
    return Done(vantage, index, target.domain, result.verdict.status, result.model_dump_json())


class Pool:
    """Worker processes, each waiting for the run's handovers and then for targets."""

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[SpawnProcess] = []
        try:
            for w in range(count):
                mine, theirs = context.Pipe()
                proc = context.Process(
                    target=spawned.serve,
                    args=(theirs,),
                    name=f"censorcheck-worker-{w + 1}",
                    daemon=True,
                )
                proc.start()
                theirs.close()
                self.conns.append(mine)
                self.procs.append(proc)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        handovers: Sequence[Handover | None],
        todo: Sequence[Iterator[tuple[int, Target]]],
        on_done: OnDone,
    ) -> None:
        """Deal the targets out, each worker up to its share of the concurrency, and hand
        back what they measure; until every target is measured."""
        conns, procs, count = self.conns, self.procs, len(self.conns)
        # Started before the pre-flight said what the control server grants: those past what
        # its grant can be split into are let go before they measure anything.
        if (most := most_workers(handovers)) is not None:
            count = max(1, min(count, most))
        for conn in conns[count:]:
            conn.close()  # the worker sees the end of its pipe and exits
        busy = [0] * count
        left = [True] * len(todo)

        def deal(w: int, v: int) -> None:
            item = next(todo[v], None) if left[v] else None
            if item is None:
                left[v] = False
                return
            conns[w].send((v, *item))
            busy[w] += 1

        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            for w in range(count):
                conns[w].send((list(handovers), (w, count)))
                for v, h in enumerate(handovers):
                    for _ in range(share(h.settings.concurrency, count, w) if h else 0):
                        deal(w, v)
            told = [False] * count
            running = set(range(count))
            while running:
                for w in running:
                    if not told[w] and not any(left):
                        conns[w].send(None)  # nothing more: finish what you have and exit
                        told[w] = True
                ready = wait([conns[w] for w in running] + [procs[w].sentinel for w in running])
                for w in list(running):
                    heard = conns[w] in ready or procs[w].sentinel in ready
                    if heard and not _hear(w, conns[w], procs[w], busy, on_done, deal):
                        running.discard(w)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def close(self) -> None:
        """Stop every worker still running (a run that is over, or interrupted)."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()


def _hear(
    w: int,
    conn: Connection,
    proc: SpawnProcess,
    busy: list[int],
    on_done: OnDone,
    deal: Callable[[int, int], None],
) -> bool:
    """Take in what worker ``w`` sent; False once it has exited with nothing left to send."""
    while conn.poll():
        try:
            message = conn.recv()
        except (EOFError, OSError):  # it has exited (or is exiting): nothing more will come
            break
        if isinstance(message, str):  # the worker failed and says why
            raise WorkerLost(f"a worker process failed: {message}")
        on_done(message)
        busy[w] -= 1
        deal(w, message.vantage)
    else:
        if proc.is_alive():
            return True
    proc.join()
    code = proc.exitcode
    if code is not None and code < 0 and -code in (signal.SIGINT, signal.SIGTERM):
        raise Interrupted(-code)  # the stop signal reached the worker first
    if busy[w] or code != 0:
        how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        raise WorkerLost(f"a worker process died ({how}) with {busy[w]} targets in hand")
    return False


def serve(conn: Connection) -> None:
    """A worker process: take the run's handovers and this worker's part of the control's
    limits, then measure the targets ``conn`` brings and send each back, until told to stop
    (None) or the main process is gone."""
    # Ctrl-C reaches every process of the terminal's group: the main process decides what it
    # means and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            handovers, (worker, workers) = conn.recv()
        except (EOFError, OSError):  # the run ended before it measured (the pre-flight failed)
            return
        run_loop(_serve(conn, handovers, worker, workers))
    except Exception as exc:  # noqa: BLE001 - told to the main process in one line
        try:
            conn.send(f"{type(exc).__name__}: {exc}")
        finally:
            raise SystemExit(1) from None
    finally:
        conn.close()


async def _serve(
    conn: Connection, handovers: list[Handover | None], worker: int, workers: int
) -> None:
    runs: list[_Run | None] = []
    for h in handovers:
        runs.append(_Run.of(h, *await rebuild(h, worker, workers)) if h is not None else None)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[int, int, Target] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except (EOFError, OSError):  # the main process is gone: nobody wants what follows
            loop.remove_reader(conn.fileno())
            for task in tasks:
                task.cancel()
            inbox.put_nowait(None)

    async def one(run: _Run, v: int, index: int, target: Target) -> None:
        conn.send(_done(v, index, target, await run.target(target)))

    tasks: set[asyncio.Task[None]] = set()
    loop.add_reader(conn.fileno(), readable)
    try:
        while (item := await inbox.get()) is not None:
            v, index, target = item
            run = runs[v]
            assert run is not None
            task = asyncio.ensure_future(one(run, v, index, target))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        loop.remove_reader(conn.fileno())
        await gather_or_cancel(list(tasks))
    finally:
        for r in runs:
            if r is not None:
                await r.aclose()
