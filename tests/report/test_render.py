"""The report's Markdown and HTML over the lab runs, and the page opened in a real browser that
must make no request at all."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from censorcheck.models import Evidence
from censorcheck.results.report import (
    STATUS_COLOURS,
    STATUS_MARKS,
    ReportData,
    blocked_now,
    collect,
    evidence_anchor,
    html,
    markdown,
    target_anchor,
)
from censorcheck.results.store import write_run
from censorcheck.results.warehouse import Warehouse
from tests.report.runs import CENSORED, ROUNDS, Made

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")


# --- Markdown -----------------------------------------------------------------------------

_ROW = re.compile(r"^\| `(?P<url>[^`]+)` \| (?P<vantage>[^|]+) \| `(?P<method>[^`]+)` \| "
                  r"(?P<since>[^|]+) \| (?P<confidence>\d+)% \|$")  # fmt: skip


def test_markdown_lists_exactly_the_blocked_targets_of_the_latest_runs(
    made: Made, data: ReportData
) -> None:
    text = markdown(data)
    rows = [m for line in text.splitlines() if (m := _ROW.match(line))]
    expected = {
        key: results[-1]
        for key, results in made.history().items()
        if results[-1].status == "blocked"
    }
    assert {(m["url"], m["vantage"]) for m in rows} == set(expected)
    assert len(rows) == len(expected) == 4  # news, video, mail and blog, from the censored ISP
    latest = {(v.url, v.vantage): v for v in data.latest()}
    for m in rows:
        s = expected[m["url"], m["vantage"]]
        assert m["method"] == s.outcome
        assert int(m["confidence"]) == round(s.confidence * 100)
        assert m["since"] == latest[m["url"], m["vantage"]].since.strftime("%Y-%m-%d %H:%M UTC")
    assert len(blocked_now(data)) == 4
    assert "**5 runs** from **2 vantages**" in text
    assert "**4 of 12** (target, vantage) pairs blocked" in text
    assert "Methodology: how a verdict is reached" in text
    assert "## Changes" in text


# --- HTML ---------------------------------------------------------------------------------


def test_the_page_is_self_contained(data: ReportData) -> None:
    page = html(data)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert f'<meta http-equiv="Content-Security-Policy" content="{csp}">' in page
    for fetches in ("<script", "<link", "<img", "<iframe", "src=", "url(", "@import"):
        assert fetches not in page.lower(), fetches
    # Links only move within the page (tests/report/test_page.py checks where they land).
    assert all(link.startswith("#") for link in re.findall(r"href=\"([^\"]*)\"", page))
    for g in data.grids:
        svg = re.search(rf'<svg class="grid" data-vantage="{g.vantage}".*?</svg>', page, re.S)
        assert svg is not None
        assert svg[0].count('<rect class="cell ') == len(g.cells)
        blocked = sum(c.status == "blocked" for c in g.cells)
        assert svg[0].count('<rect class="cell status-blocked"') == blocked
    assert page.count('<details class="target"') == len(ROUNDS)


def test_hostile_text_is_escaped(made: Made, tmp_path: Path) -> None:
    """Target URLs, reasons, evidence and vantage names come from the network, or from
    whoever wrote the document: a copy of a real run with each of them made hostile."""
    run = made.runs[2]
    evil_reason = "<script>alert(1)</script>"
    # A censor's block page titled to close the evidence's <details> and add a link out.
    evil_fact = (
        'title "</code></details><a href=//evil.example>[b]x[/b]</a>" '
        '<img src=x onerror="alert(2)">'
    )
    evil_url = made.urls["news.example.test"] + '?q=<script>alert(3)</script>&r="#x'
    evil_vantage = 'isp"><svg onload=alert(4)>'
    evil_category = "</summary><details open>"
    results = []
    for r in run.results:
        if r.target.url == made.urls["news.example.test"]:
            verdict = r.verdict.model_copy(
                update={
                    "reason": evil_reason,
                    "evidence": [*r.verdict.evidence, Evidence(ref="/dns/0", fact=evil_fact)],
                }
            )
            target = r.target.model_copy(update={"url": evil_url, "category": evil_category})
            r = r.model_copy(update={"verdict": verdict, "target": target})
        results.append(r.model_copy(update={"vantage": evil_vantage}))
    doctored = run.model_copy(
        update={
            "run_id": str(uuid.uuid4()),
            "results": results,
            "vantage": run.vantage.model_copy(update={"name": evil_vantage}),
            "vantages": [v.model_copy(update={"name": evil_vantage}) for v in run.vantages],
        }
    )
    write_run(doctored, tmp_path / "doctored.json")
    with Warehouse([tmp_path], index=False) as wh:
        data = collect(wh)
    (news,) = [t for t in data.targets if t.url == evil_url]
    assert news.verdicts[0].reason == evil_reason
    assert news.verdicts[0].evidence[-1].fact == evil_fact
    page = html(data)
    for evil in (evil_reason, evil_fact, evil_url, evil_vantage, "<svg onload", "<script"):
        assert evil not in page
    for evil in (evil_category, "//evil.example>", "<details open>"):
        assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "&lt;/code&gt;&lt;/details&gt;&lt;a href=//evil.example&gt;[b]x[/b]&lt;/a&gt;" in page
    assert "?q=&lt;script&gt;alert(3)&lt;/script&gt;&amp;r=&quot;#x" in page
    assert "&lt;/summary&gt;&lt;details open&gt;" in page
    # The hostile URL and vantage still get their anchors, and every link stays in the page.
    assert f'<tr id="{evidence_anchor(evil_vantage, evil_url)}">' in page
    assert f'<a class="row-link" href="#{evidence_anchor(evil_vantage, evil_url)}"' in page
    assert all(link.startswith("#") for link in re.findall(r'href="([^"]*)"', page))
    assert 'data-vantage="isp&quot;&gt;&lt;svg onload=alert(4)&gt;"' in page
    text = markdown(data)
    assert "<svg" not in text
    assert 'isp"&gt;&lt;svg onload=alert(4)&gt;' in text
    # A URL stays in a code span, where Markdown shows it as text and never as a link or tag.
    assert f"`{evil_url}`" in text


# --- in a real browser --------------------------------------------------------------------


def _rgb(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)
def test_the_page_in_chromium_draws_the_grid_and_requests_nothing(
    made: Made, data: ReportData, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "report.html"
    page_file.write_text(html(data), encoding="utf-8")
    url = page_file.as_uri()
    artefacts = ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shot, followed = artefacts / "report.png", artefacts / "report-evidence.png"
    shot.unlink(missing_ok=True)
    followed.unlink(missing_ok=True)
    requests: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            grids = page.locator("svg.grid")
            assert grids.count() == len(data.grids)
            for g in data.grids:
                svg = page.locator(f'svg.grid[data-vantage="{g.vantage}"]')
                box = svg.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, box
                assert svg.locator("rect.cell").count() == len(g.cells)
            fills = page.eval_on_selector_all(
                "svg.grid rect.cell.status-blocked", "els => els.map(e => getComputedStyle(e).fill)"
            )
            assert len(fills) == sum(c.status == "blocked" for g in data.grids for c in g.cells)
            assert fills and set(fills) == {_rgb(STATUS_COLOURS["blocked"])}
            green = page.eval_on_selector(
                "svg.grid rect.cell.status-accessible", "e => getComputedStyle(e).fill"
            )
            assert green == _rgb(STATUS_COLOURS["accessible"])
            bars = page.locator("svg.methods rect.bar").count()
            assert bars > 0
            _check_marks(page, data)
            page.screenshot(path=str(shot), full_page=True)
            _follow_a_grid_row(page, made, data)
            page.screenshot(path=str(followed))
        finally:
            browser.close()
    assert requests == [url]
    for png in (shot, followed):
        assert png.stat().st_size > 20_000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_marks(page: Any, data: ReportData) -> None:
    """Each blocked cell carries a visible ✕ in white over it; each chip, its mark and word."""
    cells = [c for g in data.grids for c in g.cells if c.status == "blocked"]
    marks = page.locator("svg.grid text.mark.ink-blocked")
    assert marks.count() == len(cells)
    assert set(marks.all_text_contents()) == {STATUS_MARKS["blocked"]}
    assert marks.first.evaluate("e => getComputedStyle(e).fill") == "rgb(255, 255, 255)"
    cell = page.locator("svg.grid rect.cell.status-blocked").first.bounding_box()
    mark = marks.first.bounding_box()
    assert cell is not None and mark is not None and mark["width"] > 3 and mark["height"] > 5
    assert cell["x"] <= mark["x"] and mark["x"] + mark["width"] <= cell["x"] + cell["width"] + 1
    chips = page.locator("details.target summary .chip.status-blocked")
    assert chips.count() == sum(v.status == "blocked" for v in data.latest())
    assert set(chips.all_inner_texts()) == {f"{STATUS_MARKS['blocked']} blocked"}
    closed = "els => els.filter(e => !e.open).length"
    assert page.eval_on_selector_all("details.target", closed) == len(data.targets)


def _follow_a_grid_row(page: Any, made: Made, data: ReportData) -> None:
    """Clicking a grid row lands on that target's evidence from that vantage, opened."""
    url = made.urls["blog.example.test"]  # blocked by a block page from the censored ISP
    anchor = evidence_anchor(CENSORED.name, url)
    (verdict,) = [v for v in data.latest() if v.url == url and v.vantage == CENSORED.name]
    assert verdict.status == "blocked" and verdict.evidence
    grid = page.locator(f'svg.grid[data-vantage="{CENSORED.name}"]')
    grid.locator(f'a.row-link[href="#{anchor}"] rect.cell').last.click()
    page.wait_for_url(f"**#{anchor}")
    assert page.eval_on_selector(f"#{target_anchor(url)}", "e => e.open") is True
    row = page.locator(f"tr#{anchor}")
    box = row.bounding_box()
    assert box is not None and 0 <= box["y"] < 900 and box["height"] > 0, box
    text = row.inner_text()
    assert STATUS_MARKS["blocked"] + " blocked" in text
    assert all(item.fact in text for item in verdict.evidence)
