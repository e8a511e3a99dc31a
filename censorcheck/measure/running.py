"""Running a coroutine to completion from synchronous code, with Ctrl-C that always works, and
many at once so that one failing stops the others quietly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from censorcheck.measure import collector

T = TypeVar("T")
# SIGTERM (systemd stopping a unit, `kill`) stops a run as Ctrl-C does: the journal is kept and
# the user is told how to finish it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (CPython off Windows), else asyncio's own.

    Only the loop's bookkeeping changes: sockets, TLS (anyio's memory BIOs) and timeouts are
    driven by our code and anyio in the same way on both, and the suite runs on both (the CLI on
    uvloop, the probes' own tests on asyncio's).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on the measuring loop, with the measuring collector settings.

    Python 3.10 has no way to pass a loop to ``asyncio.run`` short of changing the process's
    loop policy, so it keeps asyncio's loop.
    """
    with collector.measuring():
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                return runner.run(coro)
        return asyncio.run(coro)


async def within(aw: Coroutine[Any, Any, T], seconds: float) -> T:
    """``asyncio.wait_for(aw, seconds)``, without the task of its own that ``wait_for`` makes
    before Python 3.12 where ``asyncio.timeout`` does the same on the caller's task (3.11)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await aw
    return await asyncio.wait_for(aw, seconds)


U = TypeVar("U")


async def each(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather(*awaitables)``, without a task for a lone one (one resolver, the usual
    case, for each lookup)."""
    items = list(awaitables)
    if len(items) == 1:
        return [await items[0]]
    return list(await asyncio.gather(*items))


async def together(first: Awaitable[T], second: Coroutine[Any, Any, U]) -> tuple[T, U]:
    """``asyncio.gather(first, second)`` with one task instead of two: ``second`` runs as a
    task beside ``first``, which runs in the caller's own. A failure or a cancellation of the
    caller while ``first`` runs cancels ``second``; one while waiting for ``second`` reaches it
    as it does any awaited task."""
    task = asyncio.ensure_future(second)
    try:
        done = await first
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):  # its outcome is moot: ours is raised
            await task
        raise
    return done, await task


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; ``signum`` says which (exit status 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops what runs as Ctrl-C would, saying which signal it was."""
    raise Interrupted(signum)


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` for a coroutine whose result is a large document, which Ctrl-C or
    SIGTERM always stops (as ``Interrupted``, a KeyboardInterrupt).

    The main task returns nothing on purpose: on the way out asyncio.run formats the main
    task's repr, result included, which for a large document costs a second or more.

    asyncio's own Ctrl-C handling cancels the main task once. A cancellation swallowed on the way
    down (``asyncio.wait_for`` before Python 3.12 drops one that meets its inner task finishing,
    which under load happens) then lets the run go on as if nothing had been asked. So here a
    Ctrl-C cancels the main task, and cancels it again every second until it has ended.
    """
    box: list[T] = []
    interrupted: int | None = None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def cancel() -> None:
            if not task.done():
                task.cancel()
                loop.call_later(1.0, cancel)

        def on_signal(signum: int) -> None:
            nonlocal interrupted
            if interrupted is None:
                interrupted = signum
            cancel()

        handled = threading.current_thread() is threading.main_thread()
        if handled:
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, on_signal, signum)
        try:
            box.append(await coro)
        finally:
            if handled:
                for signum in STOP_SIGNALS:
                    loop.remove_signal_handler(signum)

    try:
        run_loop(main())
    except asyncio.CancelledError:
        if interrupted is not None:
            raise Interrupted(interrupted) from None
        raise
    if interrupted is not None and not box:
        raise Interrupted(interrupted)
    return box[0]


async def gather_or_cancel(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Every result, in order; or, when one raises, the others cancelled and awaited, then that
    exception.

    ``asyncio.gather`` alone lets the others run on after the first exception, and reports each
    later one as "exception was never retrieved" at exit: a full disk mid-run then printed a
    traceback for every target in flight before the one-line error.
    """
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        # Retrieves every task's outcome, so none is reported as never retrieved.
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
