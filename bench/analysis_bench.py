"""Analysis benchmark: history, query, diff and report over 10,000 run documents of 100 targets.

A benchmark, not a test: it prints figures and exits non-zero only when an answer is wrong (the
row count, or a history that does not match what was generated), never because of a timing.

The documents are synthetic but made of real observations: the built-in lab is measured once
(every scenario, from the censored vantage, on loopback) and its results are the templates.
Each synthetic run comes from one of four vantages, every six hours, and gives each of its 100
targets the template of the target's current state; targets change state at fixed points of
the timeline, so that history has periods and diff has changes to find. Documents are written
compact (without the two-space indent the CLI writes: the indent only slows JSON generation
here, and the reader skips whitespace).

Each command is timed twice: cold (the first look at the folder, which parses every document
into the results index) and warm (the index is current: the usual case for an analyst who looks
again). Everything is measured in this process with the library calls the CLI makes.

    .venv/bin/python bench/analysis_bench.py                  # 10,000 documents x 100 targets
    .venv/bin/python bench/analysis_bench.py --runs 200 --json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from censorcheck.lab import LabThread
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.results.diff import diff_sides, load_side
from censorcheck.results.history import periods
from censorcheck.results.warehouse import Warehouse

VANTAGES = ("kz-home", "kz-mobile", "kz-office", "nl-vpn")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
STEP = timedelta(hours=6)
GROUPED = (
    "SELECT vantage, domain, status, count(*) AS n, avg(confidence) AS confidence "
    "FROM results GROUP BY ALL ORDER BY n DESC"
)
Figures = dict[str, Any]


def templates() -> dict[str, list[dict[str, Any]]]:
    """Real results of every lab scenario, by verdict status."""
    with LabThread() as lab:
        run = measure(load_targets(lab.topology.target_urls()), lab.settings())
    found: dict[str, list[dict[str, Any]]] = {}
    for result in run.results:
        found.setdefault(result.verdict.status, []).append(result.model_dump(mode="json"))
    base = run.model_dump(mode="json")
    base["results"] = []
    found["_run"] = [base]
    return found


def state(target: int, run: int, runs: int) -> str:
    """The status target ``target`` has in run ``run``: fixed points where it changes."""
    rng = random.Random(target)
    kind = target % 5
    change = rng.randrange(runs) if runs > 1 else 0
    if kind == 0:
        return "blocked"  # blocked throughout
    if kind == 1:
        return "blocked" if run >= change else "accessible"  # became blocked
    if kind == 2:
        return "accessible" if run >= change else "blocked"  # unblocked
    if kind == 3:
        return "down" if (run // 97) % 7 == 3 else "accessible"  # outages
    return "inconclusive" if (run // 53) % 11 == 5 else "accessible"


def generate(folder: Path, runs: int, targets: int, seed: int = 1) -> tuple[int, Figures]:
    """Write ``runs`` run documents of ``targets`` results into ``folder``; bytes written."""
    pool = templates()
    base = pool.pop("_run")[0]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    expected_blocked_last: dict[tuple[str, str], bool] = {}
    for i in range(runs):
        vantage = VANTAGES[i % len(VANTAGES)]
        started = START + STEP * (i // len(VANTAGES))
        stamp = started.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        results = []
        for j in range(targets):
            status = state(j, i // len(VANTAGES), max(1, runs // len(VANTAGES)))
            choices = pool.get(status) or pool["accessible"]
            result = dict(choices[j % len(choices)])  # one way of blocking per target
            host = f"site{j:03d}.example"
            result["target"] = {**result["target"], "url": f"https://{host}/", "domain": host}
            result["vantage"] = vantage
            result["started_at"] = stamp
            results.append(result)
            expected_blocked_last[(f"https://{host}/", vantage)] = status == "blocked"
        doc = dict(base)
        doc["run_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc["started_at"] = doc["finished_at"] = stamp
        doc["vantage"] = {**base["vantage"], "name": vantage, "country": vantage[:2].upper()}
        doc["vantages"] = [doc["vantage"]]
        doc["results"] = results
        text = json.dumps(doc, separators=(",", ":"))
        (folder / f"{stamp[:19].replace(':', '-')}Z-{vantage}.json").write_text(text)
        written += len(text)
    return written, {"blocked_now": sum(expected_blocked_last.values())}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(runs: int, targets: int, keep: Path | None) -> Figures:
    work = Path(tempfile.mkdtemp(prefix="censorcheck-analysis-bench-"))
    folder = keep or work / "results"
    figures: Figures = {"workload": {"runs": runs, "targets": targets, "vantages": len(VANTAGES)}}
    try:
        if not folder.exists() or not any(folder.glob("*.json")):
            t, (size, expected) = timed(lambda: generate(folder, runs, targets))
            figures["workload"].update(generated_s=round(t, 1), bytes=size)
        else:
            expected = None
        index = work / "index.duckdb"
        half = sorted(folder.glob("*.json"))
        old, new = work / "old", work / "new"
        old.mkdir()
        new.mkdir()
        for i, path in enumerate(half):  # the diff compares the first half with the second
            (old if i < len(half) // 2 else new).joinpath(path.name).symlink_to(path)

        def history_all() -> int:
            with Warehouse([folder], index=index) as wh:
                return len(periods(wh, current_only=True))

        def history_one() -> int:
            with Warehouse([folder], index=index) as wh:
                return len(periods(wh, target="site001.example"))

        def grouped() -> int:
            with Warehouse([folder], index=index) as wh:
                return len(wh.rows(GROUPED))

        def count() -> int:
            with Warehouse([folder], index=index) as wh:
                return int(wh.rows("SELECT count(*) FROM results")[0][0])

        def diff() -> int:
            return sum(diff_sides(load_side(old), load_side(new)).counts.values())

        def report() -> int:
            from censorcheck.results import report as reporting

            with Warehouse([folder], index=index) as wh:
                return len(reporting.html(reporting.collect(wh)))

        steps = [
            ("index (cold: parse every document)", count),
            ("history, current verdict of every pair", history_all),
            ("history --target site001.example", history_one),
            ("query, grouped", grouped),
            ("diff of two folders (cold)", diff),
            ("diff of two folders (warm)", diff),
            ("report --html", report),
        ]
        timings = []
        for name, fn in steps:
            t, value = timed(fn)
            timings.append({"step": name, "seconds": round(t, 3), "answer": value})
        figures["steps"] = timings
        figures["rows"] = timings[0]["answer"]
        figures["peak_rss_mib"] = round(peak_mib(), 1)
        figures["ok"] = figures["rows"] == runs * targets
        if expected is not None:
            figures["ok"] = figures["ok"] and timings[1]["answer"] == targets * len(VANTAGES)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def render(figures: Figures) -> str:
    w = figures["workload"]
    lines = [
        f"workload  {w['runs']} run documents x {w['targets']} targets, {w['vantages']} vantages"
        + (
            f"; generated in {w['generated_s']} s, {w['bytes'] / 2**20:.0f} MiB of JSON"
            if "bytes" in w
            else ""
        ),
        "",
        f"{'step':48} {'seconds':>8}  answer",
    ]
    for step in figures["steps"]:
        lines.append(f"{step['step']:48} {step['seconds']:8.2f}  {step['answer']}")
    lines += [
        "",
        f"rows in the results table  {figures['rows']}",
        f"peak memory                {figures['peak_rss_mib']} MiB (max RSS of this process)",
        f"answers                    {'right' if figures['ok'] else 'WRONG'}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="run documents (10,000)")
    parser.add_argument("--targets", type=int, default=100, help="targets per run (100)")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.runs, args.targets, args.keep)
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
