"""``reanalyze`` and ``diff`` on real run documents: lab runs made through the CLI, from both
vantages, compared and re-judged without any network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from censorcheck.lab import Lab
from censorcheck.measure.verdict import RULES_VERSION
from censorcheck.models import SCHEMA_VERSION, Run
from censorcheck.results.diff import KINDS, Seen, classify
from tests.conftest import CLIResult, run_cli
from tests.test_scenarios import lab_flags

NO_CHANGE = dict.fromkeys(KINDS, 0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("analyse")


def _lab_run(lab: Lab, workdir: Path, name: str, censored: bool, urls: list[str]) -> Path:
    """One run of ``urls`` from one side of the lab, under the vantage name ``lab``."""
    targets = workdir / f"{name}.txt"
    targets.write_text("\n".join(urls) + "\n", encoding="utf-8")
    out = workdir / f"{name}.json"
    flags = lab_flags(lab, censored)
    result = run_cli("run", str(targets), *flags, "--vantage", "lab", "-o", str(out), "-q")
    assert result.code == (1 if censored else 0), result.stderr
    return out


@pytest.fixture(scope="module")
def censored(lab: Lab, workdir: Path) -> Path:
    return _lab_run(lab, workdir, "censored", True, lab.topology.target_urls())


@pytest.fixture(scope="module")
def free(lab: Lab, workdir: Path, censored: Path) -> Path:
    """Made after ``censored`` (it depends on it), so it is the later run of the two."""
    return _lab_run(lab, workdir, "free", False, lab.topology.target_urls())


@pytest.fixture(scope="module")
def one_less(lab: Lab, workdir: Path) -> Path:
    """The censored side again, without static.lab.test."""
    urls = [u for u in lab.topology.target_urls() if "//static.lab.test" not in u]
    return _lab_run(lab, workdir, "one-less", True, urls)


def blocked_names(lab: Lab) -> int:
    return sum(n.expect.status == "blocked" for n in lab.topology.names.values())


# What only the censored ("ISP") resolver does; the free vantage asks the honest one.
ISP_ONLY_DNS = {"nxdomain", "refused", "servfail", "zero", "loopback", "blockpage", "notice",
                "silence", "inject"}  # fmt: skip


def quic_changes(lab: Lab, to_censored: bool) -> dict[str, int]:
    """The QUIC changes diff must count between the two views, from the lab's table: a site that
    serves HTTP/3 loads over QUIC from the free vantage; elsewhere both views see the same."""
    counts = {"quic_newly_blocked": 0, "quic_unblocked": 0, "quic_changed": 0}
    for n in lab.topology.names.values():
        seen = n.expected_quic(control=False)
        if seen is None:
            continue
        free = "accessible" if n.quic == "h3" else seen.status
        before, after = (free, seen.status) if to_censored else (seen.status, free)
        if (before == "blocked") != (after == "blocked"):
            counts["quic_newly_blocked" if after == "blocked" else "quic_unblocked"] += 1
        elif before != after:
            counts["quic_changed"] += 1
    return counts


def unconfirmed_names(lab: Lab) -> int:
    """Names the censor acts on that the censored vantage can only call inconclusive (the free
    vantage, which the censor leaves alone, loads them)."""
    return sum(
        n.expect.status == "inconclusive" and (n.censor is not None or n.dns in ISP_ONLY_DNS)
        for n in lab.topology.names.values()
    )


def load(path: Path) -> Run:
    return Run.model_validate_json(path.read_text(encoding="utf-8"))


def one_line_error(result: CLIResult) -> None:
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr


# --- reanalyze -----------------------------------------------------------------------------


def test_a_run_records_its_rules_and_reanalyzes_to_the_same_verdicts(
    censored: Path, tmp_path: Path
) -> None:
    before = load(censored)
    assert before.rules_version == RULES_VERSION and before.schema_version == SCHEMA_VERSION
    out = tmp_path / "again.json"
    result = run_cli("reanalyze", str(censored), "--output", str(out))
    assert result.code == 0, result.stderr
    assert f"with rules {RULES_VERSION} (were {RULES_VERSION}): 0 verdicts changed" in result.stderr
    after = load(out)
    assert [r.verdict for r in after.results] == [r.verdict for r in before.results]
    assert after.summary == before.summary
    assert (after.run_id, after.rules_version) == (before.run_id, RULES_VERSION)


def test_reanalyze_puts_right_a_doctored_verdict(censored: Path, tmp_path: Path) -> None:
    """An old (schema 1.0, no rules_version) document whose twitter.com verdict is wrong."""
    doc = json.loads(censored.read_text(encoding="utf-8"))
    del doc["rules_version"]
    doc["schema_version"] = "1.0"
    (i,) = [i for i, r in enumerate(doc["results"]) if r["target"]["domain"] == "twitter.com"]
    right = doc["results"][i]["verdict"]
    wrong = {"status": "accessible", "outcome": "accessible", "confidence": 0.95, "reason": "x"}
    doc["results"][i]["verdict"] = wrong
    doctored = tmp_path / "doctored.json"
    doctored.write_text(json.dumps(doc), encoding="utf-8")
    assert load(doctored).rules_version == "0"  # loads: "0" means the rules are unknown

    result = run_cli("reanalyze", str(doctored), "-o", "-")
    assert result.code == 0, result.stderr
    assert f"with rules {RULES_VERSION} (were 0): 1 verdicts changed" in result.stderr
    fixed = Run.model_validate(result.json())
    assert fixed.results[i].verdict.model_dump(mode="json") == right
    assert (fixed.schema_version, fixed.rules_version) == (SCHEMA_VERSION, RULES_VERSION)
    assert fixed.summary == load(censored).summary


@pytest.mark.parametrize(
    "content", ["not json at all", '{"kind": "something else"}', "[1, 2]", '{"run_id": 3}']
)
def test_reanalyze_rejects_what_is_not_a_run_document(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    result = run_cli("reanalyze", str(bad), "-o", str(tmp_path / "out.json"))
    one_line_error(result)
    assert "bad.json: not a censorcheck run document" in result.stderr
    assert not (tmp_path / "out.json").exists()
    one_line_error(run_cli("reanalyze", str(tmp_path / "missing.json"), "-o", "-"))


# --- diff ----------------------------------------------------------------------------------


def diff_json(*args: str) -> tuple[CLIResult, dict[str, Any]]:
    result = run_cli("diff", *args, "--json")
    assert result.code in (0, 1), result.stderr
    return result, result.json()


def test_diff_censored_to_free_is_all_unblocked(lab: Lab, censored: Path, free: Path) -> None:
    result, report = diff_json(str(censored), str(free))
    assert result.code == 0  # nothing became blocked
    assert report["counts"] == {
        **NO_CHANGE,
        "unblocked": blocked_names(lab),
        "status_changed": unconfirmed_names(lab),
        **quic_changes(lab, to_censored=False),
    }
    assert report["compared"] == len(lab.topology.names)
    twitter = next(c for c in report["changes"] if c["url"].startswith("https://twitter.com"))
    assert twitter["before"]["outcome"] == "tls.sni_blocking"
    assert twitter["after"]["status"] == "accessible"


def test_diff_free_to_censored_is_newly_blocked_and_exits_1(
    lab: Lab, censored: Path, free: Path
) -> None:
    result, report = diff_json(str(free), str(censored))
    assert result.code == 1
    assert report["counts"] == {
        **NO_CHANGE,
        "newly_blocked": blocked_names(lab),
        "status_changed": unconfirmed_names(lab),
        **quic_changes(lab, to_censored=True),
    }
    table = run_cli("diff", str(free), str(censored))
    assert table.code == 1
    assert f"newly_blocked {blocked_names(lab)}" in table.stdout


def test_diff_of_a_run_with_one_target_less(lab: Lab, censored: Path, one_less: Path) -> None:
    result, report = diff_json(str(censored), str(one_less))
    assert result.code == 0
    assert report["counts"] == {**NO_CHANGE, "removed": 1}
    assert report["changes"] == [  # the only change is the missing target
        {
            "kind": "removed",
            "url": lab.topology.url("static.lab.test"),
            "vantage": "lab",
            "before": report["changes"][0]["before"],
            "after": None,
            "control_changed": False,
        }
    ]
    result, report = diff_json(str(one_less), str(censored))
    assert (result.code, report["counts"]) == (0, {**NO_CHANGE, "added": 1})
    assert report["compared"] == len(lab.topology.names) - 1


def test_diff_of_folders_takes_the_latest_and_counts_copies_once(
    lab: Lab, censored: Path, free: Path, tmp_path: Path
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    shutil.copy(censored, old / "a.json")
    shutil.copy(censored, new / "1-censored.json")  # earlier: overridden by the free run
    shutil.copy(free, new / "2-free.json")
    shutil.copy(free, new / "3-free-copy.json")  # the same run_id: one run, not two
    (new / "junk.json").write_text('{"hello": "world"}', encoding="utf-8")
    (new / "notes.txt").write_text("not looked at", encoding="utf-8")

    result, report = diff_json(str(old), str(new))
    assert result.code == 0
    assert report["counts"] == {
        **NO_CHANGE,
        "unblocked": blocked_names(lab),
        "status_changed": unconfirmed_names(lab),
        **quic_changes(lab, to_censored=False),
    }
    assert report["new_runs"] == sorted([load(censored).run_id, load(free).run_id])
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "junk.json: not a censorcheck run document" in warnings[0]

    result, report = diff_json(str(new), str(old))
    assert result.code == 1
    assert report["counts"] == {
        **NO_CHANGE,
        "newly_blocked": blocked_names(lab),
        "status_changed": unconfirmed_names(lab),
        **quic_changes(lab, to_censored=True),
    }


def test_diff_bad_input_is_one_line_and_exit_2(censored: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.json").write_text("{", encoding="utf-8")
    (tmp_path / "foreign.json").write_text('{"a": 1}', encoding="utf-8")
    for old in ("empty", "junk", "foreign.json", "missing.json"):
        one_line_error(run_cli("diff", str(tmp_path / old), str(censored)))


def seen(status: str, outcome: str, confidence: float = 0.9) -> Seen:
    return Seen.model_validate(
        {
            "status": status,
            "outcome": outcome,
            "confidence": confidence,
            "run_id": "r",
            "started_at": "2026-11-24T10:00:00.000Z",
        }
    )


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (seen("accessible", "accessible"), seen("blocked", "dns.nxdomain"), "newly_blocked"),
        (seen("inconclusive", "tls.reset"), seen("blocked", "tls.sni_blocking"), "newly_blocked"),
        (seen("blocked", "dns.nxdomain"), seen("down", "dns.nxdomain"), "unblocked"),
        (seen("blocked", "dns.nxdomain"), seen("blocked", "tls.sni_blocking"), "method_changed"),
        (seen("accessible", "accessible"), seen("down", "dns.nxdomain"), "status_changed"),
        (seen("down", "dns.refused", 0.9), seen("down", "dns.refused", 0.8), "confidence_changed"),
        (seen("accessible", "accessible", 0.95), seen("accessible", "accessible", 0.9), None),
        (seen("inconclusive", "tls.reset"), seen("inconclusive", "tls.eof"), None),
        (seen("blocked", "dns.nxdomain"), seen("blocked", "dns.nxdomain"), None),
    ],
)  # fmt: skip
def test_classify(before: Seen, after: Seen, kind: str | None) -> None:
    assert classify(before, after) == kind
