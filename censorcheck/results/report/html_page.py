"""The report as one self-contained HTML page, its charts drawn in SVG."""

from __future__ import annotations

import html as html_lib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from censorcheck import __version__
from censorcheck.results.report.data import ReportData, TargetDetail, VantageGrid
from censorcheck.results.report.wording import column_label, column_span, duration, percent, when

STATUSES = ("accessible", "blocked", "down", "inconclusive")
# Fill colours per status; the grid's CSS and the legends use these, tests read them back.
STATUS_COLOURS: dict[str, str] = {
    "accessible": "#2e9d4f",
    "blocked": "#d62728",
    "down": "#f0a202",
    "inconclusive": "#8da0cb",
    "unknown": "#bbbbbb",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# Outcome colours by layer, so that a reader sees the layer before reading the legend.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "dns": ("#2171b5", "#6baed6", "#08519c", "#9ecae1", "#4292c6", "#c6dbef"),
    "tcp": ("#6a51a3", "#9e9ac8", "#54278f", "#bcbddc"),
    "tls": ("#e6550d", "#fdae6b", "#a63603", "#fd8d3c"),
    "http": ("#a50f15", "#fb6a4a", "#67000d", "#fcbba1"),
    "other": ("#636363", "#969696", "#252525", "#cccccc"),
}


def _label_every(width: float) -> int:
    """Label every n-th column: slanted labels need about 16 px between them."""
    return max(1, math.ceil(16 / max(width, 1)))


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


