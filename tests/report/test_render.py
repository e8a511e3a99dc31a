"""The report's Markdown and HTML over the lab runs, and the page opened in a real browser that
must make no request at all."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from censorcheck.models import Evidence
from censorcheck.results.report import (
    STATUS_COLOURS,
    ReportData,
    blocked_now,
    collect,
    html,
    markdown,
)
from censorcheck.results.store import write_run
from censorcheck.results.warehouse import Warehouse
from tests.report.runs import ROUNDS, Made

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
    for fetches in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"):
        assert fetches not in page.lower(), fetches
    for g in data.grids:
        svg = re.search(rf'<svg class="grid" data-vantage="{g.vantage}".*?</svg>', page, re.S)
        assert svg is not None
        assert svg[0].count('<rect class="cell ') == len(g.cells)
        blocked = sum(c.status == "blocked" for c in g.cells)
        assert svg[0].count('<rect class="cell status-blocked"') == blocked
    assert page.count('<section class="target"') == len(ROUNDS)


def test_hostile_text_is_escaped(made: Made, tmp_path: Path) -> None:
    """Target URLs, reasons, evidence and vantage names come from the network, or from
    whoever wrote the document: a copy of a real run with each of them made hostile."""
    run = made.runs[2]
    evil_reason = "<script>alert(1)</script>"
    evil_fact = '<img src=x onerror="alert(2)">'
    evil_url = made.urls["news.example.test"] + "?q=<script>alert(3)</script>"
    evil_vantage = 'isp"><svg onload=alert(4)>'
    results = []
    for r in run.results:
        if r.target.url == made.urls["news.example.test"]:
            verdict = r.verdict.model_copy(
                update={
                    "reason": evil_reason,
                    "evidence": [*r.verdict.evidence, Evidence(ref="/dns/0", fact=evil_fact)],
                }
            )
            target = r.target.model_copy(update={"url": evil_url})
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
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "?q=&lt;script&gt;alert(3)&lt;/script&gt;" in page
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
    data: ReportData, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "report.html"
    page_file.write_text(html(data), encoding="utf-8")
    url = page_file.as_uri()
    artefacts = ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shot = artefacts / "report.png"
    shot.unlink(missing_ok=True)
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
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requests == [url]
    assert shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
