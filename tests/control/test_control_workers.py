"""``censorcheck control serve --workers N``: N processes on one socket, one set of limits.

The servers here are the real CLI in a process of its own, measuring the loopback lab (or, for
the limits, a listener of ``NET`` that never answers); worker processes are found in /proc as
the server's children started by multiprocessing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.limits import Ledger
from censorcheck.lab import Lab
from censorcheck.models import Control, HTTPHop
from tests.control.support import NET, TOKEN, bearer, client, host

START_LIMIT = 60.0  # seconds for a server (two workers importing on a busy machine) to answer


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> set[int]:
        """The pids of the server's worker processes now."""
        return spawned_by(self.proc.pid)

    def until_workers(self, count: int, without: set[int] | None = None) -> set[int]:
        """Polls /proc (the only way to see a process start) until ``count`` workers, none of
        them in ``without``, are running."""
        deadline = time.monotonic() + START_LIMIT
        while True:
            now = self.workers()
            if len(now) == count and not now & (without or set()):
                return now
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"workers: {now}"
            time.sleep(0.05)


def spawned_by(parent: int) -> set[int]:
    """The pids of the processes ``parent`` started with multiprocessing's spawn, zombies
    included (they are in /proc until reaped)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rpartition(")")[2].split()[1])
            if ppid == parent and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
    return found


def _free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def cli_server(tmp_path: Path, workers: int, *flags: str) -> Iterator[Served]:
    """``censorcheck control serve --workers N FLAGS`` on a free loopback port, until it
    answers /v1/health; terminated (if still running) on the way out."""
    tokens = tmp_path / f"tokens-{workers}.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    port = _free_port()
    log = tmp_path / f"server-{workers}-{port}.log"
    argv = [sys.executable, "-m", "censorcheck", "control", "serve", "--token-file", str(tokens),
            "--listen", f"127.0.0.1:{port}", "--workers", str(workers), *flags]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + START_LIMIT
        with client() as c:
            while True:  # until the port answers (an event, polled), or the server died
                with contextlib.suppress(httpx.TransportError):
                    if c.get(f"{served.url}/v1/health").status_code == 200:
                        break
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        if workers > 1:
            served.until_workers(workers)
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _lab_flags(lab: Lab) -> list[str]:
    topo = lab.topology
    return ["--resolver", topo.resolver_uri(censored=False), "--source-address",
            topo.free_vantage, "--ca-bundle", str(lab.ca_bundle),
            "--only-network", str(topo.network), "--timeout", "5"]  # fmt: skip


def _confined_flags() -> list[str]:
    return ["--resolver", "udp://127.0.0.1:9", "--source-address", host(2),
            "--only-network", str(NET), "--timeout", "2"]  # fmt: skip


def _measure(url: str, target: str, c: httpx.Client | None = None) -> Control:
    with contextlib.ExitStack() as stack:
        c = c or stack.enter_context(client())
        response = c.post(f"{url}/v1/measure", json={"url": target}, headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    return Control.model_validate_json(response.content)


def _hop(hop: HTTPHop) -> tuple[Any, ...]:
    response = hop.response
    page = (response.status, response.title, response.body_length) if response else None
    return hop.url, hop.address, hop.failure, page


def essence(control: Control) -> dict[str, Any]:
    """What a measurement found, without its timings."""
    dns = [(q.qtype, q.hostname, q.failure, sorted(q.answer.addresses) if q.answer else [])
           for q in control.dns]  # fmt: skip
    return {
        "failure": control.failure,
        "dns": sorted(dns),
        "tcp": sorted((c.address, c.port, c.failure, c.skipped) for c in control.tcp),
        "tls": sorted((h.address, h.sni, h.failure, h.trusted) for h in control.tls),
        "http": [_hop(h) for h in control.http.hops] if control.http else None,
    }


def test_two_workers_measure_a_lab_site_as_one_does(lab: Lab, tmp_path: Path) -> None:
    target = lab.topology.url("static.lab.test")
    answers = []
    for workers in (1, 2):
        with cli_server(tmp_path, workers, *_lab_flags(lab)) as served:
            # Each on a fresh connection: with two workers both are likely to have answered.
            answers.append([essence(_measure(served.url, target)) for _ in range(4)])
    one, two = answers
    assert one[0]["http"] and one[0]["http"][-1][3][0] == 200, one[0]  # a page, not a failure
    assert all(a == one[0] for a in one + two), (one, two)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)]
)
def test_a_stop_signal_stops_every_worker(tmp_path: Path, signum: int, code: int) -> None:
    with cli_server(tmp_path, 2, *_confined_flags()) as served:
        workers = served.workers()
        served.proc.send_signal(signum)
        assert served.proc.wait(30) == code, served.log.read_text(errors="replace")
    for pid in workers:  # reaped by the server: gone from /proc, not zombies
        assert not Path(f"/proc/{pid}").exists(), pid
    with socket.socket() as s:  # and nobody listens on the port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(served.url.rpartition(":")[2])))


def test_a_killed_worker_is_started_again(tmp_path: Path) -> None:
    with cli_server(tmp_path, 2, *_confined_flags()) as served:
        before = served.workers()
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = served.until_workers(2, without={victim})
        assert len(after & before) == 1
        with client() as c:
            for _ in range(6):  # fresh connections, so both workers take some
                response = c.post(
                    f"{served.url}/v1/measure",
                    json={"url": f"http://{host(9)}:9/"},
                    headers={**bearer(TOKEN), "connection": "close"},
                )
                assert response.status_code == 200, response.text
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(30) == -signal.SIGTERM
    lines = served.log.read_text().splitlines()
    restarted = [line for line in lines if line.startswith("warning: control worker")]
    assert len(restarted) == 1 and "SIGKILL" in restarted[0], lines


def test_a_token_over_its_rate_gets_429_whichever_worker_answers(tmp_path: Path) -> None:
    flags = [*_confined_flags(), "--rate", "0.01", "--burst", "3"]
    with cli_server(tmp_path, 2, *flags) as served, client() as c:
        statuses = [
            c.post(
                f"{served.url}/v1/measure",
                json={"url": f"http://{host(9)}:9/"},
                headers={**bearer(TOKEN), "connection": "close"},
            ).status_code
            for _ in range(6)
        ]
    # One bucket for the whole server: two per-worker buckets of 3 would have let up to 6 in.
    assert statuses == [200] * 3 + [429] * 3


class _Holder:
    """Accepts connections on ``address`` and holds them unanswered; counts them."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_server((address, 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = threading.Semaphore(0)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.held.append(conn)
                self.accepted.release()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_token_over_its_in_flight_cap_gets_429_whichever_worker_answers(
    tmp_path: Path,
) -> None:
    holder = _Holder(host(14))
    flags = [*_confined_flags(), "--max-in-flight", "2", "--max-deadline", "20"]
    slow_url = f"http://{host(14)}:{holder.port}/"
    try:
        with (
            cli_server(tmp_path, 2, *flags) as served,
            client() as c,
            ThreadPoolExecutor(max_workers=2) as pool,
        ):

            def ask(url: str) -> httpx.Response:
                with client() as own:  # a connection of its own
                    return own.post(
                        f"{served.url}/v1/measure",
                        json={"url": url, "deadline": 15},
                        headers=bearer(TOKEN),
                    )

            slow = [pool.submit(ask, slow_url) for _ in range(2)]
            for _ in slow:
                assert holder.accepted.acquire(timeout=30), "a slow measurement never started"
            for _ in range(6):  # fresh connections: each worker is asked
                busy = c.post(
                    f"{served.url}/v1/measure",
                    json={"url": f"http://{host(9)}:9/"},
                    headers={**bearer(TOKEN), "connection": "close"},
                )
                assert busy.status_code == 429, busy.text
                assert busy.json() == {"detail": "too many measurements in flight"}
            holder.close()  # the slow ones end, and give their slots back
            assert [f.result(timeout=30).status_code for f in slow] == [200, 200]
            assert ask(f"http://{host(9)}:9/").status_code == 200
    finally:
        holder.close()


