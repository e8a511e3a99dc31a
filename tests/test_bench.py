"""The throughput benchmark still runs: a small seeded mix, every verdict right, every figure there.

Timings are the benchmark's business and are never asserted here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench" / "probe_bench.py"
COUNT = 40


def bench_on_path() -> None:
    """The scripts import their sibling modules (``workload``, ``lab_process``, ``figures``) by
    name, as Python finds them when it runs a script from bench/; importing a script here needs
    the same."""
    if str(BENCH.parent) not in sys.path:
        sys.path.append(str(BENCH.parent))


def load_bench() -> ModuleType:
    """bench/ is a folder of scripts, not a package: import the script from its path."""
    if "probe_bench" in sys.modules:
        return sys.modules["probe_bench"]
    bench_on_path()
    spec = importlib.util.spec_from_file_location("probe_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_bench"] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def run_script(script: Path, *args: str, timeout: float = 60) -> Any:
    """Run a benchmark script with ``--json``; it must exit 0; its figures."""
    proc = subprocess.run(
        [sys.executable, str(script), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def numbers(value: Any, path: str = "") -> list[tuple[str, float]]:
    """Every number in a JSON document, with where it is."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [(path, float(value))]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return [found for key, item in items for found in numbers(item, f"{path}/{key}")]


def test_workload_has_every_kind_in_proportion() -> None:
    bench = load_bench()
    entries = bench.build_entries(COUNT, seed=1)
    assert entries == bench.build_entries(COUNT, seed=1)  # seeded
    assert entries != bench.build_entries(COUNT, seed=2)
    mix = Counter(scenario for _, scenario in entries)
    assert sum(mix.values()) == COUNT
    assert mix["dns-silence"] == mix["tls-sni-stall"] == mix["tls-sni-reset"] == 2  # 5% each
    assert mix["http-blockpage"] == mix["http-reset"] == 4  # 10% each
    assert sum(mix[s] for s in ("static", "dynamic", "cdn", "static-http")) == 26  # 65%


def test_small_run_is_accurate_and_reports_every_figure() -> None:
    figures = run_script(
        BENCH, "--count", str(COUNT), "--no-curl", "--no-scenarios", "--control-per-row", "1",
        "--quic-count", "20", "--workers", "default", "--memory-counts", "",
        "--startup-repeats", "1", timeout=180,
    )  # fmt: skip
    assert list(figures["probe"]) == ["default"]
    probe = figures["probe"]["default"]
    assert probe["accuracy"] == 1.0, probe["mismatches"]
    assert probe["targets"] == COUNT
    for key in (
        "wall_s",
        "targets_per_s",
        "network_floor_s",
        "longest_wait_s",
        "spread_waits_s",
        "efficiency",
        "peak_rss_mib",
        "cpu_s",
        "cpu_ms_per_target",
        "lab_cpu_s",
        "list_order_schedule_s",
    ):
        assert key in probe, key
    # Two DNS-silence and two stalled targets: each waits out one timeout at one layer.
    assert probe["timeouts_by_layer"] == {"dns": 2, "tcp": 0, "tls": 2, "http": 0}
    assert probe["network_floor_s"] == max(2.0, 4 * 2.0 / 50)  # one wait, or four spread
    assert probe["peak_rss_mib"] > 0 and probe["lab_cpu_s"] > 0
    found = numbers(figures)
    assert found
    assert all(math.isfinite(n) for _, n in found), found
    # Time added is a difference of two runs, and noise can make it negative; nothing else can be.
    assert all(n >= 0 for path, n in found if "added" not in path), found
    text = load_bench().render(figures)
    for label in ("wall time", "targets/s", "network floor", "wall / floor", "CPU per target"):
        assert label in text
    extra = figures["control_addresses"]
    assert [level["concurrency"] for level in extra["levels"]] == [1, 50]
    for level in extra["levels"]:
        # Every row's DNS differs from the control's, so each target was measured there too.
        assert level["measured_there"] == extra["targets"] == len(extra["rows"])
        assert level["accuracy"] == 1.0, level["mismatches"]
        assert level["beside_targets"] + level["after_targets"] == extra["targets"]
    assert "added per target" in text and "network floor" in text
    assert "peak memory" in text and "accuracy" in text and "100.0%" in text
    quic = figures["quic"]
    assert quic["targets"] == 20 and quic["blocked"] == 1 and quic["accuracy"] == 1.0
    assert list(quic["modes"]) == ["never", "auto", "always"]
    for mode in quic["modes"].values():
        assert mode["quic_correct"] == mode["correct"] == 20, mode["quic_mismatches"]
        assert mode["peak_rss_mib"] > 0 and mode["wall_s"] > 0
    assert "what runs beside" in text and "--quic" in text and "always adds" in text
    assert figures["startup"]["commands"]["--help"]["cpu_ratio"] > 0 and "start-up" in text


