"""``history``, ``query`` and ``export`` over real lab runs: two vantages, five runs, blocking
that begins between runs, copies of a run, and files that are not run documents. The numbers
are checked against the run documents themselves."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from censorcheck.lab import Lab
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.models import Run
from censorcheck.results.store import write_run
from censorcheck.results.warehouse import COLUMNS, Warehouse
from tests.conftest import run_cli

NAMES = ["dns-nxdomain", "tls-sni-reset", "http-blockpage", "static", "gone"]
BLOCKED = ["dns-nxdomain", "tls-sni-reset", "http-blockpage"]  # from the censored vantage
# In this order in time: "home" is measured from the free side at first, then the censored one.
PLAN = [
    ("1-home.json", "home", False),
    ("2-vpn.json", "vpn", False),
    ("3-home.json", "home", True),
    ("4-home.json", "home", True),
    ("5-vpn.json", "vpn", False),
]


@dataclass
class Results:
    folder: Path
    runs: dict[str, Run]  # by file name

    def verdict(self, file: str, name: str) -> tuple[str, str]:
        (result,) = [r for r in self.runs[file].results if r.target.domain == f"{name}.lab.test"]
        return result.verdict.status, result.verdict.outcome

    def all_results(self) -> list[tuple[str, str, str]]:
        """(vantage, domain, status) of every result of every run."""
        return [
            (r.vantage or run.vantage.name, r.target.domain, r.verdict.status)
            for run in self.runs.values()
            for r in run.results
        ]


@pytest.fixture(scope="module")
def results(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Results:
    folder = tmp_path_factory.mktemp("history") / "results"
    urls = [lab.topology.url(f"{name}.lab.test") for name in NAMES]
    runs = {}
    for file, vantage, censored in PLAN:
        run = measure(load_targets(urls), lab.settings(censored, vantage=vantage))
        write_run(run, folder / file)
        runs[file] = run
    found = Results(folder, runs)
    for name in BLOCKED:  # the premise of the tests: the lab blocks these from "home" only
        assert found.verdict("1-home.json", name)[0] == "accessible"
        assert found.verdict("3-home.json", name)[0] == "blocked"
    return found


def cli_json(*args: str) -> object:
    result = run_cli(*args)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_history_of_a_target_has_a_period_per_verdict_and_says_since_when(
    results: Results,
) -> None:
    found = cli_json("history", str(results.folder), "--target", "dns-nxdomain.lab.test", "--json")
    assert isinstance(found, list)
    home = [p for p in found if p["vantage"] == "home"]
    vpn = [p for p in found if p["vantage"] == "vpn"]
    assert [(p["status"], p["runs"], p["current"]) for p in home] == [
        ("accessible", 1, False),
        ("blocked", 2, True),
    ]
    assert home[1]["outcome"] == results.verdict("3-home.json", "dns-nxdomain")[1]
    assert home[1]["first_seen"] == results.runs["3-home.json"].started_at
    assert home[1]["last_seen"] == results.runs["4-home.json"].started_at
    assert home[1]["first_run"] == results.runs["3-home.json"].run_id
    assert [(p["status"], p["runs"]) for p in vpn] == [("accessible", 2)]


def test_history_without_a_target_gives_the_current_verdict_of_every_pair(
    results: Results,
) -> None:
    found = cli_json("history", str(results.folder), "--json")
    assert isinstance(found, list)
    current = {(p["vantage"], p["domain"]): p["status"] for p in found}
    assert len(current) == len(found) == 2 * len(NAMES)
    for name in NAMES:
        domain = f"{name}.lab.test"
        assert current[("home", domain)] == results.verdict("4-home.json", name)[0]
        assert current[("vpn", domain)] == results.verdict("5-vpn.json", name)[0]


def test_a_grouped_query_counts_what_the_documents_hold(results: Results) -> None:
    sql = "select vantage, status, count(*) as n from results group by all order by all"
    found = cli_json("query", str(results.folder), sql, "--format", "json")
    assert isinstance(found, list)
    got = {(row["vantage"], row["status"]): row["n"] for row in found}
    want = Counter((vantage, status) for vantage, _, status in results.all_results())
    assert got == dict(want)


def test_copies_and_foreign_files_change_nothing_and_are_reported(
    results: Results, tmp_path: Path
) -> None:
    folder = tmp_path / "gathered"
    shutil.copytree(results.folder, folder / "machine-a")
    shutil.copytree(results.folder, folder / "machine-b")  # the same runs again
    (folder / "broken.json").write_text('{"run_id": "x", "results": [', encoding="utf-8")
    (folder / "other.json").write_text('{"hello": "world"}', encoding="utf-8")
    (folder / "scan.json").write_text('{"kind": "censorcheck.dns-scan"}', encoding="utf-8")
    result = run_cli("query", str(folder), "select count(*) as n from results", "-f", "json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": len(results.all_results())}]
    warnings = sorted(line for line in result.stderr.splitlines() if line.startswith("warning"))
    assert len(warnings) == 3, result.stderr
    assert "broken.json: not valid JSON" in warnings[0]
    assert "other.json: not a censorcheck run document" in warnings[1]
    assert "scan.json: a censorcheck.dns-scan document, not a run document" in warnings[2]


def test_the_index_reads_only_what_changed(results: Results, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(results.folder, folder)
    index = tmp_path / "index.duckdb"
    with Warehouse([folder], index=index) as wh:
        assert (wh.sync.read, wh.sync.files) == (len(PLAN), len(PLAN))
    with Warehouse([folder], index=index) as wh:
        assert wh.sync.read == 0
        before = wh.rows("select count(*) from results where status = 'blocked'")[0][0]
    # Another verdict in one document: the index must notice, and only that file is read.
    run = results.runs["1-home.json"]
    doctored = run.model_copy(
        update={
            "results": [
                r.model_copy(update={"verdict": r.verdict.model_copy(update={"status": "blocked"})})
                for r in run.results
            ]
        }
    )
    write_run(doctored, folder / "1-home.json")
    (folder / "5-vpn.json").unlink()
    with Warehouse([folder], index=index) as wh:
        assert (wh.sync.read, wh.sync.files) == (1, len(PLAN) - 1)
        after = wh.rows("select count(*) from results where status = 'blocked'")[0][0]
        runs = wh.rows("select count(distinct run_id) from results")[0][0]
    newly = sum(r.verdict.status != "blocked" for r in run.results)
    vpn_blocked = sum(r.verdict.status == "blocked" for r in results.runs["5-vpn.json"].results)
    assert after == before + newly - vpn_blocked
    assert runs == len(PLAN) - 1


def test_export_csv_and_parquet_hold_every_row_with_the_documented_columns(
    results: Results, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out"
    for fmt in ("csv", "parquet"):
        result = run_cli("export", str(results.folder), "--format", fmt, "--output", str(out))
        assert result.code == 0, result.stderr
    total = len(results.all_results())
    with (out / "results.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == total
    assert list(rows[0]) == [c.name for c in COLUMNS]
    got = Counter((r["vantage"], r["domain"], r["status"]) for r in rows)
    assert got == Counter(results.all_results())
    assert all("/" not in r["file"] for r in rows)  # no local path leaves in an export
    table = pq.read_table(out / "results.parquet")
    assert table.num_rows == total and table.schema.names == [c.name for c in COLUMNS]
    addresses = table.column("dns_addresses").to_pylist()
    assert any(isinstance(a, list) and a for a in addresses)


def test_export_ooni_writes_a_measurement_per_result(results: Results, tmp_path: Path) -> None:
    out = tmp_path / "ooni"
    result = run_cli("export", str(results.folder), "-f", "ooni", "-o", str(out))
    assert result.code == 0, result.stderr
    lines = (out / "measurements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(results.all_results())
    inputs = Counter(json.loads(line)["input"] for line in lines)
    assert set(inputs.values()) == {len(PLAN)}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["query", "{folder}", "selec 1"], "error: SQL: "),  # then DuckDB's words
        (["query", "{missing}", "select 1"], "no such file or folder"),
        (["history", "{folder}", "--target", "nowhere.example"], "no target nowhere.example"),
        (["export", "{folder}", "-f", "xls", "-o", "{missing}"], "csv, parquet, ooni"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    results: Results, tmp_path: Path, args: list[str], needle: str
) -> None:
    filled = [a.format(folder=results.folder, missing=tmp_path / "missing") for a in args]
    result = run_cli(*filled)
    assert result.code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert needle in result.stderr, result.stderr
    assert len(lines) <= 6, result.stderr  # typer frames a bad flag in a box; ours is one line
    if not needle.startswith("csv"):
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not (tmp_path / "missing").exists()


def test_the_query_table_is_readable_by_a_spreadsheet(results: Results) -> None:
    result = run_cli(
        "query", str(results.folder), "select domain, status from results", "-f", "csv"
    )
    assert result.code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["domain", "status"] and len(rows) == 1 + len(results.all_results())


def test_report_command_writes_the_page_and_the_markdown(results: Results, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = run_cli("report", str(results.folder), "--html", str(page), "--markdown")
    assert result.code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert text.count('class="grid"') >= 2  # one grid per vantage
    assert "http://" not in text.split("<body", 1)[0]  # nothing loaded from anywhere
    blocked_now = [n for n in NAMES if results.verdict("4-home.json", n)[0] == "blocked"]
    table = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(table) == len(blocked_now)
    for name in blocked_now:
        assert any(f"{name}.lab.test" in line and "| home |" in line for line in table)


def test_a_query_cannot_change_the_index(results: Results) -> None:
    dropped = run_cli("query", str(results.folder), "drop view results")
    assert dropped.code == 2 and "read-only" in dropped.stderr, dropped.stderr
    again = run_cli("query", str(results.folder), "select count(*) as n from results", "-f", "json")
    assert again.code == 0 and json.loads(again.stdout) == [{"n": len(results.all_results())}]


def _doc(run: Run, **changes: object) -> Any:
    data = json.loads(run.model_dump_json())
    data.update(changes)
    return data


def test_odd_documents_are_skipped_or_read_right_never_fatal(
    results: Results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a review found: each of these once failed a whole folder or misread a value."""
    folder = tmp_path / "odd"
    folder.mkdir()
    good = results.runs["1-home.json"]
    write_run(good, folder / "good.json")
    (folder / "latin1.json").write_bytes(b'{"kind": "caf\xe9"}')
    bad_time = _doc(results.runs["2-vpn.json"], run_id="bad-time", started_at="yesterday")
    (folder / "bad-time.json").write_text(json.dumps(bad_time), encoding="utf-8")
    bad_day = _doc(results.runs["5-vpn.json"], run_id="bad-day")
    bad_day["results"][-1]["started_at"] = "2026-13-45T99:99:99.999Z"  # the shape, not a time
    (folder / "bad-day.json").write_text(json.dumps(bad_day), encoding="utf-8")
    odd = _doc(results.runs["3-home.json"], run_id="odd", started_at="2026-11-24T15:27:02")
    del odd["rules_version"]  # as before schema 1.1
    odd["vantage"]["asn"] = 2**63
    odd["vantages"] = []
    first = odd["results"][0]
    first["vantage"] = "elsewhere"
    first["verdict"]["reason"] = "x" * 3_000_000
    (folder / "odd.json").write_text(json.dumps(odd), encoding="utf-8")
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # must not move a time without an offset

    sql = (
        "select run_id, vantage, asn, rules_version, run_started_at::varchar as t, "
        "length(reason) as n from results where run_id = 'odd' order by vantage"
    )
    result = run_cli("query", str(folder), sql, "-f", "json")
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == len(odd["results"])
    assert {r["rules_version"] for r in rows} == {"0"}
    assert {r["t"] for r in rows} == {"2026-11-24 15:27:02"}
    assert {r["asn"] for r in rows} == {None}  # out of range: unknown, not a wrong number
    assert [r["n"] for r in rows if r["vantage"] == "elsewhere"] == [4096]
    warnings = sorted(line for line in result.stderr.splitlines() if line.startswith("warning"))
    assert len(warnings) == 3, result.stderr
    assert "bad-day.json: not a censorcheck run document (" in warnings[0]
    assert "bad-time.json: not a censorcheck run document (started_at 'yesterday'" in warnings[1]
    assert "latin1.json: not valid JSON (not UTF-8)" in warnings[2]
    total = run_cli("query", str(folder), "select count(*) as n from results", "-f", "json")
    assert json.loads(total.stdout) == [{"n": len(good.results) + len(rows)}]


