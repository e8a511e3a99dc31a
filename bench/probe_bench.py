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
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import control_addresses
import quic_cost
from figures import Figures, cpu_seconds, print_figures
from lab_process import LabInfo, lab_process
from workload import Entries, build_entries, check_verdicts, lab_entries

from censorcheck.lab import Topology
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.models import Result, Run
from censorcheck.settings import Settings

LAYERS = ("dns", "tcp", "tls", "http")
SCENARIO_TIMEOUT = 3.0
# The goals. Reported beside the figures; never the exit code.
GOAL_EFFICIENCY = 0.90
GOAL_PEAK_MIB = 150e6 / 2**20  # the 150 MB, as MiB (ru_maxrss counts KiB)


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


def probe_figures(
    entries: Entries, lab: LabInfo, timeout: float, concurrency: int
) -> tuple[Figures, list[str]]:
    """Measure every entry once from the lab's censored vantage; the figures and the URLs used."""
    topo = Topology(lab.network, entries=lab_entries(entries))
    urls = topo.target_urls()
    run, figures = timed_run(urls, _settings(lab, timeout, concurrency))
    times = [r.t for r in run.results]
    per_layer = Counter(layer for r in run.results for layer in timed_out_layers(r))
    timeouts = sum(per_layer.values())
    slowest = max(times, default=0.0)
    packed = sum(times) / concurrency
    waited = timeouts / concurrency * timeout
    bound = max(slowest, packed, waited)
    wall = figures["wall_s"]
    in_order = list_order_schedule(times, concurrency)
    figures.update(
        targets=len(run.results),
        targets_per_s=len(run.results) / wall,
        slowest_s=slowest,
        sum_t_s=sum(times),
        sum_t_over_concurrency_s=packed,
        timeouts=timeouts,
        timeouts_by_layer={layer: per_layer.get(layer, 0) for layer in LAYERS},
        timeouts_bound_s=waited,
        ideal_bound_s=bound,
        efficiency=bound / wall,
        list_order_schedule_s=in_order,
        list_order_efficiency=bound / in_order if in_order else 1.0,
        by_status=dict(Counter(r.verdict.status for r in run.results)),
        **check_verdicts(run, topo.names),
    )
    return figures, urls


# --- the curl baseline -----------------------------------------------------------------------


def curl_figures(urls: list[str], lab: LabInfo, timeout: float, concurrency: int) -> Figures:
    """The same URLs through ``xargs -P N -n 1 curl``, resolving through the censored resolver.

    curl resolves over DoH at the censored resolver, so it meets the same censorship. Its DoH
    requests inherit ``--cacert`` (curl copies the CA options to its DoH transfers) but not
    ``--interface``: strace shows them leave from an unbound socket. That changes nothing here,
    because the lab's censored resolver lies about a name whoever asks; the web requests, which
    the lab's censor judges by client address, do leave from the censored vantage. CPU time is
    that of xargs and every curl it ran.
    """
    command = [
        "xargs", "-P", str(concurrency), "-n", "1",
        "curl", "-s", "-o", "/dev/null",
        "--max-time", f"{timeout:g}", "--connect-timeout", f"{timeout:g}",
        "--cacert", str(lab.ca_bundle),
        "--interface", lab.censored_vantage,
        "--doh-url", lab.doh_url,
        "-w", "%{exitcode} %{time_total} %{url}\\n",
    ]  # fmt: skip
    user0, sys0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        command,
        input="\n".join(urls) + "\n",
        capture_output=True,
        text=True,
        timeout=max(120.0, 4 * timeout * len(urls) / concurrency),
        check=False,
    )
    wall = time.monotonic() - start
    user1, sys1 = cpu_seconds(resource.RUSAGE_CHILDREN)
    codes: Counter[str] = Counter()
    times: list[float] = []
    for line in done.stdout.splitlines():
        code, seconds, _ = line.split(" ", 2)
        codes[code] += 1
        times.append(float(seconds))
    return {
        "wall_s": wall,
        "targets": len(times),
        "targets_per_s": len(times) / wall,
        "cpu_s": (user1 - user0) + (sys1 - sys0),
        "slowest_s": max(times, default=0.0),
        "sum_t_s": sum(times),
        "exit_codes": dict(sorted(codes.items(), key=lambda kv: int(kv[0]))),
        "xargs_status": done.returncode,
    }


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


def run_benchmark(args: argparse.Namespace) -> Figures:
    entries = build_entries(args.count, args.seed)
    figures: Figures = {
        "workload": {
            "count": args.count,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "timeout_s": args.timeout,
            "mix": dict(Counter(s for _, s in entries)),
        }
    }
    with lab_process(entries) as lab:
        figures["probe"], urls = probe_figures(entries, lab, args.timeout, args.concurrency)
        if not args.no_curl:
            figures["curl"] = curl_figures(urls, lab, args.timeout, args.concurrency)
    if not args.no_scenarios:
        figures["scenarios"] = scenario_figures()
    if args.control_per_row:
        figures["control_addresses"] = control_addresses.control_address_figures(
            args.control_per_row, args.timeout, (1, args.concurrency)
        )
    if args.quic_count:
        figures["quic"] = quic_cost.quic_figures(
            args.quic_count, args.seed, args.timeout, args.concurrency
        )
    probe, curl = figures["probe"], figures.get("curl")
    figures["goals"] = {
        "accuracy_100": probe["accuracy"] == 1.0,
        "efficiency_90": probe["efficiency"] >= GOAL_EFFICIENCY,
        "faster_than_curl": None if curl is None else probe["wall_s"] < curl["wall_s"],
        "peak_memory_under_150_mb": probe["peak_rss_mib"] < GOAL_PEAK_MIB,
    }
    return figures