# --- the ledger itself -------------------------------------------------------------------------


def test_a_ledger_is_one_set_of_limits_for_every_worker() -> None:
    parent = Ledger.create(tokens=2, workers=2, limits=(1000.0, 1000, 2))
    assert parent.fd is not None
    views = [Ledger.attach(os.dup(parent.fd), 2, 2, w, (1000.0, 1000, 2)) for w in (0, 1)]
    try:
        assert views[0].admit(0) is None and views[1].admit(0) is None
        refusal = views[0].admit(0)
        assert refusal is not None and refusal.detail == "too many measurements in flight"
        assert views[1].admit(1) is None  # per token
        parent.forget(1)  # worker 1 died: its measurements are no longer counted
        assert views[0].admit(0) is None
        views[0].release(0)
        views[0].release(0)
        assert views[1].admit(0) is None
    finally:
        for ledger in (*views, parent):
            ledger.close()


def test_a_ledgers_bucket_is_shared() -> None:
    now = [0.0]
    parent = Ledger.create(tokens=1, workers=2, limits=(0.5, 2, 10), clock=lambda: now[0])
    assert parent.fd is not None
    views = [
        Ledger.attach(os.dup(parent.fd), 1, 2, w, (0.5, 2, 10), clock=lambda: now[0])
        for w in (0, 1)
    ]
    try:
        assert views[0].admit(0) is None and views[1].admit(0) is None
        refusal = views[1].admit(0)
        assert refusal is not None and refusal.detail == "rate limit exceeded"
        assert refusal.retry_after == 2  # one token at 0.5 a second
        now[0] = 2.0
        assert views[0].admit(0) is None
    finally:
        for ledger in (*views, parent):
            ledger.close()


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    """The CLI checks the CA bundle first; a file spoilt after that check fails in each worker
    as its application starts: the server stops with WorkerFailed, not half-alive."""
    from censorcheck.control.server import serve
    from censorcheck.control.workers import WorkerFailed
    from tests.control.support import confined, settings

    spoilt = tmp_path / "ca.pem"
    spoilt.write_text("not a certificate\n", encoding="utf-8")
    config = confined(settings=settings(ca_bundle=spoilt))
    events: list[str] = []
    with pytest.raises(WorkerFailed, match="stopped before it served"):
        serve(config, "127.0.0.1", _free_port(), workers=2, on_event=events.append)
    assert events == []