def test_of_two_differing_copies_of_a_run_the_newest_rules_win(
    results: Results, tmp_path: Path
) -> None:
    folder = tmp_path / "copies"
    folder.mkdir()
    run = results.runs["3-home.json"]
    write_run(run, folder / "z-current.json")
    old = _doc(run, rules_version="1")
    for result in old["results"]:
        result["verdict"]["status"] = "inconclusive"
    (folder / "a-old-rules.json").write_text(json.dumps(old), encoding="utf-8")
    found = cli_json(
        "query", str(folder), "select status, rules_version from results", "-f", "json"
    )
    assert isinstance(found, list) and len(found) == len(run.results)
    assert {r["rules_version"] for r in found} == {run.rules_version}
    assert Counter(r["status"] for r in found) == Counter(r.verdict.status for r in run.results)


def test_ooni_export_leaves_out_a_document_the_model_refuses(
    results: Results, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = results.runs["1-home.json"]
    write_run(good, folder / "good.json")
    newer = _doc(results.runs["2-vpn.json"], future_field=1)  # from a later censorcheck
    (folder / "newer.json").write_text(json.dumps(newer), encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli("export", str(folder), "-f", "ooni", "-o", str(out))
    assert result.code == 0, result.stderr
    assert "warning: left out" in result.stderr and "newer.json" in result.stderr
    lines = (out / "measurements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(good.results)
    page = tmp_path / "report.html"
    assert run_cli("report", str(folder), "--html", str(page)).code == 0
    assert str(tmp_path) not in page.read_text(encoding="utf-8")  # no local path in the page
