"""Pass or fail per target: the verdicts that ``--fail-on`` names, and the list's expectations.

Without ``--check`` a target fails when its verdict's status is one ``--fail-on`` names (by
default: blocked). With ``--check`` a target that carries ``expect:`` fails exactly when its status
differs from the expectation; a target without one fails only by ``--fail-on``, which then
defaults to ``never``. The exit code, the ``--check`` report and the JUnit file all use this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from censorcheck.models import Result, Status

FailOn = Literal["blocked", "down", "any", "never"]


@dataclass(frozen=True)
class Case:
    """One target's result judged as a test: ``why`` says what failed, None when it passed."""

    result: Result
    why: str | None

    @property
    def failed(self) -> bool:
        return self.why is not None


def matches(status: Status, fail_on: FailOn) -> bool:
    """Whether a verdict status is one that ``--fail-on`` makes a failure."""
    if fail_on == "never":
        return False
    if fail_on == "any":
        return status != "accessible"
    return status == fail_on


def judge_case(result: Result, fail_on: FailOn | None, check: bool) -> Case:
    """The test outcome of one result (see the module docstring for the rules)."""
    verdict = result.verdict
    got = f"{verdict.status} ({verdict.outcome})"
    expect = result.target.expect
    if check and expect is not None:
        return Case(result, None if verdict.status == expect else f"expected {expect}, got {got}")
    effective: FailOn = fail_on or ("never" if check else "blocked")
    if matches(verdict.status, effective):
        return Case(result, f"{got} matches --fail-on {effective}")
    return Case(result, None)


def judge_cases(results: Sequence[Result], fail_on: FailOn | None, check: bool) -> list[Case]:
    return [judge_case(r, fail_on, check) for r in results]


def exit_code(cases: Sequence[Case]) -> int:
    """1 when any case failed, else 0 (the README's exit-code table)."""
    return 1 if any(c.failed for c in cases) else 0
