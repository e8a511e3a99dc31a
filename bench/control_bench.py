"""Load test of the control server: req/s and p99 latency at 8, 32 and 128 concurrent clients.

A benchmark, not a test: it prints figures and exits non-zero only when a request failed (an
error status, a transport error, or a measurement of the accessible lab site that did not come
out clean), never because of a timing. Everything runs on 127.0.0.0/8; no other traffic.

The server is the real CLI, ``censorcheck control serve``, in a process of its own; it measures
a site of the built-in lab, which runs in a thread of this process beside the clients. Each level
runs N asyncio workers over one ``httpx.AsyncClient`` with N connections, each posting
``/v1/measure`` back to back for a fixed time.

    .venv/bin/python bench/control_bench.py                 # 8, 32 and 128 clients, 5 s each
    .venv/bin/python bench/control_bench.py --clients 2 --seconds 1 --json
    .venv/bin/python bench/control_bench.py --workers 2     # the server in two processes

The server's CPU and memory are those of its process and its worker processes together.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from figures import print_figures

from censorcheck.control.protocol import API_PREFIX, MeasureRequest
from censorcheck.lab import Lab, LabThread
from censorcheck.lab.scenarios import BY_NAME
from censorcheck.models import Control

# Accessible HTTPS scenarios a probe would ask a control server about. With ``cdn`` the probe's
# (censored) resolver gave the site's second edge, so the server dials two addresses: its own
# and the probe's. With the others the probe's address is the server's own: one address.
SCENARIOS = ("cdn", "static", "dynamic")
BENCH_DOMAIN = "bench.test"
SERVER_START_LIMIT = 30.0  # seconds for the server process to answer /v1/health
CLIENT_TIMEOUT = 35.0  # above the server's --max-deadline (30 s): the server answers first
EXAMPLES = 5  # error messages kept per level, beside the counts

Figures = dict[str, Any]


# --- the server, in a process of its own ------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running ``censorcheck control serve``."""

    url: str
    token: str
    pid: int
    command: list[str]
    log: Path  # its stdout and stderr


def free_port() -> int:
    """A TCP port free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_command(
    lab: Lab, port: int, token_file: Path, timeout: float, workers: int
) -> list[str]:
    topo = lab.topology
    return [
        sys.executable, "-m", "censorcheck", "control", "serve",
        "--listen", f"127.0.0.1:{port}",
        "--token-file", str(token_file),
        "--resolver", topo.resolver_uri(censored=False),
        "--source-address", topo.free_vantage,
        "--ca-bundle", str(lab.ca_bundle),
        "--only-network", str(topo.network),
        "--rate", "100000", "--burst", "100000", "--max-in-flight", "1024",
        "--timeout", f"{timeout:g}",
        "--workers", str(workers),
    ]  # fmt: skip


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_LIMIT
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{url}{API_PREFIX}/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {SERVER_START_LIMIT:.0f} s")


@contextlib.contextmanager
def server_process(lab: Lab, timeout: float, workers: int = 1) -> Iterator[Server]:
    """``censorcheck control serve`` on a free port of 127.0.0.1, measuring in ``lab``."""
    with tempfile.TemporaryDirectory(prefix="censorcheck-control-bench-") as tmp:
        token = secrets.token_urlsafe(24)
        token_file = Path(tmp) / "token.txt"
        token_file.write_text(token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        log = Path(tmp) / "server.log"
        port = free_port()
        command = _server_command(lab, port, token_file, timeout, workers)
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            _wait_workers(proc.pid, workers)
            yield Server(url, token, proc.pid, command, log)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def _wait_workers(pid: int, workers: int) -> None:
    """Until the server's ``workers`` worker processes run (none of its own with one)."""
    deadline = time.monotonic() + SERVER_START_LIMIT
    want = workers if workers > 1 else 0
    while sum(b"spawn_main" in _cmdline(p) for p in _children(pid)) < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server's {workers} workers did not start")
        time.sleep(0.1)


# --- what /proc says about a process and its children ------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` and its children summed, in MiB; empty where
    /proc has no such file."""
    found: dict[str, float] = {}
    for each in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = found.get(key, 0.0) + int(value.split()[0]) / 1024  # kB
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its children so far, or None where /proc has
    no such file."""
    total = None
    for each in [pid, *_children(pid)]:
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
        total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- judging one answer -------------------------------------------------------------------


