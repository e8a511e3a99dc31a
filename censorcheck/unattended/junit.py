"""The run as JUnit XML, which CI systems display natively.

One ``<testsuite>`` per vantage and one ``<testcase>`` per (target, vantage). A case fails as
``check.judge_case`` says; its ``<failure>`` carries the verdict's reason as the message and the
evidence, one fact a line, as the body. Passing cases keep their verdict in ``<system-out>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from censorcheck.models import Run
from censorcheck.results.store import write_text
from censorcheck.unattended.check import Case

# Characters XML 1.0 cannot carry at all, not even escaped; page titles can contain them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _seconds(start: str, end: str) -> float:
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return max(0.0, (parse(end) - parse(start)).total_seconds())


def render(run: Run, cases: Sequence[Case]) -> str:
    """The JUnit XML document of ``run`` judged as ``cases`` (one per result, same order)."""
    failures = sum(c.failed for c in cases)
    time = f"{_seconds(run.started_at, run.finished_at):.3f}"
    root = ET.Element(
        "testsuites",
        name="censorcheck",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        time=time,
    )
    by_vantage: dict[str, list[Case]] = {v.name: [] for v in run.vantages or [run.vantage]}
    for case in cases:
        by_vantage.setdefault(case.result.vantage or run.vantage.name, []).append(case)
    for index, (vantage, mine) in enumerate(by_vantage.items()):
        _suite(root, run, vantage, mine, index, time)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(
    root: ET.Element, run: Run, vantage: str, cases: Sequence[Case], index: int, time: str
) -> None:
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_text(f"censorcheck {vantage}"),
        tests=str(len(cases)),
        failures=str(sum(c.failed for c in cases)),
        errors="0",
        skipped="0",
        time=time,
        timestamp=run.started_at.rstrip("Z").split(".")[0],
        hostname=_text(vantage),  # never the machine's own name: it can name its owner
        id=str(index),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("run_id", run.run_id), ("vantage", vantage)):
        ET.SubElement(properties, "property", name=name, value=_text(value))
    for case in cases:
        result, verdict = case.result, case.result.verdict
        element = ET.SubElement(
            suite,
            "testcase",
            name=_text(result.target.url),
            classname=_text(f"censorcheck.{vantage}"),
            time=f"{result.t:.3f}",
        )
        facts = "\n".join(f"{e.ref}: {e.fact}" for e in verdict.evidence)
        summary = f"{verdict.status} ({verdict.outcome}, confidence {verdict.confidence:.2f})"
        if case.why is not None:
            failure = ET.SubElement(
                element,
                "failure",
                message=_text(f"{case.why}: {verdict.reason}"),
                type=verdict.outcome,
            )
            failure.text = _text(facts)
        else:
            out = ET.SubElement(element, "system-out")
            out.text = _text(f"{summary}: {verdict.reason}\n{facts}")


def write_junit(run: Run, cases: Sequence[Case], path: Path) -> None:
    """Write the JUnit file atomically (StoreError when it cannot be written)."""
    write_text(render(run, cases), path)