CONTROL_BENCH = BENCH.parent / "control_bench.py"


def test_control_load_test_runs_clean() -> None:
    """Two tiny levels against a real ``censorcheck control serve``: a row each, no error."""
    figures = run_script(CONTROL_BENCH, "--clients", "1,2", "--seconds", "1")
    levels = figures["levels"]
    assert [level["clients"] for level in levels] == [1, 2]
    for level in levels:
        assert level["errors"] == 0, level["error_examples"]
        assert level["requests"] > 0
        assert level["p50_ms"] <= level["p99_ms"] <= level["max_ms"]
    assert figures["workload"]["addresses_dialled"] == 2  # the cdn site: the probe's edge too
    assert all(math.isfinite(n) and n >= 0 for _, n in numbers(figures))
    bench_on_path()
    spec = importlib.util.spec_from_file_location("control_bench", CONTROL_BENCH)
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("control_bench", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)  # registered first: its dataclass looks its module up
    lines = module.render(figures).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("clients"))
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(row[7] == "0" for row in rows)  # the errors column
    assert lines[header + 3] == ""  # a row per level, no more


DNS_SCAN_BENCH = BENCH.parent / "dns_scan_bench.py"


def test_dns_scan_bench_small_run_is_accurate_and_reports_every_figure() -> None:
    figures = run_script(
        DNS_SCAN_BENCH,
        *("--resolvers", "16", "--names", "9", "--listed-every", "3", "--timeout", "0.3"),
    )
    scan = figures["scan"]
    assert scan["accuracy"] == 1.0, scan["mismatches"]
    assert scan["pairs"] == 16 * 10 and figures["workload"]["resolvers"] == 16
    for key in ("wall_s", "queries", "queries_per_s", "cpu_s", "peak_rss_mib", "lab_cpu_s"):
        assert key in scan, key
    assert scan["lab_answered"] >= scan["queries"] - scan["timeouts"]
    found = numbers(figures)
    assert all(math.isfinite(n) and n >= 0 for _, n in found), found
    bench_on_path()
    spec = importlib.util.spec_from_file_location("dns_scan_bench", DNS_SCAN_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dns_scan_bench"] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    text = module.render(figures)
    for label in ("wall time", "queries/s", "peak memory", "accuracy", "100.0%"):
        assert label in text


ANALYSIS_BENCH = BENCH.parent / "analysis_bench.py"


def test_analysis_bench_small_run_answers_right_and_reports_every_step() -> None:
    figures = run_script(ANALYSIS_BENCH, "--runs", "40", "--targets", "10", timeout=120)
    assert figures["ok"] and figures["rows"] == 400
    steps = {step["step"]: step for step in figures["steps"]}
    assert len(steps) == 7
    assert steps["history, current verdict of every pair"]["answer"] == 10 * 4
    assert all(step["seconds"] >= 0 for step in steps.values())
    assert figures["peak_rss_mib"] > 0
