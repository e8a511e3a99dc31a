"""The control server in N processes, each with its own event loop, serving one socket.

**The socket.** This process binds and listens once, then starts N worker processes (the
"spawn" method: nothing half-copied from this one) that each run uvicorn on an inherited
duplicate of the listening socket; the kernel gives each new connection to whichever worker
accepts it first. uvicorn's own ``workers=`` was not used: it takes the application as an import
string, so the configuration, tokens included, would have to travel through the environment, and
its workers could not share the limits below.

**The limits** are the whole server's, as with one process: the workers keep one
``limits.Ledger`` in shared memory, so a token gets its ``--rate``, ``--burst`` and
``--max-in-flight`` once, whichever workers its connections land on, and the limits the server
announces are the ones it enforces. Splitting them instead (each worker a rate of rate/N) would
answer 429 to a client keeping to the announced limits whenever the kernel handed one worker
more than its share of that client's connections, which it does.

**A worker that dies** after it has served (killed, out of memory) is started again at once,
with one warning line; the measurements it had in flight are lost with it (their clients get a
transport error) and leave the ledger. So is one killed (SIGKILL, SIGTERM) while it was still
starting: that says nothing about whether it can start. A worker that stops on its own before it
serves (its application failed to start, or it crashed) stops the server: every worker is
stopped and ``WorkerFailed`` says so in one line (exit 5), since starting it again would fail
again. So does a worker that has not said it serves within ``Patience.start_limit`` (it is
killed: something in it is stuck), and workers dying more often than ``Patience.restarts``
times within ``Patience.window`` (a crash loop, which restarting would only feed). Nothing is
left half-alive in silence.

**Stopping.** SIGINT and SIGTERM are for this process (the workers ignore SIGINT, which a
terminal sends to the whole group): it sends every worker SIGTERM, uvicorn's graceful shutdown
(``GRACEFUL_SHUTDOWN`` seconds for the measurements in flight), waits for them, then ends the way
one process would, by the same signal (143 for SIGTERM, 130 for Ctrl-C). A worker whose
supervisor is gone (SIGKILL) sees its pipe close and stops too: no orphan keeps the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import uvicorn

from censorcheck.control.limits import Ledger
from censorcheck.control.server import (
    GRACEFUL_SHUTDOWN,
    ServerConfig,
    create_app,
    uvicorn_options,
)
from censorcheck.errors import CensorcheckError
from censorcheck.measure.running import Interrupted, interrupt

READY = "ready"
# Exit codes of a worker killed from outside (the OOM killer, an operator): started again even
# before it served, since a kill says nothing about whether it can start.
_KILLED = (-signal.SIGKILL, -signal.SIGTERM)
# Beyond uvicorn's graceful shutdown, what a worker gets to exit before it is killed.
EXIT_SLACK = 5.0
# A worker starts in a second or two (imports, then uvicorn's start-up), a few more on a loaded
# machine. One still silent after half a minute is stuck (a deadlock, a blocking call at
# import), and waiting on would leave the server short of a worker with nothing said.
START_LIMIT = 30.0
# Each start costs about a second of CPU, so a worker that dies soon after it serves, restarted
# without end, would keep a core busy and bury the log in warnings. Five deaths a minute is far
# more than independent mishaps give (an operator's kill, the OOM killer now and then), and a
# loop gets there within seconds. The limit is never below the worker count (see supervise), so
# that one event killing every worker once, such as the OOM killer under memory pressure, is
# recovered from.
RESTARTS = 5
RESTART_WINDOW = 60.0


class WorkerFailed(CensorcheckError):
    """A worker process could not start, or workers keep dying: the server stops."""

    exit_code = 5


@dataclass(frozen=True)
class Patience:
    """How long the supervisor waits for a worker to serve, how many deaths it restarts within
    a window of time, and the clock it reads both by (seconds)."""

    start_limit: float = START_LIMIT
    restarts: int = RESTARTS
    window: float = RESTART_WINDOW
    clock: Callable[[], float] = time.monotonic


class CrashLoop:
    """The workers' deaths over the last ``window`` seconds of ``clock``."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self._limit, self._window, self._clock = limit, window, clock
        self._deaths: deque[float] = deque()

    def died(self) -> int | None:
        """Count one death; the deaths within the window when they are more than the limit,
        else None (start another)."""
        now = self._clock()
        self._deaths.append(now)
        while self._deaths[0] <= now - self._window:
            self._deaths.popleft()
        return len(self._deaths) if len(self._deaths) > self._limit else None