def test_a_worker_silent_past_its_start_limit_is_killed_and_stops_the_server() -> None:
    """Neither worker ever says it serves: the first past the (short) limit is killed, the
    other stopped, both reaped, and the port let go. What is awaited is the supervisor's own
    decision, whenever it comes."""
    from censorcheck.control.workers import Patience, WorkerFailed, supervise
    from tests.control.misbehaving import never_ready
    from tests.control.support import confined

    port = _free_port()
    events: list[str] = []
    with pytest.raises(WorkerFailed, match=r"^control worker [12] did not start serving within"):
        supervise(confined(), "127.0.0.1", port, None, 2, events.append,
                  Patience(start_limit=0.5), entry=never_ready)  # fmt: skip
    assert events == []
    assert spawned_by(os.getpid()) == set()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_workers_dying_in_a_loop_stop_the_server() -> None:
    """Workers that die as soon as they serve, on a clock that never moves (every death within
    the window). One death is allowed, but never fewer than one per worker (one event killing
    every worker once is not a loop): two deaths are replaced, the third stops the server."""
    from censorcheck.control.workers import Patience, WorkerFailed, supervise
    from tests.control.misbehaving import dies_after_serving
    from tests.control.support import confined

    events: list[str] = []

    def note(line: str) -> None:  # a supervisor restarting without end fails, not hangs
        events.append(line)
        assert len(events) < 10, events

    frozen = Patience(restarts=1, window=60.0, clock=lambda: 0.0)
    with pytest.raises(WorkerFailed, match=r"^control workers died 3 times within 60 s"):
        supervise(confined(), "127.0.0.1", _free_port(), None, 2, note, frozen,
                  entry=dies_after_serving)  # fmt: skip
    assert len(events) == 2, events
    assert all(e.startswith("warning: control worker") and "exit 1" in e for e in events)
    assert spawned_by(os.getpid()) == set()


def test_only_deaths_within_the_window_count() -> None:
    from censorcheck.control.workers import CrashLoop

    now = [0.0]
    deaths = CrashLoop(limit=2, window=60.0, clock=lambda: now[0])
    for at in (0.0, 30.0, 61.0, 95.0):  # never more than two within 60 s
        now[0] = at
        assert deaths.died() is None, at
    now[0] = 100.0  # 61, 95 and 100
    assert deaths.died() == 3
