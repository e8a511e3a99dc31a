"""dns-scan benchmark: 50 lab resolvers x 200 domains, queries per second and peak memory.

A benchmark, not a test: it prints figures and exits non-zero only when a verdict is wrong, never
because of a timing. Everything runs against the resolver lab on 127.0.0.0/8; no other traffic.

The resolver lab runs in a child process, so its CPU time and memory are not counted as the
scanner's. Its resolvers are the lab table's kinds scaled to ``--resolvers`` (honest, lying in
every way, silent, hijacking); every ``--listed-every``-th name is on the censors' list. Each
(resolver, domain) verdict is checked against the table, which gives the accuracy figure.

    .venv/bin/python bench/dns_scan_bench.py            # the default: 50 x 200 = 10,000 pairs
    .venv/bin/python bench/dns_scan_bench.py --resolvers 20 --names 20 --json
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from figures import cpu_seconds, print_figures
from lab_process import child_process, report_failure, serve

from censorcheck.lab.resolver_kinds import Kind, scaled
from censorcheck.lab.resolvers import ResolverLab, ResolverLabThread
from censorcheck.scan import ScanDocument, parse_resolvers, scan_sync
from censorcheck.scan.models import ScanSettings

LAB_START_LIMIT = 60.0
GOAL_QPS = 2000
Figures = dict[str, Any]


@dataclass(frozen=True)
class Workload:
    """The lab's resolvers (the table's kinds and counts) and names."""

    kinds: tuple[Kind, ...]
    names: int
    listed_every: int

    def lab_options(self) -> dict[str, Any]:
        return {"kinds": self.kinds, "names": self.names, "listed_every": self.listed_every}


# --- the lab, in a process of its own --------------------------------------------------------


def _serve_lab(conn: Connection, workload: Workload) -> None:
    """The lab process: start the resolver lab, report where it is, serve until told to stop;
    then say how many queries it answered and the CPU time it used."""

    def farewell() -> dict[str, Any]:
        user, system = cpu_seconds(resource.RUSAGE_SELF)
        return {"served": sum(lab.queries.values()), "cpu_s": user + system}

    try:
        with ResolverLabThread(**workload.lab_options()) as lab:
            ready = {
                "network": str(lab.network),
                "dns_port": lab.dns_port,
                "https_port": lab.https_port,
                "ca_bundle": str(lab.ca_bundle),
            }
            serve(conn, ready, farewell)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails loudly
        report_failure(conn, exc)


@contextlib.contextmanager
def lab_process(workload: Workload) -> Iterator[tuple[ResolverLab, dict[str, Any]]]:
    """Run the lab in a child process; yield a twin (same layout, not started) and a dict that
    receives ``served``, the queries the lab answered, when the block ends."""
    twin: ResolverLab | None = None
    try:
        child = child_process(_serve_lab, (workload,), "scan-lab", LAB_START_LIMIT)
        with child as (ready, after):
            twin = ResolverLab(
                ready["network"],
                dns_port=ready["dns_port"],
                https_port=ready["https_port"],
                **workload.lab_options(),
            )
            twin.ca_bundle = Path(ready["ca_bundle"])  # the running lab's CA, not the twin's
            yield twin, after
    finally:
        if twin is not None:
            twin.cleanup()


# --- measuring -------------------------------------------------------------------------------


def check_verdicts(document: ScanDocument, lab: ResolverLab) -> Figures:
    """Accuracy against the lab's table: (status, outcome) of every pair must match."""
    kinds = {f"{r.address}:{lab.dns_port}": r for r in lab.resolvers}
    mismatches = []
    for result in document.results:
        resolver = kinds[result.resolver]
        want = lab.expected(resolver, result.domain, asn_db=False)
        got = (result.verdict.status, result.verdict.outcome)
        if got != (want.status, want.outcome):
            mismatches.append(
                f"{result.resolver} ({resolver.kind.name}) {result.domain}: got {'/'.join(got)},"
                f" want {want.status}/{want.outcome}: {result.verdict.reason}"
            )
    pairs = len(lab.resolvers) * len(lab.targets)
    correct = len(document.results) - len(mismatches)
    return {
        "accuracy": correct / pairs if pairs else 1.0,
        "correct": correct,
        "mismatches": mismatches[:20],
    }


def timed_scan(lab: ResolverLab, settings: ScanSettings) -> tuple[ScanDocument, Figures]:
    """One ``censorcheck.scan.scan_sync(...)`` in this process, as the CLI runs it, and its
    figures."""
    specs = parse_resolvers(lab.resolver_file(), "lab")
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    document = scan_sync(lab.targets, specs, settings)
    wall = time.monotonic() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    stats = document.stats
    return document, {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": usage1.ru_maxrss / 1024,  # KiB on Linux
        "rss_before_mib": usage0.ru_maxrss / 1024,
        "pairs": len(document.results),
        "queries": stats.queries,
        "queries_per_s": stats.queries / wall,
        "pairs_per_s": len(document.results) / wall,
        "timeouts": stats.timeouts,
        "tcp_fallbacks": stats.tcp_fallbacks,
        "control_queries": stats.control_queries,
        "tls_checks": stats.tls_checks,
        "resolvers_by_status": document.summary.resolvers_by_status,
        "by_status": document.summary.by_status,
    }


