"""What every benchmark does with its figures: CPU time read the same way, and the figures
printed as JSON or as the script's plain-text report."""

from __future__ import annotations

import json
import resource
from collections.abc import Callable
from typing import Any

Figures = dict[str, Any]


def cpu_seconds(who: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``resource.RUSAGE_SELF`` or ``RUSAGE_CHILDREN``."""
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def rounded(value: Any) -> Any:
    """Figures as printed in JSON: floats to microseconds, which is more than they are worth."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def print_figures(figures: Figures, as_json: bool, render: Callable[[Figures], str]) -> None:
    """The figures on standard output: JSON with ``--json``, else the plain-text report."""
    print(json.dumps(rounded(figures), indent=2) if as_json else render(figures))
