"""The property every parser of user or network input must hold, checked as the CLI sees it.

A parser called inside the CLI's own ``user_errors`` either returns, or ends the command with
exit code 2 and one line on stderr that starts with ``error:``. Anything else (a traceback, a
second line, another exit code) is a crash. Each call also has a time limit, so that a hang is
a failure rather than a stuck suite, and ``peak_memory`` measures what a call allocates.
"""

from __future__ import annotations

import contextlib
import io
import signal
import tracemalloc
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TypeVar

import typer

from censorcheck.cli.common import user_errors

T = TypeVar("T")

# Every input here is parsed in milliseconds, the deepest in about a second of CPU. The limit is
# on CPU time, so that a loaded machine (make fuzz beside other work) cannot make a slow parse
# look like a hang; a wait that spends no CPU (a read that blocks) has a wall-clock limit too.
TIME_LIMIT = 20.0
WALL_FACTOR = 10


class Hang(Exception):
    """The call was still running at its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Interrupt the block with Hang after ``seconds`` of this process's CPU time, or ten times
    as long on the clock (main thread only, where pytest runs)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGPROF:
            raise Hang(f"still running after {seconds} s of CPU")
        raise Hang(f"still running after {seconds * WALL_FACTOR} s on the clock")

    previous = {sig: signal.signal(sig, expire) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def loads_or_user_error(
    call: Callable[[], T], codes: tuple[int, ...] = (2,), seconds: float = TIME_LIMIT
) -> T | str:
    """``call()``'s value, or the one-line message the CLI would print for it.

    Fails (AssertionError, or the escaped exception itself) when the call raises anything the
    CLI would show as a traceback, exits with another code, or prints more than one line.
    """
    stderr = io.StringIO()
    try:
        with time_limit(seconds), contextlib.redirect_stderr(stderr), user_errors():
            return call()
    except typer.Exit as exit_:
        text = stderr.getvalue()
        assert exit_.exit_code in codes, f"exit {exit_.exit_code}: {text!r}"
        assert text.startswith("error: "), text
        assert text.count("\n") == 1 and text.endswith("\n"), f"not one line: {text!r}"
        return text


def peak_memory(call: Callable[[], object], seconds: float = 60.0) -> int:
    """The most memory (bytes) Python allocated at once during ``call()``, which must hold the
    property of ``loads_or_user_error`` too (more time: tracing slows Python down)."""
    tracemalloc.start()
    try:
        loads_or_user_error(call, seconds=seconds)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