def run_benchmark(args: argparse.Namespace) -> Figures:
    workload = Workload(tuple(scaled(args.resolvers)), args.names, args.listed_every)
    with lab_process(workload) as (lab, after):
        settings = lab.scan_settings(
            rate=args.rate,
            concurrency=args.concurrency,
            timeout=args.timeout,
            retries=args.retries,
        )
        document, figures = timed_scan(lab, settings)
        figures.update(check_verdicts(document, lab))
    figures["lab_answered"] = after.get("served")
    figures["lab_cpu_s"] = after.get("cpu_s")
    return {
        "workload": {
            "resolvers": len(lab.resolvers),
            "names": len(lab.targets),
            "listed": len(lab.listed),
            "kinds": dict(Counter(r.kind.name for r in lab.resolvers)),
            "rate_per_resolver": args.rate,
            "concurrency": args.concurrency,
            "timeout_s": args.timeout,
            "retries": args.retries,
        },
        "scan": figures,
        "goals": {
            "accuracy_100": figures["accuracy"] == 1.0,
            "queries_per_s_2000": figures["queries_per_s"] >= GOAL_QPS,
        },
    }


# --- the report ------------------------------------------------------------------------------


def render(figures: Figures) -> str:
    """The plain-text report."""
    w, s = figures["workload"], figures["scan"]
    kinds = ", ".join(f"{k} {n}" for k, n in w["kinds"].items())
    statuses = ", ".join(f"{k} {n}" for k, n in sorted(s["resolvers_by_status"].items()))
    verdicts = ", ".join(f"{k} {n}" for k, n in sorted(s["by_status"].items()))
    mark = {True: "met", False: "MISSED"}
    lines = [
        f"workload   {w['resolvers']} lab resolvers x {w['names']} names = {s['pairs']} pairs,"
        f" {w['listed']} names listed",
        f"           {kinds}",
        f"           rate {w['rate_per_resolver']:g}/s per resolver, concurrency"
        f" {w['concurrency']}, timeout {w['timeout_s']:g} s, retries {w['retries']}",
        "",
        "dns-scan (censorcheck.scan.scan, this process; the lab runs in another)",
        f"  wall time          {s['wall_s']:7.2f} s",
        f"  queries            {s['queries']:7d}     {s['queries_per_s']:7.0f} queries/s"
        f"   ({s['pairs_per_s']:.0f} pairs/s; the lab answered {s['lab_answered']})",
        f"  of which           {s['timeouts']:7d} timeouts, {s['tcp_fallbacks']} TCP fallbacks;"
        f" beside them {s['control_queries']} control queries, {s['tls_checks']} TLS checks",
        f"  CPU                {s['cpu_s']:7.2f} s   ({s['cpu_s'] / s['wall_s']:.0%} of one core;"
        f" the lab process used {s['lab_cpu_s'] or 0:.2f} s in all)",
        f"  peak memory        {s['peak_rss_mib']:7.1f} MiB (max RSS;"
        f" {s['rss_before_mib']:.1f} MiB before the scan)",
        f"  accuracy           {s['accuracy']:7.1%}   ({s['correct']}/{s['pairs']} verdicts as"
        " the lab's table says)",
        *(f"    wrong: {m}" for m in s["mismatches"]),
        f"  resolvers          {statuses}",
        f"  verdicts           {verdicts}",
        "",
        "goals",
        f"  accuracy 100%            {mark[figures['goals']['accuracy_100']]}",
        f"  >= {GOAL_QPS} queries/s      {mark[figures['goals']['queries_per_s_2000']]}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolvers", type=int, default=50, help="lab resolvers (default 50)")
    parser.add_argument("--names", type=int, default=199, help="names besides gone.scan.test")
    parser.add_argument("--listed-every", type=int, default=10, help="every Nth name is listed")
    parser.add_argument("--rate", type=float, default=1000.0, help="queries/s per resolver")
    parser.add_argument("--concurrency", type=int, default=512, help="queries in flight")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per reply")
    parser.add_argument("--retries", type=int, default=1, help="resends on silence")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 16 <= args.resolvers <= 190 or args.names < 2 or args.listed_every < 2:
        parser.error("--resolvers is 16 to 190, --names and --listed-every at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run_benchmark(args)
    print_figures(figures, args.json, render)
    return 0 if figures["scan"]["accuracy"] == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
