"""A lab in a thread of its own, with its own event loop: what tests, benchmarks and the demo
use, since they call blocking code beside it. Shared by the censorship lab and the resolver lab.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

ATTEMPTS = 20


class Startable(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def cleanup(self) -> None: ...


L = TypeVar("L", bound=Startable)


class ThreadedLab(Generic[L]):
    """A context manager that starts ``_make(attempt)`` on its loop and closes it at the end.

    A bind failure (OSError) is retried with another ``_make`` when the network was not fixed,
    since a random /24 or random ports can collide with something already listening.
    """

    def __init__(self, network: str | None) -> None:
        self._network = network
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.lab: L | None = None

    def _make(self, attempt: int) -> L:
        """The lab to try at ``attempt`` (0 first): the options as given, then others."""
        raise NotImplementedError

    def _submit(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __enter__(self) -> L:
        self._thread.start()
        for attempt in range(ATTEMPTS):
            lab = self._make(attempt)
            try:
                self._submit(lab.start())
            except OSError:
                lab.cleanup()
                if self._network is not None or attempt == ATTEMPTS - 1:
                    self._stop()
                    raise
                continue
            self.lab = lab
            return lab
        raise RuntimeError("unreachable")

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.lab is not None:
            self._submit(self.lab.close())
            self.lab.cleanup()
        self._stop()
