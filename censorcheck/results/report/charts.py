"""The charts' layout and colours: where each cell, bar and label of the SVG charts goes.

Geometry and tooltip text only; ``templates/charts.svg.j2`` turns a layout into markup.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from censorcheck.results.report.data import ReportData, VantageGrid
from censorcheck.results.report.wording import column_label, column_span, when

STATUSES = ("accessible", "blocked", "down", "inconclusive")
# Fill colours per status; the grid's CSS and the legends use these, tests read them back.
STATUS_COLOURS: dict[str, str] = {
    "accessible": "#2e9d4f",
    "blocked": "#d62728",
    "down": "#f0a202",
    "inconclusive": "#8da0cb",
    "unknown": "#bbbbbb",
}
# Outcome colours by layer, so that a reader sees the layer before reading the legend.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "dns": ("#2171b5", "#6baed6", "#08519c", "#9ecae1", "#4292c6", "#c6dbef"),
    "tcp": ("#6a51a3", "#9e9ac8", "#54278f", "#bcbddc"),
    "tls": ("#e6550d", "#fdae6b", "#a63603", "#fd8d3c"),
    "http": ("#a50f15", "#fb6a4a", "#67000d", "#fcbba1"),
    "other": ("#636363", "#969696", "#252525", "#cccccc"),
}
CELL_H = 14


def status_class(status: str | None) -> str:
    """The CSS class that colours a status (any status we do not know is ``unknown``)."""
    return f"status-{status if status in STATUSES else 'unknown'}"


def status_order(status: str) -> tuple[int, str]:
    """Sort key: the known statuses in their usual order, then any other."""
    return (STATUSES.index(status) if status in STATUSES else len(STATUSES), status)


def _outcome_colours(outcomes: Iterable[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    used: dict[str, int] = defaultdict(int)
    for outcome in sorted(set(outcomes)):
        family = outcome.split(".", 1)[0]
        palette = _FAMILIES.get(family, _FAMILIES["other"])
        colours[outcome] = palette[used[family] % len(palette)]
        used[family] += 1
    return colours


def _short(url: str, limit: int = 48) -> str:
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
    url = url.removesuffix("/") if url.count("/") == 1 else url
    return url if len(url) <= limit else url[: limit - 1] + "…"


def _label_every(width: float) -> int:
    """Label every n-th column: slanted labels need about 16 px between them."""
    return max(1, math.ceil(16 / max(width, 1)))


def _label_room(data: ReportData) -> int:
    """Height taken by the time labels slanted at 60°, at about 6.6 px per character."""
    longest = max((len(column_label(data, c)) for c in data.columns), default=8)
    return int(14 + 6.6 * longest * 0.87)


@dataclass(frozen=True)
class TimeLabel:
    """A column's start, written slanted from (x, y)."""

    x: float
    y: int
    text: str


# --- the status grid ----------------------------------------------------------------------


@dataclass(frozen=True)
class GridRow:
    y: int
    url: str
    label: str  # the URL, shortened
    striped: bool


@dataclass(frozen=True)
class GridCell:
    x: int
    y: int
    column: int
    status_class: str
    tip: str
    quic_blocked: bool = False  # drawn with a mark: the site may load over TCP all the same


@dataclass(frozen=True)
class GridChart:
    """One vantage's grid: a row per target, a column per time column."""

    vantage: str
    width: int
    height: int
    label_w: int  # the row labels end here; the cells begin
    plot_w: int
    cell_w: int
    cell_h: int
    rows: list[GridRow]
    labels: list[TimeLabel]
    cells: list[GridCell]


