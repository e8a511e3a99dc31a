"""The probe benchmark's workload: lab names given scenarios in fixed proportions, seeded, and
the verdicts those scenarios say a run must reach."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from figures import Figures

from censorcheck.lab.scenarios import BY_NAME, Scenario
from censorcheck.models import Run

# (kind, share of the targets, lab scenarios the share is spread over)
MIX: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("accessible", 0.65, ("static", "dynamic", "cdn", "static-http")),
    ("blockpage", 0.10, ("http-blockpage",)),
    ("reset", 0.10, ("http-reset",)),
    ("SNI reset", 0.05, ("tls-sni-reset",)),
    ("DNS silence", 0.05, ("dns-silence",)),
    ("stalled connection", 0.05, ("tls-sni-stall",)),
)
BENCH_DOMAIN = "bench.test"

Entries = list[tuple[str, str]]  # (host name, scenario name)


def _apportion(total: int, shares: Sequence[float]) -> list[int]:
    """Whole counts proportional to ``shares`` that add up to ``total`` (largest remainder)."""
    exact = [total * share / sum(shares) for share in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def build_entries(count: int, seed: int) -> Entries:
    """``count`` lab names in the proportions of ``MIX``, given their scenarios in a seeded order.

    The proportions are exact (a small run still has every kind); the seed decides which name
    gets which scenario, so the slow targets are scattered through the list as in real lists.
    """
    scenarios: list[str] = []
    for (_, _, names), quota in zip(MIX, _apportion(count, [m[1] for m in MIX]), strict=True):
        scenarios += [names[i % len(names)] for i in range(quota)]
    random.Random(seed).shuffle(scenarios)
    width = max(4, len(str(count - 1)))
    return [(f"t{i:0{width}d}.{BENCH_DOMAIN}", s) for i, s in enumerate(scenarios)]


def lab_entries(entries: Entries | None) -> list[tuple[str, Scenario]] | None:
    """The entries as a lab topology takes them; None (the default table) stays None."""
    return None if entries is None else [(name, BY_NAME[s]) for name, s in entries]


def _expected(scenario: Scenario) -> tuple[str, str | None, str]:
    e = scenario.expect
    return e.status, e.blocking, e.outcome


def check_verdicts(run: Run, truth: dict[str, Scenario]) -> Figures:
    """Accuracy against the lab's truth: (status, blocking, outcome) must match exactly."""
    mismatches = []
    for result in run.results:
        v = result.verdict
        want = _expected(truth[result.target.domain])
        if (v.status, v.blocking, v.outcome) != want:
            got = f"{v.status}/{v.blocking}/{v.outcome}"
            mismatches.append(
                f"{result.target.domain} ({truth[result.target.domain].name}): "
                f"got {got}, want {'/'.join(map(str, want))}: {v.reason}"
            )
    missing = len(truth) - len(run.results)
    correct = len(run.results) - len(mismatches)
    return {
        "accuracy": correct / len(truth) if truth else 1.0,
        "correct": correct,
        "missing": missing,
        "mismatches": mismatches,
    }
