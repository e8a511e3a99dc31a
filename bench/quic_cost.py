"""What QUIC costs: the same lab targets, whose sites all speak HTTP/3, measured with ``--quic
never``, ``auto`` (the default: after the fetch, where the site advertised it) and ``always``
(beside TCP), in alternating rounds.

Each run is a fresh child process, so its peak memory (which only grows over a process's life)
and its CPU time are its own; the lab runs in yet another process. A few of the
sites have their QUIC Initials dropped by name (``quic-sni-drop``), as a censored network would:
their QUIC verdict must be blocked, every other one accessible, and no QUIC verdict at all with
``never``.
"""

from __future__ import annotations

import cProfile
import multiprocessing
import random
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from figures import Figures, cpu_seconds
from lab_process import LabInfo, lab_process
from workload import Entries, check_verdicts, lab_entries

from censorcheck.lab import Topology
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.models import Run
from censorcheck.settings import Settings

MODES = ("never", "auto", "always")
BLOCKED_SHARE = 0.05  # of the sites, whose Initials the censor drops by name
ROUNDS = 2  # of each mode, alternating, so that a warming lab favours none


def entries(count: int, seed: int) -> Entries:
    """``count`` names on the lab's HTTP/3 sites, a seeded ``BLOCKED_SHARE`` of them cut."""
    blocked = round(count * BLOCKED_SHARE)
    rows = ["quic-sni-drop"] * blocked + ["quic"] * (count - blocked)
    random.Random(seed).shuffle(rows)
    width = max(4, len(str(count - 1)))
    return [(f"q{i:0{width}d}.h3.test", row) for i, row in enumerate(rows)]