class _Inherited:
    """A file descriptor a spawned worker gets a duplicate of (multiprocessing passes it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        # Called while spawning: DupFd registers the descriptor to pass to the child.
        return (_inherited, (reduction.DupFd(self.fd),))


def _inherited(duplicate: Any) -> _Inherited:
    return _Inherited(duplicate.detach())


# What a worker process runs (``work``): the pipe to its supervisor, the listening socket, the
# ledger's descriptor, its number, the worker count, the configuration and the TLS files.
WorkerEntry = Callable[
    [Connection, socket.socket, _Inherited, int, int, ServerConfig, tuple[Path, Path] | None],
    None,
]


def listen(host: str, port: int) -> socket.socket:
    """The server's listening socket; OSError when the address is taken or not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


class _Workers:
    """The worker processes, one slot each, whether each has said it serves, and since when
    each has been starting."""

    def __init__(
        self,
        config: ServerConfig,
        sock: socket.socket,
        ledger: Ledger,
        tls: tuple[Path, Path] | None,
        count: int,
        entry: WorkerEntry,
        clock: Callable[[], float],
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._args = (config, sock, ledger, tls, count)
        self._entry, self._clock = entry, clock
        self.procs: list[SpawnProcess | None] = [None] * count
        self.conns: list[Connection | None] = [None] * count
        self.ready = [False] * count
        self.since = [0.0] * count

    def start(self, w: int) -> None:
        config, sock, ledger, tls, count = self._args
        assert ledger.fd is not None
        mine, theirs = self._context.Pipe()
        proc = self._context.Process(
            target=self._entry,
            args=(theirs, sock, _Inherited(ledger.fd), w, count, config, tls),
            name=f"censorcheck-control-{w + 1}",
            daemon=True,
        )
        try:
            proc.start()
        finally:
            theirs.close()
        self.procs[w], self.conns[w], self.ready[w] = proc, mine, False
        self.since[w] = self._clock()

    def starting(self, limit: float) -> tuple[int, float] | None:
        """The worker starting for longest and the seconds it has left of ``limit`` (0 when
        none), or None when every worker serves."""
        now = self._clock()
        waiting = [(self.since[w], w) for w in range(len(self.procs)) if not self.ready[w]]
        if not waiting:
            return None
        since, w = min(waiting)
        return w, max(0.0, since + limit - now)

    def waitables(self) -> list[Any]:
        conns = [c for c in self.conns if c is not None]
        return conns + [p.sentinel for p in self.procs if p is not None]

    def heard(self, w: int, ready: list[Any]) -> bool:
        """Take in what worker ``w`` said; False once it has exited (it is joined)."""
        conn, proc = self.conns[w], self.procs[w]
        assert conn is not None and proc is not None
        # Every pipe, not only those seen ready: a worker that said it serves has served, though
        # its exit was noticed first or its words came just after the wait ended.
        try:
            while conn.poll():
                if conn.recv() == READY:
                    self.ready[w] = True
        except (EOFError, OSError):  # its end closed: it is exiting
            proc.join()
        if proc.sentinel in ready or not proc.is_alive():
            proc.join()
            conn.close()
            return False
        return True

    def kill(self, w: int) -> None:
        """SIGKILL to worker ``w``, which is stuck: a graceful stop would wait on it too."""
        proc, conn = self.procs[w], self.conns[w]
        assert proc is not None and conn is not None
        proc.kill()
        proc.join()
        conn.close()

    def stop(self) -> None:
        """SIGTERM to every worker, then SIGKILL to any still running after the grace."""
        running = [p for p in self.procs if p is not None and p.is_alive()]
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.join(GRACEFUL_SHUTDOWN + EXIT_SLACK)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            if conn is not None:
                conn.close()


@contextlib.contextmanager
def _signals(handler: Any) -> Iterator[None]:
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def supervise(
    config: ServerConfig,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None,
    count: int,
    on_event: Callable[[str], None],
    patience: Patience = Patience(),
    entry: WorkerEntry | None = None,
) -> None:
    """Serve with ``count`` worker processes until SIGINT or SIGTERM, then end by that signal
    (as ``uvicorn.run`` does). Raises OSError when the address cannot be listened on, and
    WorkerFailed when a worker stops before it serves, has not served within
    ``patience.start_limit``, or workers die more than ``patience.restarts`` times (or
    ``count`` times, if more) within ``patience.window``. Each worker process runs ``entry``
    (by default ``work``, the server)."""
    sock = listen(host, port)
    try:
        ledger = Ledger.create(len(config.tokens), count, config.allowance())
    except BaseException:
        sock.close()
        raise
    workers = _Workers(config, sock, ledger, tls, count, entry or work, patience.clock)
    deaths = CrashLoop(max(patience.restarts, count), patience.window, patience.clock)
    stopped: int | None = None
    try:
        with _signals(interrupt):
            try:
                for w in range(count):
                    workers.start(w)
                while True:
                    starting = workers.starting(patience.start_limit)
                    ready = wait(workers.waitables(), None if starting is None else starting[1])
                    for w in range(count):
                        if workers.heard(w, ready):
                            continue
                        proc = workers.procs[w]
                        assert proc is not None
                        how = _how(proc.exitcode)
                        if not workers.ready[w] and proc.exitcode not in _KILLED:
                            raise WorkerFailed(
                                f"control worker {w + 1} stopped before it served ({how}); "
                                "its own messages, if any, are above"
                            )
                        ledger.forget(w)
                        many = deaths.died()
                        if many is not None:
                            raise WorkerFailed(
                                f"control workers died {many} times within "
                                f"{patience.window:g} s, worker {w + 1} last ({how}): the "
                                "server stops rather than restart them in a loop; their own "
                                "messages, if any, are above"
                            )
                        workers.start(w)
                        on_event(f"warning: control worker {w + 1} died ({how}); started another")
                    starting = workers.starting(patience.start_limit)
                    if starting is not None and starting[1] == 0.0:
                        workers.kill(starting[0])
                        raise WorkerFailed(
                            f"control worker {starting[0] + 1} did not start serving within "
                            f"{patience.start_limit:g} s and was killed; its own messages, if "
                            "any, are above"
                        )
            except Interrupted as exc:
                stopped = exc.signum
            finally:
                # A second signal while the workers finish would leave them running.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                workers.stop()
    finally:
        sock.close()
        ledger.close()
    # The process ends as one process would, by the signal it was stopped with, whatever the
    # handler it started with (a server started in the background begins with SIGINT ignored,
    # and re-raising it then would end in exit 0).
    if stopped == signal.SIGINT:
        raise KeyboardInterrupt
    if stopped is not None:
        signal.signal(stopped, signal.SIG_DFL)
        signal.raise_signal(stopped)


def work(
    conn: Connection,
    sock: socket.socket,
    ledger_fd: _Inherited,
    worker: int,
    count: int,
    config: ServerConfig,
    tls: tuple[Path, Path] | None,
) -> None:
    """A worker process: uvicorn on ``sock`` until SIGTERM or until its supervisor is gone;
    exit 3 when the application did not start."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides what Ctrl-C means
    ledger = Ledger.attach(ledger_fd.fd, len(config.tokens), count, worker, config.allowance())
    server = _Worker(uvicorn.Config(create_app(config, ledger), **uvicorn_options(tls)), conn)
    try:
        server.run(sockets=[sock])
    finally:
        ledger.close()
        conn.close()
    if not server.served:
        raise SystemExit(3)


class _Worker(uvicorn.Server):
    """uvicorn's server, telling its supervisor when it serves and stopping when it is gone."""

    def __init__(self, config: uvicorn.Config, conn: Connection) -> None:
        super().__init__(config)
        self.conn = conn
        self.served = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGTERM only, and not raised again on the way out: the supervisor reads the exit
        # code, 0 for a worker it stopped.
        previous = signal.signal(signal.SIGTERM, self.handle_exit)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self._orphaned)
        self.served = True
        self.conn.send(READY)

    def _orphaned(self) -> None:
        # The supervisor never writes: readable means its end closed.
        asyncio.get_running_loop().remove_reader(self.conn.fileno())
        self.should_exit = True
