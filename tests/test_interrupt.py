"""Ctrl-C stops a run, even when something on the way swallows the first cancellation."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from censorcheck.measure.running import run_blocking


async def _swallows_one_cancellation(log: list[str]) -> str:
    """Asks for its own Ctrl-C, then behaves as ``asyncio.wait_for`` on Python 3.11 can when the
    cancellation meets its inner task finishing: drops it and carries on."""
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGINT)
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        log.append("swallowed")
    await asyncio.sleep(60)  # without a second cancellation the run would finish here
    log.append("finished")
    return "finished"


def test_ctrl_c_stops_a_run_that_swallowed_the_first_cancellation() -> None:
    log: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_blocking(_swallows_one_cancellation(log))
    assert log == ["swallowed"]
    # The handler is gone with the run: Ctrl-C is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


async def _answers() -> str:
    return "done"


def test_a_run_nobody_interrupts_returns_its_result() -> None:
    assert run_blocking(_answers()) == "done"
