"""Token buckets and measurements in flight: the server enforces them per token, and the client
keeps to the same bucket.

``TokenBucket`` is one process's bucket (the client's pace). ``Ledger`` is the server's: every
token's bucket and in-flight count, in memory that every process serving the tokens maps, so a
server of N worker processes grants each token its limits once, not N times.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import tempfile
import time
from collections.abc import Callable
from typing import NamedTuple

Clock = Callable[[], float]
# What each token gets: (rate, burst, max_in_flight).
Allowance = tuple[float, int, int]


def refilled(level: float, elapsed: float, rate: float, burst: int) -> float:
    """A bucket's level ``elapsed`` seconds after it held ``level``."""
    return min(burst, level + elapsed * rate)


class TokenBucket:
    """``rate`` events per second on average, up to ``burst`` at once after a pause."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """Take one token and return 0, or return the seconds until one is there (taking none)."""
        now = self._clock()
        self._tokens = refilled(self._tokens, now - self._at, self.rate, self.burst)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class Refusal(NamedTuple):
    """Why a measurement was not admitted, and the whole seconds to wait (``Retry-After``)."""

    detail: str
    retry_after: int


class Ledger:
    """Every token's bucket and measurements in flight, kept by every process that serves them.

    The memory is float64 cells: for each token its bucket's level and when it was last
    refilled, then for each worker a row of its measurements in flight, one per token. A worker
    writes only its own row and reads them all, and each admission is one critical section under
    a POSIX record lock (``lockf``) on the memory's file. The kernel releases that lock when its
    holder dies, so a worker killed mid-admission cannot wedge the others (a
    ``multiprocessing.Lock`` held by a dead process stays taken for ever); the dead worker's row
    is then cleared by whoever restarts it (``forget``), so its measurements do not stay counted.
    The buckets are refilled from ``time.monotonic``, one clock for every process of the
    machine. A ledger of one process (``private``) has no file and takes no lock.
    """

    def __init__(
        self,
        memory: mmap.mmap,
        fd: int | None,
        tokens: int,
        workers: int,
        worker: int,
        limits: Allowance,
        clock: Clock,
    ) -> None:
        self._memory = memory
        self._cells = memoryview(memory).cast("d")
        self.fd = fd
        self.tokens = tokens
        self.workers = workers
        self.worker = worker
        self.rate, self.burst, self.max_in_flight = limits
        self._clock = clock

    @staticmethod
    def size(tokens: int, workers: int) -> int:
        return max(8, 8 * tokens * (2 + workers))

    @classmethod
    def private(cls, tokens: int, limits: Allowance, clock: Clock = time.monotonic) -> Ledger:
        """A ledger for one process."""
        ledger = cls(mmap.mmap(-1, cls.size(tokens, 1)), None, tokens, 1, 0, limits, clock)
        ledger._fill()
        return ledger

    @classmethod
    def create(
        cls,
        tokens: int,
        workers: int,
        limits: Allowance,
        clock: Clock = time.monotonic,
    ) -> Ledger:
        """A ledger for ``workers`` processes, in a file with no name (``fd``) that each of
        them maps with ``attach``; this process only clears rows (``forget``)."""
        file = tempfile.TemporaryFile()  # noqa: SIM115 - its descriptor lives as long as the ledger
        fd = os.dup(file.fileno())
        file.close()
        try:
            os.ftruncate(fd, cls.size(tokens, workers))
            memory = mmap.mmap(fd, cls.size(tokens, workers))
        except BaseException:
            os.close(fd)
            raise
        ledger = cls(memory, fd, tokens, workers, -1, limits, clock)
        ledger._fill()
        return ledger

    @classmethod
    def attach(
        cls,
        fd: int,
        tokens: int,
        workers: int,
        worker: int,
        limits: Allowance,
        clock: Clock = time.monotonic,
    ) -> Ledger:
        """Worker ``worker``'s view of the ledger in ``fd`` (which it now owns)."""
        memory = mmap.mmap(fd, cls.size(tokens, workers))
        return cls(memory, fd, tokens, workers, worker, limits, clock)

    def _fill(self) -> None:
        now = self._clock()
        for token in range(self.tokens):
            self._cells[2 * token] = self.burst
            self._cells[2 * token + 1] = now

    def _lock(self) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_UN)

    def _in_flight(self, worker: int, token: int) -> int:
        return (2 + worker) * self.tokens + token

    def admit(self, token: int) -> Refusal | None:
        """Start one measurement for ``token`` (None), or say why not. Every admission is
        ended with ``release``."""
        assert self.worker >= 0, "the supervisor's view of the ledger admits nothing"
        cells = self._cells
        self._lock()
        try:
            running = sum(cells[self._in_flight(w, token)] for w in range(self.workers))
            if running >= self.max_in_flight:
                return Refusal("too many measurements in flight", 1)
            now = self._clock()
            level = refilled(cells[2 * token], now - cells[2 * token + 1], self.rate, self.burst)
            cells[2 * token + 1] = now
            if level < 1:
                cells[2 * token] = level
                return Refusal("rate limit exceeded", max(1, math.ceil((1 - level) / self.rate)))
            cells[2 * token] = level - 1
            cells[self._in_flight(self.worker, token)] += 1
            return None
        finally:
            self._unlock()

    def release(self, token: int) -> None:
        """End one measurement that ``admit`` started."""
        assert self.worker >= 0, "the supervisor's view of the ledger admits nothing"
        self._lock()
        try:
            self._cells[self._in_flight(self.worker, token)] -= 1
        finally:
            self._unlock()

    def forget(self, worker: int) -> None:
        """Clear a dead worker's measurements in flight: they ended with it."""
        self._lock()
        try:
            for token in range(self.tokens):
                self._cells[self._in_flight(worker, token)] = 0
        finally:
            self._unlock()

    def close(self) -> None:
        self._cells.release()
        self._memory.close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