def _status_class(status: str | None) -> str:
    return f"status-{status if status in STATUSES else 'unknown'}"


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d1d1d; background: #fff; margin: 0 auto; padding: 1.5em; max-width: 1200px; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; margin: 1.8em 0 .5em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  overflow-wrap: anywhere; }
.muted { color: #666; }
.chip { display: inline-block; padding: 0 .45em; border-radius: .3em; color: #fff;
  font-weight: 600; }
.swatch { display: inline-block; width: .9em; height: .9em; vertical-align: -.1em;
  margin-right: .3em; border-radius: 2px; }
.legend { list-style: none; padding: 0; margin: .3em 0 1em; display: flex; flex-wrap: wrap;
  gap: .3em 1.2em; }
.chart-wrap { overflow-x: auto; }
svg text { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #333; }
svg .axis { stroke: #999; stroke-width: 1; }
svg .row { fill: #f7f7f7; }
ul.evidence { margin: 0; padding-left: 1.1em; }
ul.evidence li { margin: .15em 0; }
td.reason { max-width: 32em; }
td.nowrap { white-space: nowrap; }
"""


def _css() -> str:
    colours = "\n".join(
        f".status-{name} {{ fill: {colour}; }}\n.chip.status-{name}, .swatch.status-{name} "
        f"{{ background: {colour}; }}"
        for name, colour in STATUS_COLOURS.items()
    )
    # A blocked cell must read as one even in grey print: give it a dark outline too.
    return _CSS + colours + "\nrect.cell.status-blocked { stroke: #7f0000; stroke-width: .6; }\n"


def _e(text: object) -> str:
    return html_lib.escape(str(text), quote=True)


def html(data: ReportData) -> str:
    """The report as one self-contained HTML page (see the module's docstring)."""
    title = "Censorship report" + (f": {data.target}" if data.target else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # A constant, written as is: no quote in it needs escaping inside double quotes.
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_css()}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
    ]
    parts += _html_totals(data)
    if data.totals.results:
        parts += _html_grids(data)
        parts += _html_methods(data)
        parts += _html_targets(data)
    parts += [
        '<h2 id="methodology">Methodology</h2>',
        "<p>Each verdict comes from censorcheck's rules over the observations its run recorded "
        "(DNS, TCP, TLS and HTTP, compared with a control); <em>blocked</em> is claimed only "
        "with evidence that the site works elsewhere. The rules are described in censorcheck's "
        "README, section “Methodology: how a verdict is reached”. A grid cell shows the latest "
        "result in its column; “since” is the start of the earliest run of the latest unbroken "
        "series of the same status and outcome.</p>",
        f'<p class="muted">Made by censorcheck {_e(__version__)}. This page loads nothing '
        "from anywhere.</p>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _html_totals(data: ReportData) -> list[str]:
    t = data.totals
    if not t.results:
        return ['<p class="muted">No results.</p>']
    axis = (
        "one column per run start"
        if data.per_run
        else f"columns of {duration(data.bucket_seconds or 0)}"
    )
    out = [
        f"<p>From {_e(when(data.start))} to {_e(when(data.end))} ({_e(axis)}).</p>",
        '<table class="totals"><tr><th>runs</th><th>vantages</th><th>targets</th><th>results</th>',
    ]
    statuses = sorted(t.by_status, key=_status_order)
    out.append(
        "".join(f'<th><span class="chip {_status_class(s)}">{_e(s)}</span></th>' for s in statuses)
    )
    out.append("</tr><tr>")
    values = [t.runs, t.vantages, t.targets, t.results, *(t.by_status[s] for s in statuses)]
    out.append("".join(f'<td class="num">{v:,}</td>' for v in values))
    out.append("</tr></table>")
    if data.skipped:
        out.append('<p class="muted">Evidence missing for some verdicts: ')
        out.append("; ".join(_e(s) for s in data.skipped) + "</p>")
    return out


def _status_order(status: str) -> tuple[int, str]:
    return (STATUSES.index(status) if status in STATUSES else len(STATUSES), status)


def _html_shown(data: ReportData) -> list[str]:
    if len(data.targets) >= data.totals.targets:
        return []
    return [
        f"<p><strong>{len(data.targets):,} of {data.totals.targets:,} targets shown</strong>: "
        "those blocked now from the most vantages, then those blocked most often.</p>"
    ]


def _status_legend() -> str:
    items = "".join(
        f'<li><span class="swatch {_status_class(s)}"></span>{_e(s)}</li>' for s in STATUSES
    )
    return f'<ul class="legend">{items}<li class="muted">blank: not measured</li></ul>'


_CELL_H = 14


def _label_room(data: ReportData) -> int:
    """Height taken by the time labels slanted at 60°, at about 6.6 px per character."""
    longest = max((len(column_label(data, c)) for c in data.columns), default=8)
    return int(14 + 6.6 * longest * 0.87)


def _html_grids(data: ReportData) -> list[str]:
    out = ['<h2 id="grid">Status over time</h2>', *_html_shown(data), _status_legend()]
    for grid in data.grids:
        about = [f"{grid.runs} run" + ("s" if grid.runs != 1 else "")]
        if grid.country:
            about.append(grid.country)
        if grid.asn is not None:
            about.append(f"AS{grid.asn}")
        shown = ", ".join(about)
        out.append(f'<h3>Vantage {_e(grid.vantage)} <span class="muted">({_e(shown)})</span></h3>')
        out.append(f'<div class="chart-wrap">{_grid_svg(data, grid)}</div>')
    return out


def _grid_svg(data: ReportData, grid: VantageGrid) -> str:
    ncols = max(1, len(data.columns))
    labels = {url: _short(url) for url in grid.targets}
    label_w = min(380, 7 * max((len(s) for s in labels.values()), default=4) + 14)
    cell_w = max(4, min(28, (1000 - label_w) // ncols))
    width = label_w + ncols * cell_w + 60
    top = _label_room(data)
    height = top + len(grid.targets) * _CELL_H + 8
    row = {url: i for i, url in enumerate(grid.targets)}
    out = [
        f'<svg class="grid" data-vantage="{_e(grid.vantage)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(f"Status of each target over time from {grid.vantage}")}">'
    ]
    for url, i in row.items():
        y = top + i * _CELL_H
        if i % 2 == 0:
            out.append(
                f'<rect class="row" x="{label_w}" y="{y}" width="{ncols * cell_w}" '
                f'height="{_CELL_H}"/>'
            )
        out.append(
            f'<text x="{label_w - 6}" y="{y + _CELL_H - 3}" text-anchor="end">'
            f"<title>{_e(url)}</title>{_e(labels[url])}</text>"
        )
    every = _label_every(cell_w)
    for col in data.columns:
        if col.index % every:
            continue
        x = label_w + col.index * cell_w + cell_w / 2
        out.append(
            f'<text x="{x:g}" y="{top - 6}" transform="rotate(-60 {x:g} {top - 6})">'
            f"{_e(column_label(data, col))}</text>"
        )
    for cell in grid.cells:
        col = data.columns[cell.column]
        tip = (
            f"{cell.url}\n{column_span(data, col)}\n{cell.status or 'unknown'}: "
            f"{cell.outcome or '–'} (measured {when(cell.started_at)}"
            + (f"; latest of {cell.results} results" if cell.results > 1 else "")
            + ")"
        )
        out.append(
            f'<rect class="cell {_status_class(cell.status)}" '
            f'data-column="{cell.column}" '
            f'x="{label_w + cell.column * cell_w}" y="{top + row[cell.url] * _CELL_H}" '
            f'width="{cell_w - 1}" height="{_CELL_H - 1}"><title>{_e(tip)}</title></rect>'
        )
    out.append("</svg>")
    return "".join(out)


def _html_methods(data: ReportData) -> list[str]:
    out = ['<h2 id="methods">Blocking methods over time</h2>']
    if not any(m.count for m in data.methods):
        out.append('<p class="muted">Nothing was blocked in this period.</p>')
        return out
    colours = _outcome_colours(m.outcome for m in data.methods)
    charts: list[tuple[str, str | None]] = []
    if len(data.grids) > 1:
        charts.append(("All vantages", None))
    charts += [(f"Vantage {g.vantage}", g.vantage) for g in data.grids]
    for heading, vantage in charts:
        counts = data.methods_of(vantage)
        out.append(f"<h3>{_e(heading)}</h3>")
        if not counts:
            out.append('<p class="muted">Nothing blocked.</p>')
            continue
        totals: dict[str, int] = defaultdict(int)
        for per in counts.values():
            for outcome, n in per.items():
                totals[outcome] += n
        order = sorted(totals, key=lambda o: (-totals[o], o))
        chart = _bars_svg(data, vantage, counts, order, colours)
        out.append(f'<div class="chart-wrap">{chart}</div>')
        legend = "".join(
            f'<li><span class="swatch" style="background:{colours[o]}"></span>'
            f"<code>{_e(o)}</code> {totals[o]:,}</li>"
            for o in order
        )
        out.append(f'<ul class="legend">{legend}</ul>')
    return out


def _bars_svg(
    data: ReportData,
    vantage: str | None,
    counts: dict[int, dict[str, int]],
    order: Sequence[str],
    colours: dict[str, str],
) -> str:
    ncols = max(1, len(data.columns))
    left, top, bottom, plot_h = 48, 10, _label_room(data) + 4, 180
    bar_w = max(3, min(36, 900 // ncols))
    width = left + ncols * bar_w + 20
    height = top + plot_h + bottom
    peak = max(sum(per.values()) for per in counts.values())
    scale = plot_h / peak
    base_y = top + plot_h
    out = [
        f'<svg class="methods" data-vantage="{_e(vantage or "")}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e("Blocked results by method over time")}">',
        f'<line class="axis" x1="{left}" y1="{base_y}" x2="{width - 10}" y2="{base_y}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base_y}"/>',
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = base_y - tick * scale
        out.append(f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    every = _label_every(bar_w)
    for col in data.columns:
        x = left + col.index * bar_w
        if col.index % every == 0:
            cx = x + bar_w / 2
            out.append(
                f'<text x="{cx:g}" y="{base_y + 12}" text-anchor="end" '
                f'transform="rotate(-60 {cx:g} {base_y + 12})">'
                f"{_e(column_label(data, col))}</text>"
            )
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
            out.append(
                f'<rect class="bar" data-outcome="{_e(outcome)}" data-column="{col.index}" '
                f'data-count="{n}" x="{x + 1}" y="{y:.2f}" width="{max(1, bar_w - 2)}" '
                f'height="{h:.2f}" fill="{colours[outcome]}"><title>{_e(tip)}</title></rect>'
            )
    out.append("</svg>")
    return "".join(out)


def _rank(detail: TargetDetail) -> tuple[int, str]:
    return (-sum(v.status == "blocked" for v in detail.verdicts), detail.url)


def _html_targets(data: ReportData) -> list[str]:
    out = [
        '<h2 id="targets">Targets</h2>',
        '<p class="muted">The latest verdict from each vantage. Blocked targets first.</p>',
        *_html_shown(data),
    ]
    for i, detail in enumerate(sorted(data.targets, key=_rank)):
        about = " · ".join(x for x in (detail.domain, detail.category) if x)
        out.append(
            f'<section class="target" id="target-{i}"><h3><code>{_e(detail.url)}</code> '
            f'<span class="muted">{_e(about)}</span></h3>'
        )
        out.append(
            "<table><tr><th>vantage</th><th>status</th><th>outcome</th><th>confidence</th>"
            "<th>since</th><th>reason</th><th>evidence</th></tr>"
        )
        for v in detail.verdicts:
            since = when(v.since)
            if v.previous_status:
                since += f" (before: {v.previous_status}, {v.previous_outcome or '–'})"
            else:
                since += " (every result)"
            evidence = "".join(
                f"<li><code>{_e(item.ref)}</code> {_e(item.fact)}</li>" for item in v.evidence
            )
            out.append(
                f"<tr><td>{_e(v.vantage)}</td>"
                f'<td><span class="chip {_status_class(v.status)}">{_e(v.status or "unknown")}'
                f'</span></td><td class="nowrap"><code>{_e(v.outcome or "–")}</code></td>'
                f'<td class="num">{percent(v.confidence)}</td>'
                f'<td>{_e(since)}<br><span class="muted">{v.streak} of {v.measured} results; '
                f"latest {_e(when(v.run_started_at))}</span></td>"
                f'<td class="reason">{_e(v.reason or "")}</td>'
                f'<td><ul class="evidence">{evidence}</ul></td></tr>'
            )
        out.append("</table></section>")
    return out