def problems(control: Control, addresses: int) -> list[str]:
    """Why a measurement of an accessible lab site is not clean; [] when it is.

    Clean: no failure anywhere, every DNS query answered, a TCP connection and a trusted
    handshake to each of the ``addresses`` expected, and a fetch that ended in 200.
    """
    found = [f"control.failure {control.failure}"] if control.failure else []
    found += [
        f"dns {q.qtype} {q.failure or 'no answer'}"
        for q in control.dns
        if q.failure or not q.answer
    ]
    found += [f"tcp {c.failure or c.skipped}" for c in control.tcp if c.failure or c.skipped]
    found += [f"tls {h.failure}" for h in control.tls if h.failure]
    found += [f"tls untrusted: {h.validation_error}" for h in control.tls if h.trusted is False]
    if not control.dns:
        found.append("no DNS query")
    if len(control.tcp) != addresses or len(control.tls) != addresses:
        found.append(f"{len(control.tcp)} TCP, {len(control.tls)} TLS for {addresses} addresses")
    if control.http is None:
        found.append("no HTTP fetch")
    elif control.http.failure:
        found.append(f"http {control.http.failure}")
    else:
        last = control.http.hops[-1].response if control.http.hops else None
        if last is None or last.status != 200:
            found.append(f"http status {None if last is None else last.status}")
    return found


# --- one level -------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0 when there are none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run_level(
    clients: int, seconds: float, server: Server, body: dict[str, Any], addresses: int
) -> Figures:
    """``clients`` workers posting ``body`` back to back for ``seconds``; the level's figures.

    Each worker has a client of its own, holding one connection, as each probe would. (One
    shared client would not do: httpcore's pool scans every connection for every request and
    every event, so with 128 connections the client, not the server, would be measured.)
    """
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    examples: list[str] = []
    end = math.inf

    def error(kind: str, detail: str) -> None:
        errors[kind] += 1
        if len(examples) < EXAMPLES:
            examples.append(f"{kind}: {detail}"[:300])

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < end:
            start = time.monotonic()
            try:
                response = await client.post(f"{API_PREFIX}/measure", json=body)
            except httpx.HTTPError as exc:
                latencies.append(time.monotonic() - start)
                error(f"transport {type(exc).__name__}", str(exc) or repr(exc))
                continue
            latencies.append(time.monotonic() - start)
            if response.status_code != 200:
                error(f"status {response.status_code}", response.text)
                continue
            try:
                control = Control.model_validate_json(response.content)
            except ValueError as exc:
                error("bad answer", str(exc))
                continue
            found = problems(control, addresses)
            if found:
                error(f"measurement {found[0]}", "; ".join(found))

    async with contextlib.AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=server.url,
                    headers={"authorization": f"Bearer {server.token}"},
                    limits=httpx.Limits(max_connections=1),
                    timeout=CLIENT_TIMEOUT,
                    trust_env=False,  # loopback only: no proxy from the environment
                )
            )
            for _ in range(clients)
        ]
        # Open every connection before the clock starts: a probe keeps its connection.
        await asyncio.gather(*(c.get(f"{API_PREFIX}/health") for c in pool))
        server_cpu0, own_cpu0 = cpu_seconds(server.pid), own_cpu_seconds()
        start = time.monotonic()
        end = start + seconds
        await asyncio.gather(*(worker(c) for c in pool))
        wall = time.monotonic() - start
        server_cpu1, own_cpu1 = cpu_seconds(server.pid), own_cpu_seconds()
    ordered = sorted(latencies)
    server_cpu = None
    if server_cpu0 is not None and server_cpu1 is not None:
        server_cpu = server_cpu1 - server_cpu0
    return {
        "clients": clients,
        "requests": len(ordered),
        "wall_s": wall,
        "requests_per_s": len(ordered) / wall,
        "p50_ms": percentile(ordered, 0.50) * 1e3,
        "p90_ms": percentile(ordered, 0.90) * 1e3,
        "p99_ms": percentile(ordered, 0.99) * 1e3,
        "max_ms": (ordered[-1] if ordered else 0.0) * 1e3,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_examples": examples,
        "server_cpu_s": server_cpu,
        "client_cpu_s": own_cpu1 - own_cpu0,  # the clients and the lab: one process
        "server_rss_mib": memory_mib(server.pid).get("VmRSS"),
    }


# --- the run ---------------------------------------------------------------------------------


def measure_body(lab: Lab, name: str) -> tuple[dict[str, Any], int]:
    """The request a probe would send for ``name``, and how many addresses the server dials."""
    topo = lab.topology
    own = topo.true_a(name)
    # What the probe's (censored) resolver gave it: the second edge for an ``alternate`` name.
    theirs = topo.alternate_a() if topo.names[name].dns == "alternate" else own
    body = MeasureRequest(url=topo.url(name), addresses=theirs).model_dump(exclude_none=True)
    return body, len(set(own) | set(theirs))


