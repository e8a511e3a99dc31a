"""The QUIC verdict wherever an analyst looks: the results table (and its CSV), ``diff``,
``history``, the report (Markdown and HTML) and the OONI export, over run documents whose QUIC
verdicts the rules computed from QUIC observations; and a schema 1.4 document, which has no
QUIC at all, read beside them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from censorcheck.measure.verdict import Observations, judge_quic
from censorcheck.models import (
    Control,
    HTTPResponse,
    QUICFetch,
    QUICHandshake,
    Result,
    Run,
    Summary,
    Target,
    TLSHandshake,
    Tool,
    VantageInfo,
    Verdict,
)
from censorcheck.results.diff import Seen, classify, diff_sides, load_side
from censorcheck.results.export import export
from censorcheck.results.history import periods
from censorcheck.results.ooni import measurements
from censorcheck.results.report import collect, evidence_anchor, html, markdown
from censorcheck.results.store import write_run
from censorcheck.results.warehouse import Warehouse
from tests.conftest import run_cli

SITE = "93.184.215.14"
QUIC_SITE = "https://h3.example/"  # loads over TCP throughout; over QUIC, then not
PLAIN = "https://plain.example/"  # QUIC never tried
TCP_OK = Verdict(status="accessible", outcome="accessible", confidence=0.9, reason="It loaded.")


def _tls() -> TLSHandshake:
    return TLSHandshake(address=SITE, port=443, sni="h3.example", trusted=True)


def _quic(named_silent: bool) -> QUICFetch:
    """HTTP/3 at the site's address: completed, or the host's name unanswered where a neutral
    name completes (the shape of SNI filtering of Initials)."""
    if not named_silent:
        hand = QUICHandshake(address=SITE, port=443, sni="h3.example", alpn="h3", trusted=True)
        page = HTTPResponse(status=200, headers=[], body_length=10, body_sha256="00")
        return QUICFetch(address=SITE, port=443, handshake=hand, response=page)
    neutral = QUICHandshake(address=SITE, port=443, sni="example.org")
    hand = QUICHandshake(
        address=SITE, port=443, sni="h3.example", failure="quic.timeout", neutral=neutral
    )
    return QUICFetch(address=SITE, port=443, handshake=hand, failure="quic.timeout")


def _result(url: str, started: str, quic: list[QUICFetch]) -> Result:
    domain = url.split("/")[2]
    target = Target(url=url, domain=domain)
    obs = Observations(target=target, tls=[_tls()], control=Control(), quic=quic)
    return Result(
        target=target,
        started_at=started,
        t=0.1,
        tls=[_tls()],
        control=Control(),
        quic=quic,
        verdict=TCP_OK,
        quic_verdict=judge_quic(obs),
    )


def _run(n: int, quic_blocked: bool | None) -> Run:
    """Run ``n``; ``quic_blocked`` None: QUIC not tried."""
    started = f"2026-12-0{n}T10:00:00.000Z"
    quic = [] if quic_blocked is None else [_quic(quic_blocked)]
    results = [_result(QUIC_SITE, started, quic), _result(PLAIN, started, [])]
    return Run(
        run_id=f"run-{n}",
        started_at=started,
        finished_at=started,
        tool=Tool(version="0"),
        vantage=VantageInfo(name="home", ipv6=False),
        settings={},
        rules_version="6",
        results=results,
        summary=Summary.of(results),
    )


def _as_1_4(run: Run) -> str:
    """The run as a schema 1.4 document: every field QUIC brought removed."""
    doc = json.loads(run.model_dump_json())
    doc["schema_version"] = "1.4"
    doc["summary"].pop("quic_by_status", None)
    for r in doc["results"]:
        for key in ("quic", "quic_verdict", "control_addresses", "dns_https"):
            r.pop(key, None)
        for query in r["dns"] + r["control"]["dns"]:
            if query.get("answer"):
                query["answer"].pop("records", None)  # schema 1.7
        r["control"].pop("quic", None)
        r["target"].pop("expect_quic", None)
    return json.dumps(doc)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An old document (1.4, before QUIC), then QUIC accessible, then QUIC blocked twice."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "1-old.json").write_text(_as_1_4(_run(1, None)), encoding="utf-8")
    write_run(_run(2, False), runs / "2.json")
    write_run(_run(3, True), runs / "3.json")
    write_run(_run(4, True), runs / "4.json")
    return runs


def test_the_premise_the_rules_judge_the_observations() -> None:
    (blocked,) = [r.quic_verdict for r in _run(3, True).results if r.quic_verdict]
    assert (blocked.status, blocked.outcome) == ("blocked", "quic.sni_blocking")
    (loaded,) = [r.quic_verdict for r in _run(2, False).results if r.quic_verdict]
    assert loaded.status == "accessible"


def test_the_results_table_has_the_quic_verdict_and_reads_a_1_4_document(folder: Path) -> None:
    with Warehouse([folder], index=False) as wh:
        assert wh.sync.skipped == [] and wh.sync.files == 4
        rows = wh.rows(
            "SELECT schema_version, url, status, quic_status, quic_outcome, quic_confidence "
            "FROM results ORDER BY run_started_at, url"
        )
    assert len(rows) == 8 and {r[2] for r in rows} == {"accessible"}
    assert [r[0] for r in rows[:2]] == ["1.4", "1.4"]
    for _, url, _, *quic in rows[:2] + [r for r in rows if r[1] == PLAIN]:
        assert quic == [None, None, None], url  # before QUIC, or QUIC never tried
    three = _run(3, True).results[0].quic_verdict
    assert three is not None
    assert [tuple(r[3:]) for r in rows[2:] if r[1] == QUIC_SITE] == [
        ("accessible", "accessible", 0.9),
        ("blocked", "quic.sni_blocking", three.confidence),
        ("blocked", "quic.sni_blocking", three.confidence),
    ]


def test_the_index_keeps_them_too(folder: Path, tmp_path: Path) -> None:
    index = tmp_path / "index.duckdb"
    for _ in range(2):  # a first look, then the index alone
        with Warehouse([folder], index=index) as wh:
            found = wh.rows("SELECT count(*) FROM results WHERE quic_status = 'blocked'")
        assert found == [(2,)]


def test_csv_export_has_the_quic_columns(folder: Path, tmp_path: Path) -> None:
    with Warehouse([folder], index=False) as wh:
        path, count = export(wh, "csv", tmp_path / "out")
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert count == len(rows) == 8
    quic = [(r["file"], r["quic_status"], r["quic_outcome"]) for r in rows if r["url"] == QUIC_SITE]
    assert quic == [
        ("1-old.json", "", ""),
        ("2.json", "accessible", "accessible"),
        ("3.json", "blocked", "quic.sni_blocking"),
        ("4.json", "blocked", "quic.sni_blocking"),
    ]


def test_diff_reports_quic_newly_blocked_and_exits_1(folder: Path) -> None:
    report = diff_sides(load_side(folder / "2.json"), load_side(folder / "3.json"))
    (change,) = report.changes
    assert (change.kind, change.url) == ("quic_newly_blocked", QUIC_SITE)
    assert change.before is not None and change.after is not None
    assert (change.before.quic_status, change.after.quic_status) == ("accessible", "blocked")
    assert change.after.quic_outcome == "quic.sni_blocking"
    assert report.became_blocked
    cli = run_cli("diff", str(folder / "2.json"), str(folder / "3.json"), "--json")
    assert cli.code == 1, cli.stderr
    assert json.loads(cli.stdout)["counts"]["quic_newly_blocked"] == 1
    back = diff_sides(load_side(folder / "4.json"), load_side(folder / "2.json"))
    assert [c.kind for c in back.changes] == ["quic_unblocked"] and not back.became_blocked


def test_diff_of_a_document_without_quic_is_no_quic_change(folder: Path) -> None:
    report = diff_sides(load_side(folder / "1-old.json"), load_side(folder / "3.json"))
    assert report.changes == [] and report.compared == 2


def test_diff_of_folders_carries_the_quic_verdict(folder: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "1-old.json").write_text((folder / "1-old.json").read_text())
    (old / "2.json").write_text((folder / "2.json").read_text())
    report = diff_sides(load_side(old, index=False), load_side(folder, index=False))
    (change,) = report.changes
    assert change.kind == "quic_newly_blocked" and change.after is not None
    assert change.after.run_id == "run-4" and change.after.quic_outcome == "quic.sni_blocking"


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (("accessible", None), ("blocked", "quic.timeout"), None),  # tried on one side only
        (("blocked", "quic.timeout"), ("blocked", "quic.sni_blocking"), "quic_changed"),
        (("inconclusive", "quic.timeout"), ("down", "quic.timeout"), "quic_changed"),
        (("down", "quic.timeout"), ("blocked", "quic.timeout"), "quic_newly_blocked"),
        (("accessible", "accessible"), ("accessible", "accessible"), None),
    ],
)
def test_classify_quic(
    before: tuple[str, str | None], after: tuple[str, str | None], kind: str | None
) -> None:
    def seen(quic: tuple[str, str | None]) -> Seen:
        status, outcome = quic
        return Seen.model_validate({
            "status": "accessible", "outcome": "accessible", "confidence": 0.9, "run_id": "r",
            "started_at": "2026-12-01T10:00:00.000Z",
            "quic_status": status if outcome is not None else None, "quic_outcome": outcome,
        })  # fmt: skip

    assert classify(seen(before), seen(after)) == kind


def test_history_breaks_a_period_where_quic_changed(folder: Path) -> None:
    with Warehouse([folder], index=False) as wh:
        found = periods(wh, target="h3.example")
    seen = [(p.status, p.quic_status, p.quic_outcome, p.runs, p.current) for p in found]
    assert seen == [
        ("accessible", None, None, 1, False),
        ("accessible", "accessible", "accessible", 1, False),
        ("accessible", "blocked", "quic.sni_blocking", 2, True),
    ]
    cli = run_cli("history", str(folder), "--no-index", "--json")
    assert cli.code == 0, cli.stderr
    now = {p["url"]: p for p in json.loads(cli.stdout)}
    assert now[QUIC_SITE]["quic_status"] == "blocked" and now[PLAIN]["quic_status"] is None


def test_the_report_shows_a_site_accessible_over_tcp_and_blocked_over_quic(folder: Path) -> None:
    with Warehouse([folder], index=False) as wh:
        data = collect(wh)
    (latest,) = [v for v in data.latest() if v.url == QUIC_SITE]
    assert (latest.status, latest.quic_status, latest.quic_outcome) == (
        "accessible",
        "blocked",
        "quic.sni_blocking",
    )
    assert latest.quic_reason and {"/quic/0/handshake/neutral", "/tls/0"} <= {
        e.ref for e in latest.quic_evidence
    }
    md = markdown(data)
    assert "## Blocked over QUIC" in md
    (line,) = [x for x in md.splitlines() if "h3.example" in x and "QUIC blocked" in x]
    assert "accessible over TCP, QUIC blocked" in line and "`quic.sni_blocking`" in line
    assert "plain.example" not in md.split("## Blocked over QUIC")[1]
    page = html(data)
    assert page.count("accessible over TCP, QUIC blocked") == 2  # the list and the target's row
    marks = [c for g in data.grids for c in g.cells if c.quic_status == "blocked"]
    assert page.count('class="quic-mark"') == len(marks) == 2  # runs 3 and 4
    # The QUIC list links each site to its evidence, which (as every link) is in the page.
    quic_list = page.split('<table class="quic">')[1].split("</table>")[0]
    assert f'<a href="#{evidence_anchor(latest.vantage, latest.url)}">' in quic_list
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert all(link[1:] in ids for link in re.findall(r'href="([^"]*)"', page))


def test_a_report_without_quic_says_nothing_of_it(tmp_path: Path) -> None:
    write_run(_run(2, None), tmp_path / "2.json")
    with Warehouse([tmp_path], index=False) as wh:
        data = collect(wh)
    assert "QUIC" not in markdown(data)
    assert "Blocked over QUIC" not in html(data)


def test_the_ooni_export_carries_quic_handshakes_and_the_quic_verdict() -> None:
    run = _run(3, True)
    (m,) = [x for x in measurements(run) if x["input"] == QUIC_SITE]
    keys = m["test_keys"]
    assert keys["x_censorcheck_quic_verdict"]["outcome"] == "quic.sni_blocking"
    shaken = [(h["network"], h["server_name"], h["failure"], h["no_tls_verify"])
              for h in keys["quic_handshakes"]]  # fmt: skip
    assert shaken == [("udp", "h3.example", "generic_timeout_error", False)]
    # The neutral name is another host: under our own key, not OONI's handshakes of this one.
    neutral = [(h["network"], h["server_name"], h["failure"], h["no_tls_verify"])
               for h in keys["x_censorcheck_neutral_sni_handshakes"]]  # fmt: skip
    assert neutral == [("udp", "example.org", None, True)]
    (plain,) = [x for x in measurements(run) if x["input"] == PLAIN]
    assert plain["test_keys"]["quic_handshakes"] == []
    assert plain["test_keys"]["x_censorcheck_quic_verdict"] is None


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_the_quic_marks_in_chromium(folder: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with Warehouse([folder], index=False) as wh:
        data = collect(wh)
    page_file = tmp_path / "report.html"
    page_file.write_text(html(data), encoding="utf-8")
    requests: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri(), wait_until="load")
            marks = page.locator("svg.grid path.quic-mark")
            assert marks.count() == 2
            for i in range(2):
                box = marks.nth(i).bounding_box()
                assert box is not None and 4 <= box["width"] <= 8 and box["height"] >= 4, box
            fill = page.eval_on_selector("svg.grid path.quic-mark", "e => getComputedStyle(e).fill")
            assert fill == "rgb(17, 17, 17)"
            rows = page.locator("table.quic tr")
            assert rows.count() == 2  # a heading and the one site
            assert "accessible over TCP, QUIC blocked" in rows.nth(1).inner_text()
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]
