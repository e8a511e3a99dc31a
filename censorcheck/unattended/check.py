"""Pass or fail per target: the verdicts that ``--fail-on`` names, and the list's expectations.

Without ``--check`` a target fails when its verdict's status is one ``--fail-on`` names (by
default: blocked). With ``--check`` a target that carries ``expect:`` fails exactly when its status
differs from the expectation; a target without one fails only by ``--fail-on``, which then
defaults to ``never``. A QUIC verdict counts too: ``--fail-on`` acts on a blocked or down QUIC
beside TCP's verdict, and ``expect_quic:`` is checked like ``expect:``. The exit code, the
``--check`` report and the JUnit file all use this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

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
    verdict, quic = result.verdict, result.quic_verdict
    got = f"{verdict.status} ({verdict.outcome})"
    quic_got = f"QUIC {quic.status} ({quic.outcome})" if quic is not None else "QUIC not tried"
    expect, expect_quic = result.target.expect, result.target.expect_quic
    if check and (expect is not None or expect_quic is not None):
        wrong = []
        if expect is not None and verdict.status != expect:
            wrong.append(f"expected {expect}, got {got}")
        if expect_quic is not None and (quic is None or quic.status != expect_quic):
            wrong.append(f"expected QUIC {expect_quic}, got {quic_got}")
        return Case(result, "; ".join(wrong) or None)
    effective: FailOn = fail_on or ("never" if check else "blocked")
    if matches(verdict.status, effective):
        return Case(result, f"{got} matches --fail-on {effective}")
    # QUIC that could not be judged is no finding of its own: only a blocked or down QUIC counts.
    if quic is not None and quic.status in ("blocked", "down") and matches(quic.status, effective):
        return Case(result, f"{quic_got} matches --fail-on {effective}")
    return Case(result, None)


class Failure(NamedTuple):
    """A failed case as the ``--check`` report names it (not the whole result: a run with
    many failures must not hold every result in memory)."""

    url: str
    why: str
    reason: str


class Cases:
    """The cases of a run judged a result at a time, as the document is written: the failed
    ones, the counts, and every case only when something (JUnit) lists them all."""

    def __init__(self, fail_on: FailOn | None, check: bool, keep_all: bool = False) -> None:
        self.fail_on, self.check, self.keep_all = fail_on, check, keep_all
        self.all: list[Case] = []
        self.failed: list[Failure] = []
        self.total = 0
        self.expected = 0  # cases whose target carries an expectation

    def add(self, result: Result) -> None:
        case = judge_case(result, self.fail_on, self.check)
        self.total += 1
        self.expected += result.target.expect is not None
        if case.why is not None:
            self.failed.append(Failure(result.target.url, case.why, result.verdict.reason))
        if self.keep_all:
            self.all.append(case)

    @property
    def exit_code(self) -> int:
        """1 when any case failed, else 0 (the README's exit-code table)."""
        return 1 if self.failed else 0
