"""Throughput benchmark: a thousand lab targets at concurrency 50, beside ``xargs -P 50 curl``.

A benchmark, not a test: it prints figures and exits non-zero only when a verdict is wrong, never
because of a timing. Everything runs against the built-in lab on 127.0.0.0/8; no other traffic.

The lab runs in a child process, so its CPU time and memory are not counted as the probe's. The
workload is a seeded mix of lab scenarios in fixed proportions (``MIX``); each name's scenario says
what the verdict must be, which gives the accuracy figure.

    .venv/bin/python bench/probe_bench.py              # the default: 1,000 targets, curl baseline
    .venv/bin/python bench/probe_bench.py --count 40 --no-curl --no-scenarios --quic-count 20 --json
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import control_addresses
import quic_cost
import startup
from baseline import curl_figures
from cli_run import cli_run
from figures import Figures, cpu_seconds, print_figures
from lab_process import LabInfo, lab_process
from workload import Entries, build_entries, check_verdicts, lab_entries

from censorcheck.lab import Topology
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.measure.workers import default_workers
from censorcheck.models import Result, Run
from censorcheck.settings import Settings

LAYERS = ("dns", "tcp", "tls", "http")
SCENARIO_TIMEOUT = 3.0


# --- reading results -------------------------------------------------------------------------


def _is_timeout(failure: str | None) -> bool:
    return failure is not None and failure.endswith(".timeout")


def timed_out_layers(result: Result) -> list[str]:
    """The layers at which the probe itself waited out a timeout, each named once.

    Counted: the probe resolvers' queries (A and AAAA run side by side, so one wait), the TCP
    connects, the handshakes naming the host, and the HTTP fetch. Not counted: the handshakes'
    repeat and neutral-SNI checks (hedged: they run beside the first handshake), the control
    lookups and the neutral HTTP retry, which all overlap the probe's own work.
    """
    fired = {
        "dns": any(_is_timeout(q.failure) for q in result.dns),
        "tcp": any(_is_timeout(c.failure) for c in result.tcp),
        "tls": any(_is_timeout(h.failure) for h in result.tls),
        "http": result.http is not None and _is_timeout(result.http.failure),
    }
    return [layer for layer in LAYERS if fired[layer]]


def _settings(lab: LabInfo, timeout: float, concurrency: int | None) -> Settings:
    values = lab.settings.model_dump()
    values["timeout"] = timeout
    if concurrency is not None:
        values["concurrency"] = concurrency
    return Settings.model_validate(values)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def list_order_schedule(times: Sequence[float], concurrency: int) -> float:
    """The makespan of ``times`` started in list order, each as soon as a slot is free.

    With no overhead at all: the best that any run starting targets in the order given (as
    ``measure`` does) can achieve with ``concurrency`` slots.
    """
    slots = [0.0] * min(concurrency, max(1, len(times)))
    for t in times:
        heapq.heapreplace(slots, slots[0] + t)
    return max(slots)


def timed_run(urls: list[str], settings: Settings) -> tuple[Run, Figures]:
    """One ``measure.api.measure(...)`` in this process, as the CLI runs it, and its figures.

    Wall time, CPU time, memory, and how long it took until the first target started and after
    the last one ended.
    """
    targets = load_targets(urls)
    user0, sys0 = cpu_seconds(resource.RUSAGE_SELF)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    epoch, start = time.time(), time.monotonic()
    run = measure(targets, settings)
    wall = time.monotonic() - start
    user1, sys1 = cpu_seconds(resource.RUSAGE_SELF)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    starts = [_epoch(r.started_at) - epoch for r in run.results]
    ends = [s + r.t for s, r in zip(starts, run.results, strict=True)]
    return run, {
        "wall_s": wall,
        "cpu_s": (user1 - user0) + (sys1 - sys0),
        "cpu_user_s": user1 - user0,
        "cpu_sys_s": sys1 - sys0,
        "peak_rss_mib": rss_peak / 1024,
        "rss_before_mib": rss_before / 1024,
        # started_at has millisecond resolution: these two are good to a few milliseconds.
        "before_first_start_s": max(0.0, min(starts, default=0.0)),
        "after_last_end_s": max(0.0, wall - max(ends, default=0.0)),
    }


def network_floor(run: Run, timeout: float, concurrency: int) -> Figures:
    """What the network alone forces, whatever the tool: the most of the longest single wait
    (a target's timed-out layers, one after another) and every wait spread over the slots.

    Counted from the lab's behaviour as the results record it (which layers waited a timeout
    out), never from the tool's own per-target times: those stretch when the tool is short of
    CPU, and a bound that moved with the tool would flatter it.
    """
    per_layer = Counter(layer for r in run.results for layer in timed_out_layers(r))
    timeouts = sum(per_layer.values())
    longest = max((len(timed_out_layers(r)) for r in run.results), default=0) * timeout
    spread = timeouts * timeout / concurrency
    return {
        "timeouts": timeouts,
        "timeouts_by_layer": {layer: per_layer.get(layer, 0) for layer in LAYERS},
        "longest_wait_s": longest,
        "spread_waits_s": spread,
        "network_floor_s": max(longest, spread),
    }


def probe_figures(
    entries: Entries,
    lab: LabInfo,
    timeout: float,
    concurrency: int,
    workers: int | None,
    profile: Path | None = None,
) -> tuple[Figures, list[str]]:
    """``censorcheck run`` over every entry once, from the lab's censored vantage, through the
    CLI with ``workers`` processes (None: the CLI's default); the figures and the URLs used."""
    topo = Topology(lab.network, entries=lab_entries(entries))
    urls = topo.target_urls()
    lab_cpu0 = lab.lab_cpu()
    run, figures = cli_run(
        urls,
        lab.arguments,
        timeout=timeout,
        concurrency=concurrency,
        workers=workers,
        profile=profile,
    )
    figures["lab_cpu_s"] = lab.lab_cpu() - lab_cpu0
    floor = network_floor(run, timeout, concurrency)
    wall = figures["wall_s"]
    times = [r.t for r in run.results]
    figures.update(
        floor,
        targets=len(run.results),
        targets_per_s=len(run.results) / wall,
        efficiency=floor["network_floor_s"] / wall,
        slowest_s=max(times, default=0.0),
        sum_t_s=sum(times),
        list_order_schedule_s=list_order_schedule(times, concurrency),
        by_status=dict(Counter(r.verdict.status for r in run.results)),
        **check_verdicts(run, topo.names),
    )
    return figures, urls


def memory_figures(
    counts: Sequence[int], seed: int, timeout: float, concurrency: int, workers: int | None
) -> Figures:
    """Peak memory of the whole run (every process) at each count, from a lab of its own."""
    peaks: Figures = {}
    for count in counts:
        entries = build_entries(count, seed)
        with lab_process(entries) as lab:
            figures, _ = probe_figures(entries, lab, timeout, concurrency, workers)
        peaks[str(count)] = {
            # The CLI's default depends on the list's size (workers.default_workers).
            "workers": workers if workers is not None else default_workers(count, concurrency),
            "peak_rss_mib": figures["peak_rss_mib"],
            "wall_s": figures["wall_s"],
            "accuracy": figures["accuracy"],
        }
    return peaks


# --- the scenario table ----------------------------------------------------------------------


def scenario_figures(timeout: float = SCENARIO_TIMEOUT) -> Figures:
    """The default lab (every scenario, then the demo names) at the default concurrency."""
    with lab_process(None) as lab:
        topo = Topology(lab.network)
        settings = _settings(lab, timeout, None)
        run, figures = timed_run(topo.target_urls(), settings)
    timeouts = sum(len(timed_out_layers(r)) for r in run.results)
    for key in ("peak_rss_mib", "rss_before_mib"):  # this process's peak is the main run's
        del figures[key]
    figures.update(
        targets=len(run.results),
        timeout_s=timeout,
        concurrency=settings.concurrency,
        sum_t_s=sum(r.t for r in run.results),
        timeouts=timeouts,
        sum_of_timeouts_s=timeouts * timeout,
        **check_verdicts(run, topo.names),
    )
    return figures


# --- the report ------------------------------------------------------------------------------


# The goals. Reported beside the figures; never the exit code.
GOAL_FLOOR_RATIO = 1.25  # wall time within 1.25x of the network floor
GOAL_CPU_MS = 3.0  # CPU per target
GOAL_RSS_GROWTH = 0.10  # peak memory at the larger count within 10% of the smaller


def _label(workers: int | None) -> str:
    return "default" if workers is None else str(workers)


def _workers(text: str) -> list[int | None]:
    return [None if w == "default" else int(w) for w in text.split(",") if w]


def run_benchmark(args: argparse.Namespace) -> Figures:
    entries = build_entries(args.count, args.seed)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    figures: Figures = {
        "workload": {
            "count": args.count,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "timeout_s": args.timeout,
            "cores": os.cpu_count(),
            "mix": dict(Counter(s for _, s in entries)),
        },
        "probe": {},
    }
    with lab_process(entries) as lab:
        urls: list[str] = []
        for workers in args.workers:
            profile = args.profile / f"run-workers-{_label(workers)}.prof" if args.profile else None
            one, urls = probe_figures(
                entries, lab, args.timeout, args.concurrency, workers, profile
            )
            figures["probe"][_label(workers)] = one
        if not args.no_curl:
            figures["curl"] = curl_figures(urls, lab, args.timeout, args.concurrency)
    if args.memory_counts:
        figures["memory"] = {
            _label(w): memory_figures(
                args.memory_counts, args.seed, args.timeout, args.concurrency, w
            )
            for w in args.workers
        }
    if not args.no_scenarios:
        figures["scenarios"] = scenario_figures()
    if args.control_per_row:
        figures["control_addresses"] = control_addresses.control_address_figures(
            args.control_per_row, args.timeout, (1, args.concurrency)
        )
    if args.quic_count:
        figures["quic"] = quic_cost.quic_figures(
            args.quic_count, args.seed, args.timeout, args.concurrency, args.profile
        )
    if args.startup_repeats:
        figures["startup"] = startup.startup_figures(args.startup_repeats)
    figures["goals"] = goals(figures)
    return figures


def goals(figures: Figures) -> Figures:
    """The issue's goals, each met or not, for every worker setting measured."""
    out: Figures = {}
    for label, p in figures["probe"].items():
        out[label] = {
            "accuracy_100": p["accuracy"] == 1.0,
            "within_floor_ratio": p["wall_s"] <= GOAL_FLOOR_RATIO * p["network_floor_s"],
            "cpu_per_target": p["cpu_ms_per_target"] <= GOAL_CPU_MS,
        }
        memory = figures.get("memory", {}).get(label)
        if memory and len(memory) >= 2:
            peaks = [m["peak_rss_mib"] for m in memory.values()]
            # Each worker is a process of its own: sizes run with different worker counts
            # compare processes, not how memory grows with the list.
            same = len({m["workers"] for m in memory.values()}) == 1
            flat = max(peaks) <= (1 + GOAL_RSS_GROWTH) * min(peaks)
            out[label]["flat_memory"] = flat if same else "not comparable"
    return out


def _mark(ok: bool | str | None) -> str:
    if isinstance(ok, str):
        return f"{ok} (another worker count at each size)"
    return {True: "met", False: "MISSED", None: "not run"}[ok]


def _probe_lines(label: str, p: Figures, w: Figures) -> list[str]:
    layers = ", ".join(f"{k} {v}" for k, v in p["timeouts_by_layer"].items())
    workers = "the CLI's default" if label == "default" else label
    return [
        "",
        f"censorcheck run, workers: {workers} (the real CLI, a process of its own; the lab in"
        " another)",
        f"  wall time          {p['wall_s']:7.2f} s   {p['targets_per_s']:7.1f} targets/s"
        "   (from starting the command to its exit)",
        f"  network floor      {p['network_floor_s']:7.2f} s   the most of:",
        f"    longest wait     {p['longest_wait_s']:7.2f} s   (one target's timed-out layers)",
        f"    waits spread     {p['spread_waits_s']:7.2f} s   ({p['timeouts']} timeouts x"
        f" {w['timeout_s']:g} s / {w['concurrency']}; {layers})",
        f"  wall / floor       {p['wall_s'] / p['network_floor_s']:7.2f} x   (efficiency"
        f" {p['efficiency']:.0%})",
        f"  CPU                {p['cpu_s']:7.2f} s   (user {p['cpu_user_s']:.2f},"
        f" sys {p['cpu_sys_s']:.2f}; every process of the run)",
        f"  CPU per target     {p['cpu_ms_per_target']:7.2f} ms",
        f"  lab CPU            {p['lab_cpu_s']:7.2f} s   (the lab shares the machine)",
        f"  peak memory        {p['peak_rss_mib']:7.1f} MiB (every process of the run at once)",
        f"  accuracy           {p['accuracy']:7.1%}   ({p['correct']}/{w['count']} verdicts as"
        " the lab's truth says)",
        *(f"    wrong: {m}" for m in p["mismatches"]),
    ]


def render(figures: Figures) -> str:
    """The plain-text report."""
    w = figures["workload"]
    mix = ", ".join(f"{name} {n}" for name, n in sorted(w["mix"].items()))
    lines = [
        f"workload   {w['count']} lab targets, seed {w['seed']}, concurrency {w['concurrency']},"
        f" timeout {w['timeout_s']:g} s, {w['cores']} cores",
        f"           {mix}",
        "  timeouts: counted once per target and layer where the probe itself waited one out:",
        "  its resolvers' A/AAAA queries, TCP, the handshake naming the host, HTTP. Not counted:",
        "  what runs beside those (the repeat and neutral-SNI handshakes, control lookups).",
    ]
    for label, p in figures["probe"].items():
        lines += _probe_lines(label, p, w)
    curl = figures.get("curl")
    if curl is not None:
        codes = ", ".join(f"{code}: {n}" for code, n in curl["exit_codes"].items())
        fastest = min(p["wall_s"] for p in figures["probe"].values())
        lines += [
            "",
            f"baseline: {curl['how']}, xargs -P {w['concurrency']}, one URL each; timeouts"
            f" {w['timeout_s']:g} s; from the censored vantage",
            f"  wall time          {curl['wall_s']:7.2f} s   {curl['targets_per_s']:7.1f}"
            f" targets/s   (censorcheck at best {curl['wall_s'] / fastest:.2f}x as fast)",
            f"  CPU                {curl['cpu_s']:7.2f} s   (xargs and all it ran)",
            f"  slowest, sum(t)    {curl['slowest_s']:7.2f} s, {curl['sum_t_s']:.1f} s",
            f"  exit codes         {codes}   (0 ok, 28 timeout, 35 TLS, 56 reset, 6 no name)",
        ]
    for label, peaks in figures.get("memory", {}).items():
        row = ", ".join(
            f"{count} targets {m['peak_rss_mib']:.1f} MiB ({m['workers']} worker"
            f"{'s' if m['workers'] != 1 else ''})"
            for count, m in peaks.items()
        )
        lines += ["", f"peak memory by list size, workers {label}: {row}"]
    sc = figures.get("scenarios")
    if sc is not None:
        lines += [
            "",
            f"scenario table (default lab, {sc['targets']} targets, timeout {sc['timeout_s']:g} s,"
            f" concurrency {sc['concurrency']}; api.measure in this process)",
            f"  wall time          {sc['wall_s']:7.2f} s   against {sc['sum_of_timeouts_s']:.0f} s"
            f" of timeouts fired ({sc['timeouts']} x {sc['timeout_s']:g} s),"
            f" {sc['sum_t_s']:.1f} s of target time",
            f"  accuracy           {sc['accuracy']:7.1%}   ({sc['correct']}/{sc['targets']})",
            *(f"    wrong: {m}" for m in sc["mismatches"]),
        ]
    if "control_addresses" in figures:
        lines += control_addresses.render(figures["control_addresses"])
    if "quic" in figures:
        lines += quic_cost.render(figures["quic"])
    if "startup" in figures:
        lines += startup.render(figures["startup"])
    lines += ["", "goals"]
    for label, marks in figures["goals"].items():
        lines += [
            f"  workers {label}:",
            f"    accuracy 100%                  {_mark(marks['accuracy_100'])}",
            f"    wall within {GOAL_FLOOR_RATIO:g}x of the floor  "
            f"{_mark(marks['within_floor_ratio'])}",
            f"    CPU per target <= {GOAL_CPU_MS:g} ms       {_mark(marks['cpu_per_target'])}",
            f"    flat memory (within 10%)       {_mark(marks.get('flat_memory'))}",
        ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="lab targets (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenario mix")
    parser.add_argument("--concurrency", type=int, default=50, help="targets at once")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per operation")
    parser.add_argument("--no-curl", action="store_true", help="skip the curl baseline")
    parser.add_argument(
        "--no-scenarios", action="store_true", help="skip the default lab's scenario table"
    )
    parser.add_argument(
        "--control-per-row",
        type=int,
        default=10,
        help="lab targets per DNS-differing row for the control's-addresses cost (0: skip)",
    )
    parser.add_argument(
        "--quic-count",
        type=int,
        default=1000,
        help="lab targets on HTTP/3 sites for what QUIC costs (0: skip)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default="1,default",
        help="worker settings to measure, comma-separated ('default': the CLI's own choice)",
    )
    parser.add_argument(
        "--memory-counts",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default="1000,10000",
        help="list sizes whose peak memory is compared (empty: skip)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="folder for a cProfile of each run's main process, and of each QUIC cost run "
        "(read with pstats)",
    )
    parser.add_argument(
        "--startup-repeats",
        type=int,
        default=10,
        help="runs of each command for the CLI's start-up times (0: skip)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.count < 1 or args.concurrency < 1 or args.timeout <= 0:
        parser.error("--count and --concurrency must be at least 1, --timeout above 0")
    if not args.no_curl and shutil.which("curl") is None:
        parser.error("curl is not installed; use --no-curl")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run_benchmark(args)
    print_figures(figures, args.json, render)
    accurate = all(p["accuracy"] == 1.0 for p in figures["probe"].values()) and all(
        figures[part]["accuracy"] == 1.0
        for part in ("scenarios", "control_addresses", "quic")
        if part in figures
    )
    return 0 if accurate else 1


if __name__ == "__main__":
    sys.exit(main())
