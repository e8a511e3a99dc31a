"""The charts' layout and colours: where each cell, bar and label of the SVG charts goes.

Geometry and tooltip text only; ``templates/charts.svg.j2`` turns a layout into markup.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from censorcheck.results.report.data import ReportData, VantageGrid
from censorcheck.results.report.marks import (
    evidence_anchor,
    status_class,
    status_mark,
    status_name,
)
from censorcheck.results.report.wording import column_label, column_span, when

# Blocking methods by layer, bottom up in each stacked bar and in this order in the legend.
LAYERS = ("dns", "tcp", "tls", "http", "quic")
# One hue per layer (Okabe–Ito's blue, reddish purple, orange, vermillion, bluish green). The
# most frequent method of a layer gets the hue itself, the next ones a light, then a dark shade:
# dark shades of neighbouring hues look alike, light and dark ones of the same hue do not. A
# layer with more methods than shades repeats them; the legend and tooltips name each.
_SHADES: dict[str, tuple[str, ...]] = {
    "dns": ("#0072b2", "#80c1ec", "#003d63", "#3d9ad6", "#bfe0f5"),
    "tcp": ("#cc79a7", "#f0c9de", "#6e2a55", "#a8508a", "#f9e6f0"),
    "tls": ("#e69f00", "#f8d57f", "#7a5400", "#c48700", "#fcedc6"),
    "http": ("#d55e00", "#f4ad7f", "#6b2f00", "#ad4c00", "#fadac4"),
    "quic": ("#009e73", "#7fd3bb", "#004d38", "#007d5a", "#c4ece0"),
    "other": ("#666666", "#bbbbbb", "#222222", "#999999"),
}
CELL_H = 14
# Narrower cells would leave no room for a status's mark; a wide grid scrolls instead.
MIN_CELL_W = 11


def layer_of(outcome: str) -> str:
    """The layer a blocking method belongs to, from its name (``dns.nxdomain``: ``dns``)."""
    layer = outcome.split(".", 1)[0]
    return layer if layer in LAYERS else "other"


def _method_order(outcome: str, totals: Mapping[str, int]) -> tuple[int, int, str]:
    layer = layer_of(outcome)
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), -totals[outcome], outcome)


def _outcome_colours(methods: Iterable[tuple[str, int]]) -> dict[str, str]:
    """A colour per method: its layer's hue itself to the most frequent, then its shades."""
    totals: dict[str, int] = defaultdict(int)
    for outcome, n in methods:
        totals[outcome] += n
    colours: dict[str, str] = {}
    used: dict[str, int] = defaultdict(int)
    for outcome in sorted(totals, key=lambda o: _method_order(o, totals)):
        shades = _SHADES[layer_of(outcome)]
        colours[outcome] = shades[used[layer_of(outcome)] % len(shades)]
        used[layer_of(outcome)] += 1
    return colours


def nice_ticks(peak: int, most: int = 5) -> list[int]:
    """Whole-number axis ticks from 0 past ``peak``, a step of 1, 2 or 5 times a power of ten,
    at most ``most`` steps: 21 gives 0, 5, ..., 25."""
    step = 1
    while math.ceil(peak / step) > most:
        step = _next_step(step)
    top = max(step, math.ceil(peak / step) * step)
    return list(range(0, top + 1, step))


def _next_step(step: int) -> int:
    # 1, 2, 5, 10, 20, 50, ...
    return step * 5 // 2 if str(step)[0] == "2" else step * 2


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
class GridCell:
    x: int
    y: int
    column: int
    status: str  # as ``marks.status_name`` gives it
    status_class: str
    mark: str
    mark_x: float  # the mark's centre
    tip: str
    quic_blocked: bool = False  # drawn with a mark: the site may load over TCP all the same


@dataclass(frozen=True)
class GridRow:
    """A target's row; the whole row links to that target's evidence from this vantage."""

    y: int
    url: str
    label: str  # the URL, shortened
    striped: bool
    anchor: str
    cells: list[GridCell]


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


def grid_chart(data: ReportData, grid: VantageGrid) -> GridChart:
    """Lay out ``grid`` on the report's time axis."""
    ncols = max(1, len(data.columns))
    labels = {url: _short(url) for url in grid.targets}
    label_w = min(380, 7 * max((len(s) for s in labels.values()), default=4) + 14)
    cell_w = max(MIN_CELL_W, min(28, (1000 - label_w) // ncols))
    top = _label_room(data)
    row = {url: i for i, url in enumerate(grid.targets)}
    every = _label_every(cell_w)
    cells: dict[str, list[GridCell]] = defaultdict(list)
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
        status = status_name(cell.status)
        cells[cell.url].append(
            GridCell(
                x,
                y,
                cell.column,
                status,
                status_class(status),
                status_mark(status),
                x + (cell_w - 1) / 2,
                tip,
                cell.quic_status == "blocked",
            )
        )
    return GridChart(
        vantage=grid.vantage,
        width=label_w + ncols * cell_w + 60,
        height=top + len(grid.targets) * CELL_H + 8,
        label_w=label_w,
        plot_w=ncols * cell_w,
        cell_w=cell_w,
        cell_h=CELL_H,
        rows=[
            GridRow(
                top + i * CELL_H,
                url,
                labels[url],
                i % 2 == 0,
                evidence_anchor(grid.vantage, url),
                sorted(cells[url], key=lambda c: c.column),
            )
            for url, i in row.items()
        ],
        labels=[
            TimeLabel(label_w + col.index * cell_w + cell_w / 2, top - 6, column_label(data, col))
            for col in data.columns
            if col.index % every == 0
        ],
    )


# --- blocking methods ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    y: float  # of the tick's line; its text sits a little lower, centred on it
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
class LegendLayer:
    """A layer's methods in the legend, in the order they are stacked."""

    layer: str
    items: list[LegendItem]


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
    legend: list[LegendLayer]  # by layer, as stacked; empty when nothing was blocked


def bars_charts(data: ReportData) -> list[BarsChart]:
    """One chart per vantage, and one for all of them first when there are several."""
    # One colour per method in every chart; the all-vantages rows count each result a second
    # time, which leaves the ranking of methods as it is.
    colours = _outcome_colours((m.outcome, m.count) for m in data.methods)
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
    order = sorted(totals, key=lambda o: _method_order(o, totals))
    ncols = max(1, len(data.columns))
    left, top, bottom, plot_h = 64, 10, _label_room(data) + 4, 180
    bar_w = max(3, min(36, 900 // ncols))
    base_y = top + plot_h
    peak = max((sum(per.values()) for per in counts.values()), default=0)
    ticks = nice_ticks(peak)
    scale = plot_h / ticks[-1]
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
        ticks=[Tick(base_y - tick * scale, tick) for tick in ticks],
        columns=columns,
        legend=[
            LegendLayer(
                layer, [LegendItem(o, colours[o], totals[o]) for o in order if layer_of(o) == layer]
            )
            for layer in (*LAYERS, "other")
            if any(layer_of(o) == layer for o in order)
        ],
    )
