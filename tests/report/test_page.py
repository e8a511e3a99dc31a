"""The page's reading aids over the lab runs: status marks, links from the grid to the evidence,
the contents list, the methods chart by layer and its axis."""

from __future__ import annotations

import html as html_lib
import itertools
import re

import pytest

from censorcheck.results.report import (
    STATUS_MARKS,
    STATUSES,
    ReportData,
    evidence_anchor,
    html,
    target_anchor,
)
from censorcheck.results.report.charts import LAYERS, bars_charts, layer_of, nice_ticks
from tests.report.runs import ROUNDS


def _ids(page: str) -> list[str]:
    return re.findall(r'\sid="([^"]+)"', page)


def test_every_link_stays_in_the_page_and_lands_on_an_id(data: ReportData) -> None:
    page = html(data)
    ids = _ids(page)
    assert len(ids) == len(set(ids)), "ids must be unique"
    links = re.findall(r'href="([^"]*)"', page)
    assert links, "the page has a contents list and linked rows"
    for link in links:
        assert link.startswith("#"), link
        assert link[1:] in ids, link


def test_each_grid_row_links_to_that_targets_evidence_from_that_vantage(data: ReportData) -> None:
    page = html(data)
    for g in data.grids:
        svg = re.search(rf'<svg class="grid" data-vantage="{g.vantage}".*?</svg>', page, re.S)
        assert svg is not None
        rows = re.findall(r'<a class="row-link" href="#([^"]+)" data-url="([^"]+)">', svg[0])
        assert [html_lib.unescape(url) for _, url in rows] == g.targets
        for anchor, url in rows:
            assert anchor == evidence_anchor(g.vantage, html_lib.unescape(url))
    for detail in data.targets:
        # The target's collapsed section holds a row per vantage, each with its anchor.
        section = re.search(
            rf'<details class="target" id="{target_anchor(detail.url)}">.*?</details>', page, re.S
        )
        assert section is not None, detail.url
        for v in detail.verdicts:
            row = re.search(rf'<tr id="{evidence_anchor(v.vantage, v.url)}">.*?</tr>', section[0])
            assert row is not None and f"<td>{v.vantage}</td>" in row[0]
            for item in v.evidence:
                assert html_lib.escape(item.fact) in row[0]
    assert page.count('<details class="target"') == len(ROUNDS)
    assert " open" not in "".join(re.findall(r'<details class="target"[^>]*>', page))


def test_anchors_are_stable_and_tell_vantages_and_urls_apart() -> None:
    url = "https://news.example.test/"
    assert evidence_anchor("isp", url) == evidence_anchor("isp", url)
    assert evidence_anchor("isp", url) != evidence_anchor("free", url)
    assert evidence_anchor("a b", "c") != evidence_anchor("a", "b c")
    assert re.fullmatch(r"e-[0-9a-f]{12}", evidence_anchor("isp", url))
    assert re.fullmatch(r"t-[0-9a-f]{12}", target_anchor(url))


def test_a_status_is_told_by_a_mark_and_a_word_as_well_as_a_colour(data: ReportData) -> None:
    page = html(data)
    assert len(set(STATUS_MARKS.values())) == len(STATUS_MARKS)
    legend = re.search(r'<ul class="legend">.*?</ul>', page, re.S)
    assert legend is not None
    for status in STATUSES:
        mark = STATUS_MARKS[status]
        assert (
            f'<span class="swatch status-{status}" aria-hidden="true">{mark}</span>{status}'
            in legend[0]
        )
    for g in data.grids:
        svg = re.search(rf'<svg class="grid" data-vantage="{g.vantage}".*?</svg>', page, re.S)
        assert svg is not None
        marks = re.findall(r'<text class="mark ink-(\w+)"[^>]*>([^<]*)</text>', svg[0])
        assert len(marks) == len(g.cells)
        assert sorted(s for s, _ in marks) == sorted(c.status or "unknown" for c in g.cells)
        assert all(mark == STATUS_MARKS[status] for status, mark in marks)
    for v in data.latest():
        status = v.status or "unknown"
        chip = (
            f'<span class="chip status-{status}"><span aria-hidden="true">'
            f"{STATUS_MARKS[status]}</span> {status}</span>"
        )
        assert chip in page


def test_the_contents_list_names_every_section_and_vantage(data: ReportData) -> None:
    page = html(data)
    nav = re.search(r'<nav class="contents".*?</nav>', page, re.S)
    assert nav is not None
    for section in ("grid", "methods", "targets", "methodology"):
        assert f'href="#{section}"' in nav[0]
    for g in data.grids:
        assert f">Vantage {g.vantage}</a>" in nav[0]
    blocked = sum(any(v.status == "blocked" for v in t.verdicts) for t in data.targets)
    assert f"({len(data.targets)} shown, {blocked} blocked now)" in nav[0]


@pytest.mark.parametrize(
    ("peak", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (21, [0, 5, 10, 15, 20, 25]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_axis_ticks_are_round_whole_numbers(peak: int, ticks: list[int]) -> None:
    assert nice_ticks(peak) == ticks


def test_axis_ticks_for_any_peak_reach_it_in_at_most_five_even_steps() -> None:
    for peak in range(1, 5000, 7):
        ticks = nice_ticks(peak)
        step = ticks[1]
        assert ticks[0] == 0 and ticks[-1] >= peak > ticks[-2]
        assert len(ticks) - 1 <= 5
        assert all(b - a == step for a, b in itertools.pairwise(ticks))
        assert int(str(step)[0]) in (1, 2, 5) and set(str(step)[1:]) <= {"0"}


def test_methods_are_stacked_and_listed_by_layer_with_a_hue_per_layer(data: ReportData) -> None:
    charts = bars_charts(data)
    assert charts
    colour_of: dict[str, str] = {}
    for chart in charts:
        layers = [group.layer for group in chart.legend]
        assert layers == sorted(layers, key=(*LAYERS, "other").index)
        for group in chart.legend:
            assert all(layer_of(item.outcome) == group.layer for item in group.items)
            for item in group.items:
                # One colour per method in every chart.
                assert colour_of.setdefault(item.outcome, item.colour) == item.colour
        stacked = [group.layer for group in chart.legend]
        for column in chart.columns:
            seen = [stacked.index(layer_of(bar.outcome)) for bar in column.bars]
            assert seen == sorted(seen), "bottom up, layer by layer"
        top = chart.ticks[-1]
        assert top.y == pytest.approx(chart.top) and chart.ticks[0].y == chart.base_y
    assert len(set(colour_of.values())) == len(colour_of)
    # The lab's blocked methods span three layers (dns, tls, http), each in its own colours.
    assert {layer_of(o) for o in colour_of} == {"dns", "tls", "http"}
    by_layer: dict[str, set[str]] = {}
    for outcome, colour in colour_of.items():
        by_layer.setdefault(layer_of(outcome), set()).add(colour)
    for layer, colours in by_layer.items():
        for other, theirs in by_layer.items():
            assert other == layer or not colours & theirs
