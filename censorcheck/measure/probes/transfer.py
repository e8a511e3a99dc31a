"""How a response body arrives over time, for telling throttling and freezes from slow servers.

A censor that throttles a site lets every byte through, slowly; one that freezes connections lets
the first few kilobytes through and then nothing. A single timeout sees neither: both end as
``http.timeout``, like a server that is merely far away. So every fetch keeps a few numbers about
its body: when the head came, how fast the first half megabyte arrived, and where it stopped.
"""

from __future__ import annotations

import time

from censorcheck.models import Transfer

SAMPLE_BYTES = 512 * 1024
# Where a point is kept: coarse, but a freeze after ~16 KB shows as a line that stops early.
_MARKS = tuple(16 * 1024 << i for i in range(6))  # 16 KiB ... 512 KiB
# Below this, or faster than the clock can tell apart, a rate means nothing.
_MIN_BYTES = 16 * 1024
_MIN_SECONDS = 0.001


class TransferClock:
    """Fed every chunk as it comes off the connection; says what it saw."""

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.head = sent
        self.last = sent
        self.received = 0
        self.sampled_at: float | None = None  # when the sample filled, if it did
        self.points: list[tuple[float, int]] = []
        self._next_mark = 0

    def headed(self) -> None:
        """The response head has arrived."""
        self.head = self.last = time.monotonic()

    def chunk(self, size: int) -> None:
        now = time.monotonic()
        if size <= 0:
            return
        self.last = now
        self.received += size
        crossed = False
        while self._next_mark < len(_MARKS) and self.received >= _MARKS[self._next_mark]:
            self._next_mark += 1
            crossed = True
        if crossed:  # one point per chunk, however many marks it crossed
            self.points.append((round(now - self.head, 4), self.received))
        if self.sampled_at is None and self.received >= SAMPLE_BYTES:
            self.sampled_at = now

    def result(self, *, ended: bool, gave_up: bool) -> Transfer:
        """``ended``: the body was read to its end; ``gave_up``: the read was cut by its timeout."""
        full = self.sampled_at is not None
        end = self.last if self.sampled_at is None else self.sampled_at
        sample = min(self.received, SAMPLE_BYTES)
        seconds = max(0.0, end - self.head)
        points = list(self.points)
        if not points or points[-1][1] != self.received:
            points.append((round(self.last - self.head, 4), self.received))
        timed = sample >= _MIN_BYTES and seconds >= _MIN_SECONDS
        cut = gave_up and not full
        return Transfer(
            ttfb=round(self.head - self.sent, 4),
            sample_bytes=sample,
            sample_seconds=round(seconds, 6),
            throughput=round(sample / seconds, 1) if timed else None,
            points=points,
            complete=ended and self.received <= SAMPLE_BYTES,
            cut_after_bytes=self.received if cut else None,
            silence_seconds=round(time.monotonic() - self.last, 4) if cut else None,
        )
