"""Worker entry points that misbehave, for ``supervise(..., entry=...)``: a module of its own so
that a spawned worker process can import them by name."""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection

from censorcheck.control.workers import READY

# A backstop, not a timing: a supervisor that never gives up on ``never_ready`` then sees it
# stop before serving, and its test fails on the wrong error instead of hanging.
GIVE_UP = 300.0


def never_ready(conn: Connection, *_: object) -> None:
    """Starts and never says it serves; ends when killed, when its supervisor's end of the
    pipe closes (the supervisor never writes), so that no test leaves it behind, or after
    ``GIVE_UP`` seconds."""
    with contextlib.suppress(EOFError, OSError):
        conn.poll(GIVE_UP)


def dies_after_serving(conn: Connection, *_: object) -> None:
    """Says it serves, then exits 1 at once: a worker in a crash loop."""
    conn.send(READY)
    raise SystemExit(1)