def grid_chart(data: ReportData, grid: VantageGrid) -> GridChart:
    """Lay out ``grid`` on the report's time axis."""
    ncols = max(1, len(data.columns))
    labels = {url: _short(url) for url in grid.targets}
    label_w = min(380, 7 * max((len(s) for s in labels.values()), default=4) + 14)
    cell_w = max(4, min(28, (1000 - label_w) // ncols))
    top = _label_room(data)
    row = {url: i for i, url in enumerate(grid.targets)}
    every = _label_every(cell_w)
    cells = []
    for cell in grid.cells:
        col = data.columns[cell.column]
        tip = (
            f"{cell.url}\n{column_span(data, col)}\n{cell.status or 'unknown'}: "
            f"{cell.outcome or '–'} (measured {when(cell.started_at)}"
            + (f"; latest of {cell.results} results" if cell.results > 1 else "")
            + ")"
            + (f"\nQUIC: {cell.quic_status}" if cell.quic_status is not None else "")
        )
        x, y = label_w + cell.column * cell_w, top + row[cell.url] * CELL_H
        quic_blocked = cell.quic_status == "blocked"
        cells.append(GridCell(x, y, cell.column, status_class(cell.status), tip, quic_blocked))
    return GridChart(
        vantage=grid.vantage,
        width=label_w + ncols * cell_w + 60,
        height=top + len(grid.targets) * CELL_H + 8,
        label_w=label_w,
        plot_w=ncols * cell_w,
        cell_w=cell_w,
        cell_h=CELL_H,
        rows=[GridRow(top + i * CELL_H, url, labels[url], i % 2 == 0) for url, i in row.items()],
        labels=[
            TimeLabel(label_w + col.index * cell_w + cell_w / 2, top - 6, column_label(data, col))
            for col in data.columns
            if col.index % every == 0
        ],
        cells=cells,
    )


# --- blocking methods ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    y: float  # of the text's baseline
    value: int


@dataclass(frozen=True)
class Bar:
    """One outcome's part of a column's stacked bar."""

    x: int
    y: float
    width: int
    height: float
    column: int
    outcome: str
    count: int
    fill: str
    tip: str


@dataclass(frozen=True)
class BarColumn:
    label: TimeLabel | None  # only every n-th column has room for one
    bars: list[Bar]  # bottom up


@dataclass(frozen=True)
class LegendItem:
    outcome: str
    colour: str
    count: int  # blocked results with this outcome, in the whole chart


@dataclass(frozen=True)
class BarsChart:
    """Blocked results by outcome per column, for a vantage or (None) all of them."""

    heading: str
    vantage: str | None
    width: int
    height: int
    left: int
    top: int
    base_y: int
    ticks: list[Tick]
    columns: list[BarColumn]
    legend: list[LegendItem]  # largest first; empty when nothing was blocked


def bars_charts(data: ReportData) -> list[BarsChart]:
    """One chart per vantage, and one for all of them first when there are several."""
    colours = _outcome_colours(m.outcome for m in data.methods)
    charts: list[tuple[str, str | None]] = []
    if len(data.grids) > 1:
        charts.append(("All vantages", None))
    charts += [(f"Vantage {g.vantage}", g.vantage) for g in data.grids]
    return [_bars_chart(data, heading, vantage, colours) for heading, vantage in charts]


def _bars_chart(
    data: ReportData, heading: str, vantage: str | None, colours: dict[str, str]
) -> BarsChart:
    counts = data.methods_of(vantage)
    totals: dict[str, int] = defaultdict(int)
    for per in counts.values():
        for outcome, n in per.items():
            totals[outcome] += n
    order = sorted(totals, key=lambda o: (-totals[o], o))
    ncols = max(1, len(data.columns))
    left, top, bottom, plot_h = 48, 10, _label_room(data) + 4, 180
    bar_w = max(3, min(36, 900 // ncols))
    base_y = top + plot_h
    peak = max((sum(per.values()) for per in counts.values()), default=0)
    scale = plot_h / peak if peak else 0.0
    every = _label_every(bar_w)
    columns = []
    for col in data.columns:
        x = left + col.index * bar_w
        label = None
        if col.index % every == 0:
            label = TimeLabel(x + bar_w / 2, base_y + 12, column_label(data, col))
        bars = []
        y = float(base_y)
        for outcome in order:
            n = counts.get(col.index, {}).get(outcome, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            tip = f"{column_span(data, col)}\n{outcome}: {n} blocked result" + (
                "s" if n != 1 else ""
            )
            bars.append(
                Bar(x + 1, y, max(1, bar_w - 2), h, col.index, outcome, n, colours[outcome], tip)
            )
        columns.append(BarColumn(label, bars))
    return BarsChart(
        heading=heading,
        vantage=vantage,
        width=left + ncols * bar_w + 20,
        height=top + plot_h + bottom,
        left=left,
        top=top,
        base_y=base_y,
        ticks=[Tick(base_y - tick * scale + 4, tick) for tick in sorted({0, peak // 2, peak})],
        columns=columns,
        legend=[LegendItem(o, colours[o], totals[o]) for o in order],
    )
