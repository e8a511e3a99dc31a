"""When the cyclic garbage collector runs in a process that measures.

The collector meets a run in three phases. Loading (imports, settings, the target list) makes
tens of thousands of objects that live as long as the process: at Python's default thresholds
the collector ran about 130 times over them before the first target, for a few dozen objects
freed (``loading`` holds it off). The measuring loop makes many short-lived objects (futures,
handles, models): at Python's default of 700 allocations per young collection, the collector
took about 9% of a run's CPU in the bench profile (perf), most of it scanning what the imports
left behind (``measuring``). On its way out, Python collects once more over everything still
alive (``spare_exit``).

This module imports nothing heavy, so that the CLI and a worker process can hold the collector
off before they import the library.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Allocations per young collection while measuring (Python's default is 700).
_YOUNG_THRESHOLD = 10_000
# Whether a measuring loop has run in this process before (``--repeat``, a library caller's
# second run): only then can there be a previous run's garbage to collect before freezing.
_measured_before = False
# Set while ``loading`` holds the collector off, until the first measuring loop begins.
_loading = False


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """The collector off while a process that measures loads: until its first measuring loop
    begins (``measuring``), or the block ends if none does. That saved about 25 ms of CPU at the
    start of a run in the bench profile, for a few dozen objects left to a later collection.

    Left alone when the collector is already off (the caller's choice) or already held off.
    Usable as a decorator, for a command whose imports are in its own body.
    """
    global _loading
    if _loading or not gc.isenabled():
        yield
        return
    gc.disable()
    _loading = True
    try:
        yield
    finally:
        if _loading:  # no measuring loop ended the hold
            _loading = False
            gc.enable()


@contextlib.contextmanager
def measuring() -> Iterator[None]:
    """Collect cycles less often while measuring, and never rescan what existed before.

    The objects alive at the start (modules, classes, settings) are frozen out of the collector:
    they live as long as the process, so scanning them at every full collection finds nothing.
    """
    global _measured_before, _loading
    before = gc.get_threshold()
    # Freezing keeps whatever is alive, cyclic garbage of a previous run included (``--repeat``
    # runs one after another in one process): collect it first, or it is never freed. Not
    # before the first run: a full collection scans every object the imports made (about 30 ms
    # of CPU, a fixed cost of every run and of every worker process) to find a few dozen, which
    # are frozen only until this run ends.
    if _measured_before:
        gc.collect()
    _measured_before = True
    gc.freeze()
    gc.set_threshold(max(before[0], _YOUNG_THRESHOLD), *before[1:])
    if _loading:
        # Loading is over, for good: what the process does after its first loop (the results
        # that workers send, the report, the next --repeat run) is collected as usual.
        _loading = False
        gc.enable()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def spare_exit() -> None:
    """Spare the process the full collection Python makes on its way out, over every object it
    still holds (about 40 ms of CPU after a run in the bench profile): frozen, they are not
    scanned.

    For a process whose work is done, with its files, sockets and locks closed explicitly, as a
    run's are: the only objects it affects are those in reference cycles, whose finalizers then
    do not run at exit, which Python does not promise for objects alive at exit anyway.
    """
    gc.freeze()
