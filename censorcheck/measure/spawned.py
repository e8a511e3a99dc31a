"""Where a worker process (``workers.Pool``) begins.

A spawned process imports the module of its target before any code of ours runs in it. This
module imports nothing heavy, so that ``workers`` and everything it brings (the probes, their
libraries, the models) load under ``collector.loading``, as they do in the main process, rather
than with the collector scanning them over and over while they load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from censorcheck.measure import collector

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


def serve(conn: Connection) -> None:
    """``workers.serve``, loaded with the collector held off until the worker measures, and
    without the collection of every object on the way out."""
    try:
        with collector.loading():
            from censorcheck.measure import workers

            workers.serve(conn)
    finally:
        collector.spare_exit()