async def run_levels(
    levels: Sequence[int], seconds: float, server: Server, body: dict[str, Any], addresses: int
) -> list[Figures]:
    return [await run_level(n, seconds, server, body, addresses) for n in levels]


def run_benchmark(args: argparse.Namespace) -> Figures:
    name = f"{args.scenario}.{BENCH_DOMAIN}"
    with LabThread(entries=[(name, BY_NAME[args.scenario])], control=False) as lab:
        body, addresses = measure_body(lab, name)
        with server_process(lab, args.timeout, args.workers) as server:
            levels = asyncio.run(run_levels(args.clients, args.seconds, server, body, addresses))
            memory = memory_mib(server.pid)
            log = server.log.read_text(errors="replace").splitlines()
        network = str(lab.topology.network)
    return {
        "workload": {
            "url": body["url"],
            "addresses": body["addresses"],
            "addresses_dialled": addresses,
            "scenario": args.scenario,
            "seconds_per_level": args.seconds,
            "server_timeout_s": args.timeout,
            "lab_network": network,
            "cpus": os.cpu_count(),
            "server_workers": args.workers,
            "load_average": os.getloadavg()[0],
        },
        "levels": levels,
        "server": {
            "command": " ".join(server.command[1:]),
            "peak_rss_mib": memory.get("VmHWM"),
            "log_lines": [line for line in log if not line.startswith("control server on")],
        },
    }


# --- the report ------------------------------------------------------------------------------


def _share(cpu: float | None, wall: float) -> str:
    return "?" if cpu is None else f"{cpu / wall:.0%}"


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def render(figures: Figures) -> str:
    """The plain-text report."""
    w, server = figures["workload"], figures["server"]
    lines = [
        f"workload   POST {API_PREFIX}/measure {w['url']} (lab scenario {w['scenario']}),",
        f"           probe addresses {', '.join(w['addresses'])}: the server resolves, dials"
        f" {w['addresses_dialled']} address(es) with TCP+TLS, fetches over HTTPS",
        f"           {w['seconds_per_level']:g} s per level, server --timeout"
        f" {w['server_timeout_s']:g} --workers {w['server_workers']}; {w['cpus']} CPUs"
        f" (load {w['load_average']:.2f} at the end); lab {w['lab_network']} in this process",
        "",
        "clients  requests    req/s   p50 ms   p90 ms   p99 ms   max ms  errors"
        "  server CPU  client+lab CPU  server RSS MiB",
    ]
    for lv in figures["levels"]:
        lines.append(
            f"{lv['clients']:7d}  {lv['requests']:8d}  {lv['requests_per_s']:7.1f}"
            f"  {lv['p50_ms']:7.1f}  {lv['p90_ms']:7.1f}  {lv['p99_ms']:7.1f}  {lv['max_ms']:7.1f}"
            f"  {lv['errors']:6d}  {_share(lv['server_cpu_s'], lv['wall_s']):>10}"
            f"  {_share(lv['client_cpu_s'], lv['wall_s']):>14}  {_mib(lv['server_rss_mib']):>14}"
        )
    for lv in figures["levels"]:
        for kind, n in sorted(lv["errors_by_kind"].items()):
            lines.append(f"  {lv['clients']} clients: {n} x {kind}")
        lines += [f"    e.g. {e}" for e in lv["error_examples"]]
    lines += [
        "",
        f"server     {server['command']}",
        f"           peak RSS {_mib(server['peak_rss_mib'])} MiB (VmHWM over its whole life,"
        " summed over its processes)",
        "CPU is a share of one core over the level's wall time; the clients and the lab share",
        "this process (and its GIL), the server has its own (its workers' included, as is its",
        "RSS). Latency is the client's: from sending the request to parsing the answer, the",
        "whole measurement included.",
    ]
    if server["log_lines"]:
        lines += ["", f"server log ({len(server['log_lines'])} lines):"]
        lines += [f"  {line}" for line in server["log_lines"][:40]]
    return "\n".join(lines)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("each level is at least 1 client")
    return levels


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=_levels, default=[8, 32, 128], help="levels, e.g. 8,32,128 (default)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per level")
    parser.add_argument(
        "--scenario", choices=SCENARIOS, default="cdn", help="the lab site measured (cdn)"
    )
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="server seconds per network operation"
    )
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.timeout <= 0:
        parser.error("--seconds and --timeout must be above 0")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run_benchmark(args)
    print_figures(figures, args.json, render)
    clean = all(lv["errors"] == 0 and lv["requests"] > 0 for lv in figures["levels"])
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
