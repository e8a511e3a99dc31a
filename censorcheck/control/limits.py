"""A token bucket: the server enforces one per token, and the client keeps to the same one."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` events per second on average, up to ``burst`` at once after a pause."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """Take one token and return 0, or return the seconds until one is there (taking none)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate
