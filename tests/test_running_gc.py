"""The collector settings a run loads and measures with: what a run leaves behind is freed by the
next, however many runs one process makes (``run --repeat``)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

from censorcheck.measure import collector
from censorcheck.measure.running import run_loop


class _Node:
    other: object = None


def test_cyclic_garbage_of_one_run_does_not_outlive_the_next() -> None:
    refs: list[weakref.ref[_Node]] = []

    async def leave_a_cycle() -> None:
        node = _Node()
        node.other = node  # only the cyclic collector can free it
        refs.append(weakref.ref(node))
        gc.collect()  # alive through the run: in the oldest generation when it becomes garbage

    async def nothing() -> None:
        return None

    threshold = gc.get_threshold()
    run_loop(leave_a_cycle())
    run_loop(nothing())
    assert refs[0]() is None
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == 0  # put back after


def test_only_a_later_run_of_the_process_collects_before_freezing() -> None:
    """The first measuring loop of a process has no previous run's garbage to free: it skips
    the full collection, which would scan every object the imports made."""
    code = """
import gc
import subprocess
import sys
from censorcheck.measure import collector
from censorcheck.measure.running import run_loop
calls = []
collect = gc.collect
gc.collect = lambda *args: calls.append(args) or collect(*args)
async def nothing():
    return None
run_loop(nothing())
first = len(calls)
run_loop(nothing())
print(first, len(calls) - first)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1"]


def test_loading_holds_the_collector_off_until_the_first_measuring_loop() -> None:
    seen: list[bool] = []

    async def look() -> None:
        seen.append(gc.isenabled())

    assert gc.isenabled()
    with collector.loading():
        seen.append(gc.isenabled())
        run_loop(look())
        seen.append(gc.isenabled())  # on for good once a loop has begun
    seen.append(gc.isenabled())
    with collector.loading():
        seen.append(gc.isenabled())
    seen.append(gc.isenabled())  # a process that never measured, once it has loaded
    assert seen == [False, True, True, True, False, True]


def test_loading_leaves_a_collector_the_caller_turned_off_alone() -> None:
    seen: list[bool] = []

    async def look() -> None:
        seen.append(gc.isenabled())

    gc.disable()
    try:
        with collector.loading():
            run_loop(look())
        seen.append(gc.isenabled())
    finally:
        gc.enable()
    assert seen == [False, False]