def _rest(p: Figures) -> float:
    """Wall time not explained by the list-order schedule, start-up or wind-down."""
    explained = p["list_order_schedule_s"] + p["before_first_start_s"] + p["after_last_end_s"]
    return float(p["wall_s"] - explained)


def _mark(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "not run"}[ok]


def render(figures: Figures) -> str:
    """The plain-text report."""
    w, p = figures["workload"], figures["probe"]
    mix = ", ".join(f"{name} {n}" for name, n in sorted(w["mix"].items()))
    layers = ", ".join(f"{k} {v}" for k, v in p["timeouts_by_layer"].items())
    lines = [
        f"workload   {w['count']} lab targets, seed {w['seed']}, concurrency {w['concurrency']},"
        f" timeout {w['timeout_s']:g} s",
        f"           {mix}",
        "",
        "censorcheck (api.measure, this process; the lab runs in another)",
        f"  wall time          {p['wall_s']:7.2f} s   {p['targets_per_s']:7.1f} targets/s",
        f"  ideal lower bound  {p['ideal_bound_s']:7.2f} s   the most of:",
        f"    slowest target   {p['slowest_s']:7.2f} s",
        f"    sum(t)/conc.     {p['sum_t_over_concurrency_s']:7.2f} s"
        f"   ({p['sum_t_s']:.1f} s of target time / {w['concurrency']})",
        f"    timeouts         {p['timeouts_bound_s']:7.2f} s   ({p['timeouts']} timeouts x"
        f" {w['timeout_s']:g} s / {w['concurrency']}; {layers})",
        f"  efficiency         {p['efficiency']:7.1%}   (bound / wall); the"
        f" {p['wall_s'] - p['ideal_bound_s']:.2f} s between them:",
        f"    list order       {p['list_order_schedule_s'] - p['ideal_bound_s']:7.2f} s   the same"
        f" target times, started in list order with no overhead, take"
        f" {p['list_order_schedule_s']:.2f} s",
        f"                                 (so {p['list_order_efficiency']:.0%} is the most any"
        " in-order run could score)",
        f"    start-up         {p['before_first_start_s']:7.2f} s   until the first target started",
        f"    wind-down        {p['after_last_end_s']:7.2f} s   after the last target ended, until"
        " measure() returned",
        f"    the rest         {_rest(p):7.2f} s   between targets (slot hand-over, verdicts)",
        f"  CPU                {p['cpu_s']:7.2f} s   (user {p['cpu_user_s']:.2f},"
        f" sys {p['cpu_sys_s']:.2f}; {p['cpu_s'] / p['wall_s']:.0%} of one core)",
        f"  peak memory        {p['peak_rss_mib']:7.1f} MiB (max RSS, ="
        f" {p['peak_rss_mib'] * 2**20 / 1e6:.0f} MB; {p['rss_before_mib']:.1f} MiB before the run)",
        f"  accuracy           {p['accuracy']:7.1%}   ({p['correct']}/{w['count']} verdicts as"
        " the lab's truth says)",
        *(f"    wrong: {m}" for m in p["mismatches"]),
        "  timeouts: counted once per target and layer where the probe itself waited one out:",
        "  its resolvers' A/AAAA queries, TCP, the handshake naming the host, HTTP. Not counted:",
        "  what runs beside those (the repeat and neutral-SNI handshakes, control lookups).",
    ]
    curl = figures.get("curl")
    if curl is not None:
        codes = ", ".join(f"{code}: {n}" for code, n in curl["exit_codes"].items())
        ratio = curl["wall_s"] / p["wall_s"]
        lines += [
            "",
            f"curl baseline (xargs -P {w['concurrency']} -n 1 curl; --max-time and"
            f" --connect-timeout {w['timeout_s']:g};",
            "  --interface the censored vantage; --doh-url the censored resolver, over DoH",
            "  sockets curl does not bind to --interface, which that resolver does not mind)",
            f"  wall time          {curl['wall_s']:7.2f} s   {curl['targets_per_s']:7.1f}"
            f" targets/s   (censorcheck {ratio:.2f}x as fast)",
            f"  CPU                {curl['cpu_s']:7.2f} s   (xargs and every curl)",
            f"  slowest, sum(t)    {curl['slowest_s']:7.2f} s, {curl['sum_t_s']:.1f} s",
            f"  exit codes         {codes}   (0 ok, 28 timeout, 35 TLS, 56 reset, 6 no name)",
        ]
    sc = figures.get("scenarios")
    if sc is not None:
        lines += [
            "",
            f"scenario table (default lab, {sc['targets']} targets, timeout {sc['timeout_s']:g} s,"
            f" concurrency {sc['concurrency']})",
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
    goals = figures["goals"]
    lines += [
        "",
        "goals",
        f"  accuracy 100%            {_mark(goals['accuracy_100'])}",
        f"  efficiency >= 90%        {_mark(goals['efficiency_90'])}",
        f"  faster than curl         {_mark(goals['faster_than_curl'])}",
        f"  peak memory < 150 MB     {_mark(goals['peak_memory_under_150_mb'])}",
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
    accurate = figures["probe"]["accuracy"] == 1.0 and all(
        figures[part]["accuracy"] == 1.0
        for part in ("scenarios", "control_addresses", "quic")
        if part in figures
    )
    return 0 if accurate else 1


if __name__ == "__main__":
    sys.exit(main())
