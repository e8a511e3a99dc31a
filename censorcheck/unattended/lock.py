"""One run at a time per results folder: an advisory ``flock`` on ``<folder>/.censorcheck.lock``.

Scheduled runs can overlap (a slow run, a timer firing on resume from suspend); two runs
measuring at once would disturb each other's timings and interleave their files. The kernel drops
the lock when its holder dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from censorcheck.errors import StoreError

LOCK_NAME = ".censorcheck.lock"


class RunLock:
    """The lock of one results folder; ``acquire`` then ``release`` (or use it with ``with``)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, wait: bool, on_wait: Callable[[str], None] | None = None) -> bool:
        """Take the lock. With ``wait`` block until it is free (calling ``on_wait`` once with who
        holds it); without, return False at once when another run holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                os.close(fd)
                return False
            if on_wait is not None:
                on_wait(self.holder(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        # Who holds it, for the message a waiting run prints; the content is only informative.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return True

    @staticmethod
    def holder(fd: int) -> str:
        """``pid N`` of the run holding the lock, as it wrote it, or ``another run``."""
        with contextlib.suppress(OSError, ValueError):
            return f"pid {int(os.pread(fd, 32, 0).decode().strip())}"
        return "another run"

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
