"""CI use: expectations (--check), JUnit XML, --json on stdout, and the exit-code table."""

from __future__ import annotations

from pathlib import Path

import junitparser
import pytest
from lxml import etree

from censorcheck.lab import Lab
from censorcheck.models import Run, Target, Verdict
from censorcheck.unattended.check import judge_case
from censorcheck.unattended.junit import render
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags
from tests.test_store import result as a_result
from tests.test_store import run_of

JUNIT_XSD = Path(__file__).parent / "data" / "junit.xsd"
# name -> the verdict status the censored vantage sees
EXPECTED = {
    "static.lab.test": "accessible",
    "tls-sni-reset.lab.test": "blocked",
    "dns-nxdomain.lab.test": "blocked",
    "gone.lab.test": "down",
}


def expectations(lab: Lab, folder: Path, **wrong: str) -> Path:
    """A YAML target list with an ``expect:`` per lab name; ``wrong`` overrides some."""
    lines = ["targets:"]
    for name, status in EXPECTED.items():
        expect = wrong.get(name.split(".")[0], status)
        lines += [f"  - url: {lab.topology.url(name)}", f"    expect: {expect}"]
    path = folder / "ci.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_passes_when_every_expectation_holds(lab: Lab, tmp_path: Path) -> None:
    targets = expectations(lab, tmp_path)
    result = run_cli("run", str(targets), *lab_flags(lab, True), "--check", "-q", "-o", "o.json",
                     cwd=tmp_path)  # fmt: skip
    # Blocked targets do not fail the build when blocking is what the list expects.
    assert result.code == 0, result.stderr
    assert "check: 0 failed, 4 passed" in result.stderr


def test_check_fails_and_says_which_and_why(lab: Lab, tmp_path: Path) -> None:
    targets = expectations(lab, tmp_path, **{"tls-sni-reset": "accessible"})
    junit = tmp_path / "junit.xml"
    result = run_cli("run", str(targets), *lab_flags(lab, True), "--check", "-q",
                     "-o", "o.json", "--junit", str(junit), cwd=tmp_path)  # fmt: skip
    assert result.code == 1, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("check failed:")]
    assert "tls-sni-reset.lab.test" in line
    assert "expected accessible, got blocked (tls.sni_blocking)" in line

    # The JUnit file is valid against the schema CI systems follow...
    schema = etree.XMLSchema(etree.parse(str(JUNIT_XSD)))
    document = etree.parse(str(junit))
    assert schema.validate(document), schema.error_log
    # ...and a JUnit reader sees one case per target, the one failure with reason and evidence.
    xml = junitparser.JUnitXml.fromfile(str(junit))
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors) == (4, 1, 0)
    cases = {case.name: case for case in suite}
    assert len(cases) == 4
    failed = cases[lab.topology.url("tls-sni-reset.lab.test")]
    assert failed.classname == "censorcheck.local"
    (failure,) = failed.result
    assert isinstance(failure, junitparser.Failure)
    assert failure.type == "tls.sni_blocking"
    assert "expected accessible, got blocked" in (failure.message or "")
    assert "/tls/0" in (failure.text or "")  # evidence: pointer and fact
    passed = [c for name, c in cases.items() if c is not failed]
    assert all(c.is_passed for c in passed)


def test_junit_without_check_follows_fail_on(lab: Lab, tmp_path: Path) -> None:
    targets = expectations(lab, tmp_path)
    junit = tmp_path / "j.xml"
    result = run_cli("run", str(targets), *lab_flags(lab, True), "-q", "-o", "-",
                     "--junit", str(junit))  # fmt: skip
    assert result.code == 1  # default --fail-on blocked
    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
    assert suite.failures == 2  # the two blocked targets