def _high_water_kib() -> int:
    """This process's peak RSS in KiB. ``ru_maxrss`` will not do in a spawned child: Linux keeps
    it across exec, so it starts at the size of the parent that forked it; the memory map's own
    high-water mark (VmHWM) starts afresh with the new program."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _one_run(
    urls: list[str], settings_json: str, profile: Path | None = None
) -> tuple[Figures, str]:
    """In a child process: one measure() from a clean start; its figures and the run. With
    ``profile``, a cProfile of the measurement is written there (its overhead is in the
    figures then)."""
    settings = Settings.model_validate_json(settings_json)
    targets = load_targets(urls)
    rss_before = _high_water_kib()
    user0, sys0 = cpu_seconds(resource.RUSAGE_SELF)
    profiler = cProfile.Profile() if profile is not None else None
    start = time.monotonic()
    if profiler is not None:
        profiler.enable()
    run = measure(targets, settings)
    if profiler is not None:
        profiler.disable()
    wall = time.monotonic() - start
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    user1, sys1 = cpu_seconds(resource.RUSAGE_SELF)
    # Read before the run is serialised to go back to the parent, which the probe never does.
    peak = _high_water_kib()
    figures = {
        "wall_s": wall,
        "cpu_s": (user1 - user0) + (sys1 - sys0),
        "peak_rss_mib": peak / 1024,
        "rss_before_mib": rss_before / 1024,
    }
    return figures, run.model_dump_json()


def check_quic(run: Run, topo: Topology, mode: str) -> Figures:
    """QUIC verdicts against the table: as the row expects where QUIC is tried, none with never."""
    wrong = []
    for result in run.results:
        scenario = topo.names[result.target.domain]
        want = None if mode == "never" else scenario.expected_quic(control=False)
        got = result.quic_verdict
        if (None if got is None else (got.status, got.blocking, got.outcome)) != (
            None if want is None else (want.status, want.blocking, want.outcome)
        ):
            wrong.append(f"{result.target.domain} ({scenario.name}): {got and got.outcome}")
    return {"quic_correct": len(run.results) - len(wrong), "quic_mismatches": wrong}


def _settings(lab: LabInfo, timeout: float, concurrency: int, mode: str) -> str:
    values: dict[str, Any] = lab.settings.model_dump()
    values.update(timeout=timeout, concurrency=concurrency, quic=mode)
    return Settings.model_validate(values).model_dump_json()


def quic_figures(
    count: int, seed: int, timeout: float, concurrency: int, profile: Path | None = None
) -> Figures:
    """Every mode ``ROUNDS`` times on one lab; per mode the medians, and the largest peak.
    With ``profile`` (a folder), each run's cProfile is written there as quic-MODE-ROUND.prof."""
    chosen = entries(count, seed)
    runs: dict[str, list[Figures]] = {mode: [] for mode in MODES}
    checks: dict[str, Figures] = {}
    spawn = multiprocessing.get_context("spawn")
    with lab_process(chosen) as lab:
        topo = Topology(lab.network, entries=lab_entries(chosen))
        urls = topo.target_urls()
        for round_ in range(ROUNDS):
            for mode in MODES:
                settings = _settings(lab, timeout, concurrency, mode)
                path = profile / f"quic-{mode}-{round_}.prof" if profile is not None else None
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    figures, run_json = pool.submit(_one_run, urls, settings, path).result()
                runs[mode].append(figures)
                run = Run.model_validate_json(run_json)
                checks[mode] = {**check_verdicts(run, topo.names), **check_quic(run, topo, mode)}
    modes = {}
    for mode in MODES:
        done = runs[mode]
        modes[mode] = {
            "wall_s": statistics.median(f["wall_s"] for f in done),
            "cpu_s": statistics.median(f["cpu_s"] for f in done),
            "peak_rss_mib": max(f["peak_rss_mib"] for f in done),
            "rss_before_mib": max(f["rss_before_mib"] for f in done),
            **checks[mode],
        }
    never = modes["never"]
    for mode in ("auto", "always"):
        m = modes[mode]
        m["added_wall_s"] = m["wall_s"] - never["wall_s"]
        m["added_cpu_s"] = m["cpu_s"] - never["cpu_s"]
        m["added_cpu_ms_per_target"] = m["added_cpu_s"] / count * 1e3
        m["added_peak_mib"] = m["peak_rss_mib"] - never["peak_rss_mib"]
    total = count * len(MODES)
    correct = sum(min(m["correct"], m["quic_correct"]) for m in modes.values())
    return {
        "targets": count,
        "blocked": sum(s == "quic-sni-drop" for _, s in chosen),
        "rounds": ROUNDS,
        "timeout_s": timeout,
        "concurrency": concurrency,
        "modes": modes,
        "accuracy": correct / total,
    }


def render(q: Figures) -> list[str]:
    """The report's lines for these figures."""
    lines = [
        "",
        f"QUIC ({q['targets']} lab targets whose sites speak HTTP/3, {q['blocked']} with their"
        f" Initials dropped by name; concurrency {q['concurrency']},",
        f"  timeout {q['timeout_s']:g} s; each run in a fresh process, {q['rounds']} rounds of"
        " each mode, medians; peak = the largest)",
        "  --quic     wall time        CPU               peak memory       verdicts right",
    ]
    for mode, m in q["modes"].items():
        right = min(m["correct"], m["quic_correct"])
        wall, cpu, peak = f"{m['wall_s']:6.2f} s", f"{m['cpu_s']:6.2f} s", m["peak_rss_mib"]
        if mode != "never":
            wall += f" {m['added_wall_s']:+6.2f}"
            cpu += f" {m['added_cpu_s']:+6.2f}"
        lines.append(
            f"  {mode:<8} {wall:<16} {cpu:<17} {peak:6.1f} MiB{'':<7} {right}/{q['targets']}"
        )
        lines += [f"    wrong: {w}" for w in [*m["mismatches"], *m["quic_mismatches"]]]
    always = q["modes"]["always"]
    lines.append(
        f"  always adds {always['added_cpu_ms_per_target']:.1f} ms of CPU per target"
        f" and {always['added_peak_mib']:+.1f} MiB of peak memory (against never; each run's"
        f" process held {q['modes']['never']['rss_before_mib']:.1f} MiB before it started)"
    )
    return lines