def test_json_prints_the_document_and_keeps_the_file(lab: Lab, tmp_path: Path) -> None:
    url = lab.topology.url("static.lab.test")
    result = run_cli("run", url, *lab_flags(lab, True), "--json", "--results-dir", "res",
                     cwd=tmp_path)  # fmt: skip
    assert result.code == 0, result.stderr
    printed = Run.model_validate_json(result.stdout)  # nothing else on stdout, not even the table
    (saved,) = (tmp_path / "res").glob("*.json")
    assert Run.model_validate_json(saved.read_text(encoding="utf-8")) == printed
    assert "results written to" in result.stderr and "accessible" in result.stderr


@pytest.mark.parametrize(
    ("status", "expect", "fail_on", "check", "failed"),
    [
        ("blocked", None, None, False, True),  # default --fail-on blocked
        ("blocked", "blocked", None, True, False),  # expected blocking passes
        ("accessible", "blocked", None, True, True),
        ("blocked", None, None, True, False),  # --check: no expectation, no --fail-on
        ("down", None, "any", True, True),
        ("down", "accessible", "never", False, False),  # expectations count only with --check
        ("inconclusive", None, "any", False, True),
        ("accessible", None, "any", False, False),
    ],
)
def test_case_rules(
    status: str, expect: str | None, fail_on: str | None, check: bool, failed: bool
) -> None:
    base = a_result("x.example")
    verdict = Verdict(status=status, outcome="o", confidence=0.5, reason="r.")  # type: ignore[arg-type]
    target = Target(url=base.target.url, domain="x.example", expect=expect)  # type: ignore[arg-type]
    case = judge_case(base.model_copy(update={"verdict": verdict, "target": target}),
                      fail_on, check)  # type: ignore[arg-type]  # fmt: skip
    assert case.failed is failed


def test_junit_carries_text_xml_cannot_hold() -> None:
    """A page title may hold control characters; the report must still be well-formed."""
    odd = a_result("x.example")
    verdict = odd.verdict.model_copy(
        update={"status": "blocked", "reason": "title \x00\x1b[31m <&>", "evidence": []}
    )
    run = run_of([odd.model_copy(update={"verdict": verdict})])
    xml = render(run, [judge_case(run.results[0], None, False)])
    schema = etree.XMLSchema(etree.parse(str(JUNIT_XSD)))
    assert schema.validate(etree.fromstring(xml.encode())), schema.error_log
    (case,) = next(iter(junitparser.JUnitXml.fromstring(xml.encode())))  # type: ignore[arg-type]
    (failure,) = case.result
    assert (
        failure.message
        == "blocked (accessible) matches --fail-on blocked: title \ufffd\ufffd[31m <&>"
    )


@pytest.mark.parametrize(
    ("quic", "expect_quic", "fail_on", "check", "failed"),
    [
        ("blocked", None, None, False, True),  # TCP accessible, QUIC blocked: --fail-on blocked
        ("inconclusive", None, "any", False, False),  # QUIC that could not be judged: no finding
        ("down", None, "any", False, True),
        (None, None, "any", False, False),  # QUIC not tried
        ("blocked", "blocked", None, True, False),  # expected QUIC blocking passes
        ("accessible", "blocked", None, True, True),
        (None, "accessible", None, True, True),  # expected QUIC, none tried
    ],
)
def test_the_quic_verdict_counts(
    quic: str | None, expect_quic: str | None, fail_on: str | None, check: bool, failed: bool
) -> None:
    base = a_result("x.example")
    accessible = Verdict(status="accessible", outcome="accessible", confidence=0.9, reason="r.")
    quic_verdict = (
        Verdict(status=quic, outcome="quic.o", confidence=0.5, reason="r.")  # type: ignore[arg-type]
        if quic is not None
        else None
    )
    target = Target(url=base.target.url, domain="x.example", expect_quic=expect_quic)  # type: ignore[arg-type]
    result = base.model_copy(
        update={"verdict": accessible, "quic_verdict": quic_verdict, "target": target}
    )
    case = judge_case(result, fail_on, check)  # type: ignore[arg-type]
    assert case.failed is failed
    if failed:
        assert case.why is not None and "QUIC" in case.why
