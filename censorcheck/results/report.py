"""Reports over many runs: one self-contained HTML page, and a Markdown summary for an article.

``collect`` asks the warehouse's ``results`` table for everything a report shows, with SQL
aggregates only (a folder of 10,000 runs of 100 targets is a million rows: no row of them comes
to Python). Only the run documents of the latest verdicts are read in full, for their evidence.
``html`` and ``markdown`` draw a ``ReportData`` and do no I/O.

The time axis is shared by every chart. With few distinct run starts, each start is a column of
its own; with more, the span is cut into equal buckets of a round length (a minute, an hour, a
day, ...), at most ``buckets`` of them. A column shows the *latest* result in it.

The HTML page, top to bottom:

1. Title, time range, and the totals (runs, vantages, targets, results, results by status).
2. "Status over time": per vantage, an SVG grid, one row per target and one column per time
   column; each cell (``rect.cell.status-<status>``) is the status of the latest result of that
   target in that column, with a ``<title>`` tooltip. Cells without a result are not drawn.
3. "Blocking methods over time": per vantage (and for all vantages together when there are
   several) a stacked bar chart: per column, the blocked results by outcome, with a legend.
4. "Targets": per target, a table of its latest verdict from each vantage (status, outcome,
   confidence, since when it has been so, reason) and that verdict's evidence.
5. A methodology line.

The page must be safe to open inside a censored network: it loads nothing (no script, font,
image or style sheet from anywhere, not even a link that prefetches), and a Content-Security-
Policy forbids anything that would. Text from run documents (target URLs, reasons, evidence)
came from the network and may be hostile: all of it is escaped.
"""

from __future__ import annotations

import html as html_lib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from censorcheck import __version__
from censorcheck.errors import ConfigError
from censorcheck.results.store import read_run
from censorcheck.results.warehouse import Warehouse

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

# Round column lengths, in seconds, tried shortest first.
_STEPS = (
    1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400,
)  # fmt: skip
# Outcome colours by layer, so that a reader sees the layer before reading the legend.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "dns": ("#2171b5", "#6baed6", "#08519c", "#9ecae1", "#4292c6", "#c6dbef"),
    "tcp": ("#6a51a3", "#9e9ac8", "#54278f", "#bcbddc"),
    "tls": ("#e6550d", "#fdae6b", "#a63603", "#fd8d3c"),
    "http": ("#a50f15", "#fb6a4a", "#67000d", "#fcbba1"),
    "other": ("#636363", "#969696", "#252525", "#cccccc"),
}


# --- the data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of the time axis."""

    index: int
    start: datetime  # UTC, naive
    end: datetime  # exclusive; equal to ``start`` when the column is one run start
    runs: int  # distinct runs started in it, all vantages together


@dataclass(frozen=True)
class Cell:
    """The latest result of one target from one vantage in one column."""

    url: str
    column: int
    status: str | None
    outcome: str | None
    started_at: datetime
    results: int  # results of this target and vantage in the column


@dataclass(frozen=True)
class VantageGrid:
    """A vantage's target-by-time grid."""

    vantage: str
    country: str | None
    asn: int | None
    runs: int
    targets: list[str]  # URLs, sorted: the grid's rows
    cells: list[Cell]
    runs_by_column: dict[int, int]

    _index: dict[tuple[str, int], Cell] = field(default_factory=dict, repr=False, compare=False)

    def cell(self, url: str, column: int) -> Cell | None:
        """The cell of ``url`` in ``column``; None where nothing was measured."""
        if not self._index:
            self._index.update(((c.url, c.column), c) for c in self.cells)
        return self._index.get((url, column))


@dataclass(frozen=True)
class MethodCount:
    """Blocked results with one outcome in one column, from one vantage or (None) from all."""

    column: int
    vantage: str | None
    outcome: str
    count: int


@dataclass(frozen=True)
class EvidenceItem:
    ref: str
    fact: str


@dataclass(frozen=True)
class LatestVerdict:
    """The latest verdict for one (target, vantage), and since when it has been so."""

    url: str
    vantage: str
    status: str | None
    blocking: str | None
    outcome: str | None
    confidence: float | None
    reason: str | None
    run_id: str
    run_started_at: datetime
    file: str
    since: datetime  # start of the earliest run of the latest streak of this status and outcome
    since_run_id: str
    streak: int  # results in that streak
    measured: int  # results of this (target, vantage) in all
    previous_status: str | None  # the verdict before the streak, if any
    previous_outcome: str | None
    evidence: tuple[EvidenceItem, ...] = ()


@dataclass(frozen=True)
class TargetDetail:
    url: str
    domain: str | None
    category: str | None
    verdicts: list[LatestVerdict]  # one per vantage, by vantage name


@dataclass(frozen=True)
class Totals:
    runs: int = 0
    vantages: int = 0
    targets: int = 0
    results: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportData:
    """Everything the renderers draw."""

    totals: Totals
    start: datetime | None  # first and last run start
    end: datetime | None
    per_run: bool  # each column is one run start (else an equal time bucket)
    bucket_seconds: int | None  # the columns' length when not per run
    columns: list[Column]
    grids: list[VantageGrid]
    methods: list[MethodCount]
    targets: list[TargetDetail]
    target: str | None = None  # the report is about this one target (URL or domain)
    skipped: list[str] = field(default_factory=list)  # run documents whose evidence was unread

    def latest(self) -> list[LatestVerdict]:
        return [v for t in self.targets for v in t.verdicts]

    def methods_of(self, vantage: str | None) -> dict[int, dict[str, int]]:
        """column → outcome → blocked results, for a vantage or (None) all of them."""
        found: dict[int, dict[str, int]] = defaultdict(dict)
        for m in self.methods:
            if m.vantage == vantage:
                found[m.column][m.outcome] = m.count
        return dict(found)


# --- collecting ---------------------------------------------------------------------------

# The rows a report is about: ``a`` all of them (of one target, for a report on one), ``r``
# those of the targets shown in the grid and the details, ``b`` and ``rb`` the same with their
# time column ``col``. Not materialized: a CTE used more than once would otherwise be copied
# whole, every column of every row, before any aggregate runs.
_ROWS = """
    a AS NOT MATERIALIZED (
        SELECT run_id, file, run_started_at, vantage, country, asn, url, domain, category,
            started_at, status, blocking, outcome, confidence, reason,
            coalesce(outcome, blocking, 'unknown') AS method
        FROM results WHERE run_started_at IS NOT NULL {where}
    )"""
Query = Callable[[str], list[tuple[Any, ...]]]  # SQL after the CTEs → its rows
# Latest first: the run that started last, then the result that started last (as ``diff``).
_ORDER = "row(run_started_at, started_at, run_id)"
# Which targets a report shows when there are too many: those blocked now from the most
# vantages, then those blocked most often.
_SHOWN = f"""
    shown AS (
        SELECT url FROM (
            SELECT url, vantage, arg_max(status, {_ORDER}) = 'blocked' AS now,
                count(*) FILTER (WHERE status = 'blocked') AS ever
            FROM a GROUP BY url, vantage
        )
        GROUP BY url ORDER BY count(*) FILTER (WHERE now) DESC, sum(ever) DESC, url
        LIMIT {{limit}}
    ),
    r AS NOT MATERIALIZED (SELECT * FROM a WHERE url IN (SELECT url FROM shown)),
    rb AS NOT MATERIALIZED (SELECT * FROM b WHERE url IN (SELECT url FROM shown))"""
_ALL = """
    r AS NOT MATERIALIZED (SELECT * FROM a),
    rb AS NOT MATERIALIZED (SELECT * FROM b)"""


def collect(
    wh: Warehouse, *, buckets: int = 60, target: str | None = None, max_targets: int = 500
) -> ReportData:
    """What a report over the warehouse's results shows; ``target`` (a URL or a domain) narrows
    it to one target. At most ``buckets`` columns on the time axis. The grid and the details
    show at most ``max_targets`` targets (totals and methods count them all)."""
    if buckets < 1 or max_targets < 1:
        raise ConfigError("a report needs at least one column and one target")
    where, params = "", []
    if target is not None:
        where, params = "AND (url = ? OR domain = ?)", [target, target]
    rows = "WITH " + _ROWS.format(where=where)

    def of_all(sql: str) -> list[tuple[Any, ...]]:
        return wh.rows(rows + sql, params)

    ((start, end, starts, runs, vantages, targets, results),) = of_all(
        " SELECT min(run_started_at), max(run_started_at), count(DISTINCT run_started_at), "
        "count(DISTINCT run_id), count(DISTINCT vantage), count(DISTINCT url), count(*) FROM a"
    )
    by_status = {
        status or "unknown": n
        for status, n in of_all(" SELECT status, count(*) FROM a GROUP BY status ORDER BY status")
    }
    totals = Totals(runs, vantages, targets, results, by_status)
    if not results:
        return ReportData(totals, None, None, True, None, [], [], [], [], target)

    per_run = starts <= buckets
    step: int | None = None
    if per_run:
        # Each distinct run start is a column; run starts are few here.
        columned = """,
            starts AS (
                SELECT run_started_at, (row_number() OVER (ORDER BY run_started_at) - 1)::INTEGER
                    AS col FROM (SELECT DISTINCT run_started_at FROM a)
            ),
            b AS NOT MATERIALIZED (
                SELECT a.*, starts.col FROM a JOIN starts USING (run_started_at)
            )"""
        columns = [
            Column(i, at, at, n)
            for i, (at, n) in enumerate(
                of_all(
                    " SELECT run_started_at, count(DISTINCT run_id) FROM a "
                    "GROUP BY run_started_at ORDER BY run_started_at"
                )
            )
        ]
    else:
        step, origin, count = _time_axis(start, end, buckets)
        columned = f""",
            b AS NOT MATERIALIZED (
                SELECT *, least(floor((epoch(run_started_at) - {origin}) / {step}),
                    {count - 1})::INTEGER AS col
                FROM a
            )"""
        counted = dict(of_all(columned + " SELECT col, count(DISTINCT run_id) FROM b GROUP BY col"))
        base = datetime(1970, 1, 1)
        columns = [
            Column(
                i,
                base + timedelta(seconds=origin + i * step),
                base + timedelta(seconds=origin + (i + 1) * step),
                counted.get(i, 0),
            )
            for i in range(count)
        ]
    narrowed = (
        rows
        + columned
        + ","
        + (_SHOWN.format(limit=max_targets) if targets > max_targets else _ALL)
    )

    def query(sql: str) -> list[tuple[Any, ...]]:
        return wh.rows(narrowed + sql, params)

    grids = _grids(query)
    methods = [
        MethodCount(col, None if overall else vantage, method, n)
        for col, vantage, method, overall, n in query(
            """
            SELECT col, vantage, method, grouping(vantage) AS overall, count(*) FROM b
            WHERE status = 'blocked'
            GROUP BY GROUPING SETS ((col, vantage, method), (col, method))
            ORDER BY col, overall, vantage, method"""
        )
    ]
    details, skipped = _details(query)
    return ReportData(
        totals=totals,
        start=start,
        end=end,
        per_run=per_run,
        bucket_seconds=step,
        columns=columns,
        grids=grids,
        methods=methods,
        targets=details,
        target=target,
        skipped=skipped,
    )


def _time_axis(start: datetime, end: datetime, buckets: int) -> tuple[int, int, int]:
    """(length in seconds, start in epoch seconds, number) of at most ``buckets`` equal columns
    from ``start`` to ``end``, of a round length aligned on multiples of it where one fits."""
    base = datetime(1970, 1, 1)
    first = math.floor((start - base).total_seconds())
    last = math.floor((end - base).total_seconds())
    for step in _STEPS:
        origin = first - first % step
        count = (last - origin) // step + 1
        if count <= buckets:
            return step, origin, count
    step = math.ceil((last - first + 1) / buckets)
    return step, first, (last - first) // step + 1


def _grids(query: Query) -> list[VantageGrid]:
    about = {
        vantage: (country, asn, runs)
        for vantage, country, asn, runs in query(
            " SELECT vantage, arg_max(country, run_started_at), "
            "arg_max(asn, run_started_at), count(DISTINCT run_id) FROM a GROUP BY vantage"
        )
    }
    by_column: dict[str, dict[int, int]] = defaultdict(dict)
    for vantage, col, n in query(
        " SELECT vantage, col, count(DISTINCT run_id) FROM b GROUP BY ALL"
    ):
        by_column[vantage][col] = n
    cells: dict[str, list[Cell]] = defaultdict(list)
    for vantage, url, col, last, n in query(
        f"""
        SELECT vantage, url, col,
            arg_max(struct_pack(status, outcome, started_at), {_ORDER}) AS last, count(*)
        FROM rb GROUP BY vantage, url, col ORDER BY vantage, url, col"""
    ):
        cells[vantage].append(
            Cell(url, col, last["status"], last["outcome"], last["started_at"], n)
        )
    grids = []
    for vantage in sorted(about, key=lambda v: (v is None, v or "")):
        country, asn, runs = about[vantage]
        found = cells.get(vantage, [])
        grids.append(
            VantageGrid(
                vantage=vantage or "",
                country=country,
                asn=asn,
                runs=runs,
                targets=sorted({c.url for c in found}),
                cells=found,
                runs_by_column=dict(by_column.get(vantage, {})),
            )
        )
    return grids


def _details(query: Query) -> tuple[list[TargetDetail], list[str]]:
    """The latest verdict of every (target, vantage), the streak it ends, and its evidence."""
    found = query(
        f""",
        latest AS (
            SELECT url, vantage,
                arg_max(struct_pack(status, blocking, outcome, confidence, reason, run_id,
                    run_started_at, started_at, file, domain, category), {_ORDER}) AS l,
                count(*) AS measured
            FROM r GROUP BY url, vantage
        ),
        broken AS (
            -- The last result that differs from the latest: the streak began after it.
            SELECT r.url, r.vantage,
                arg_max(struct_pack(status, outcome, run_started_at, started_at, run_id),
                    {_ORDER}) AS p
            FROM r JOIN latest USING (url, vantage)
            WHERE r.status IS DISTINCT FROM latest.l.status
                OR r.outcome IS DISTINCT FROM latest.l.outcome
            GROUP BY r.url, r.vantage
        ),
        streak AS (
            SELECT r.url, r.vantage,
                arg_min(struct_pack(run_started_at, run_id), {_ORDER}) AS s, count(*) AS n
            FROM r LEFT JOIN broken USING (url, vantage)
            WHERE broken.p IS NULL OR {_ORDER} > row(
                broken.p.run_started_at, broken.p.started_at, broken.p.run_id)
            GROUP BY r.url, r.vantage
        )
        SELECT latest.url, latest.vantage, latest.l, latest.measured, streak.s, streak.n,
            broken.p
        FROM latest JOIN streak USING (url, vantage) LEFT JOIN broken USING (url, vantage)
        ORDER BY latest.url, latest.vantage"""
    )
    evidence, skipped = _evidence(
        {(url, vantage, last["file"]) for url, vantage, last, *_ in found}
    )
    by_url: dict[str, list[LatestVerdict]] = defaultdict(list)
    about: dict[str, tuple[str | None, str | None]] = {}
    for url, vantage, last, measured, since, streak, before in found:
        about.setdefault(url, (last["domain"], last["category"]))
        by_url[url].append(
            LatestVerdict(
                url=url,
                vantage=vantage or "",
                status=last["status"],
                blocking=last["blocking"],
                outcome=last["outcome"],
                confidence=last["confidence"],
                reason=last["reason"],
                run_id=last["run_id"],
                run_started_at=last["run_started_at"],
                file=last["file"],
                since=since["run_started_at"],
                since_run_id=since["run_id"],
                streak=streak,
                measured=measured,
                previous_status=before["status"] if before else None,
                previous_outcome=before["outcome"] if before else None,
                evidence=evidence.get((url, vantage), ()),
            )
        )
    details = [TargetDetail(url, *about[url], verdicts) for url, verdicts in by_url.items()]
    return details, skipped


def _evidence(
    wanted: Iterable[tuple[str, str | None, str]],
) -> tuple[dict[tuple[str, str | None], tuple[EvidenceItem, ...]], list[str]]:
    """The evidence of the latest verdicts, from their run documents (each read once)."""
    by_file: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for url, vantage, file in wanted:
        by_file[file].add((url, vantage))
    found: dict[tuple[str, str | None], tuple[EvidenceItem, ...]] = {}
    skipped: list[str] = []
    for file in sorted(by_file):
        try:
            run = read_run(Path(file))
        except ConfigError:
            # Moved or rewritten since it was indexed: the report stands without its evidence.
            # Only the file's name: the page is for sharing, and a local path names its owner.
            skipped.append(f"{Path(file).name}: could not be read again")
            continue
        keys = by_file[file]
        for result in run.results:
            key = (result.target.url, result.vantage or run.vantage.name)
            if key in keys and key not in found:
                found[key] = tuple(EvidenceItem(e.ref, e.fact) for e in result.verdict.evidence)
    return found, skipped


# --- shared helpers -----------------------------------------------------------------------


def _when(at: datetime | None, seconds: bool = True) -> str:
    if at is None:
        return "–"
    return at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _column_label(data: ReportData, col: Column) -> str:
    """A column's start, as short as the time axis allows: the page states the date range."""
    one_day = (
        data.start is not None and data.end is not None and data.start.date() == data.end.date()
    )
    step = data.bucket_seconds
    if step is not None and step >= 86400:
        return col.start.strftime("%Y-%m-%d")
    if (step is None and data.per_run) or (step is not None and step < 60):
        return col.start.strftime("%H:%M:%S" if one_day else "%m-%d %H:%M:%S")
    return col.start.strftime("%H:%M" if one_day else "%m-%d %H:%M")


def _label_every(width: float) -> int:
    """Label every n-th column: slanted labels need about 16 px between them."""
    return max(1, math.ceil(16 / max(width, 1)))


def _column_span(data: ReportData, col: Column) -> str:
    if data.per_run:
        return f"run started {_when(col.start)}"
    return f"{_when(col.start)} to {_when(col.end)}"


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
        else f"columns of {_duration(data.bucket_seconds or 0)}"
    )
    out = [
        f"<p>From {_e(_when(data.start))} to {_e(_when(data.end))} ({_e(axis)}).</p>",
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


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} s"


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
    longest = max((len(_column_label(data, c)) for c in data.columns), default=8)
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
            f"{_e(_column_label(data, col))}</text>"
        )
    for cell in grid.cells:
        col = data.columns[cell.column]
        tip = (
            f"{cell.url}\n{_column_span(data, col)}\n{cell.status or 'unknown'}: "
            f"{cell.outcome or '–'} (measured {_when(cell.started_at)}"
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
                f"{_e(_column_label(data, col))}</text>"
            )
        y = float(base_y)
        for outcome in order:
            n = counts.get(col.index, {}).get(outcome, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            tip = f"{_column_span(data, col)}\n{outcome}: {n} blocked result" + (
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
            since = _when(v.since)
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
                f'<td class="num">{_percent(v.confidence)}</td>'
                f'<td>{_e(since)}<br><span class="muted">{v.streak} of {v.measured} results; '
                f"latest {_e(_when(v.run_started_at))}</span></td>"
                f'<td class="reason">{_e(v.reason or "")}</td>'
                f'<td><ul class="evidence">{evidence}</ul></td></tr>'
            )
        out.append("</table></section>")
    return out


# --- Markdown -----------------------------------------------------------------------------


def _md(text: object) -> str:
    """Plain text for a Markdown table cell: nothing in it may format, link or break the row."""
    out = html_lib.escape(" ".join(str(text).split()), quote=False)
    for special in "\\`*_[]|#!~":
        out = out.replace(special, "\\" + special)
    return out


def _md_code(text: str) -> str:
    """A code span: a URL in one never becomes a link (a reader's click on a censored site)."""
    return "`" + " ".join(text.replace("`", "'").split()).replace("|", "\\|") + "`"


def _md_verdict(status: str | None, outcome: str | None) -> str:
    shown = _md(status or "unknown")
    return shown if outcome in (None, status) else f"{shown} ({_md_code(outcome or '')})"


def blocked_now(data: ReportData) -> list[LatestVerdict]:
    """The latest verdicts that are ``blocked``, by target then vantage."""
    return sorted(
        (v for v in data.latest() if v.status == "blocked"), key=lambda v: (v.url, v.vantage)
    )


def markdown(data: ReportData) -> str:
    """A summary to paste into an article: headline numbers, the blocked targets, changes."""
    t = data.totals
    title = "Censorship report" + (f": {data.target}" if data.target else "")
    out = [f"# {_md(title)}", ""]
    if not t.results:
        return "\n".join([*out, "No results.", ""])
    blocked = blocked_now(data)
    vantages = ", ".join(_md(g.vantage) for g in data.grids)
    pairs = len(data.latest())
    out += [
        f"- **{t.runs:,} runs** from **{t.vantages} vantage{'s' if t.vantages != 1 else ''}** "
        f"({vantages}) measured **{t.targets:,} targets** between {_when(data.start)} and "
        f"{_when(data.end)}: {t.results:,} results.",
        "- Results by status: "
        + ", ".join(f"{_md(s)} {n:,}" for s, n in sorted(t.by_status.items()))
        + ".",
        f"- Latest verdicts: **{len(blocked)} of {pairs}** (target, vantage) pairs blocked, "
        f"{len({v.url for v in blocked})} distinct targets.",
    ]
    methods: dict[str, int] = defaultdict(int)
    for v in blocked:
        methods[v.outcome or "unknown"] += 1
    if methods:
        ranked = sorted(methods.items(), key=lambda x: (-x[1], x[0]))
        out.append(
            "- Blocking methods now: " + ", ".join(f"{_md_code(m)} {n}" for m, n in ranked) + "."
        )
    out += ["", "## Blocked targets", ""]
    if len(data.targets) < t.targets:
        out += [f"Among the {len(data.targets):,} targets blocked most (of {t.targets:,}).", ""]
    if blocked:
        out += [
            "| Target | Vantage | Method | Since | Confidence |",
            "| --- | --- | --- | --- | ---: |",
        ]
        out += [
            f"| {_md_code(v.url)} | {_md(v.vantage)} | {_md_code(v.outcome or 'unknown')} | "
            f"{_when(v.since, seconds=False)} | {_percent(v.confidence)} |"
            for v in blocked
        ]
    else:
        out.append("None in the latest verdicts.")
    changed = sorted(
        (v for v in data.latest() if v.previous_status is not None),
        key=lambda v: (v.since, v.url, v.vantage),
        reverse=True,
    )
    if changed:
        out += ["", "## Changes", ""]
        for v in changed[:50]:
            before = _md_verdict(v.previous_status, v.previous_outcome)
            after = _md_verdict(v.status, v.outcome)
            out.append(
                f"- {_md_code(v.url)} from {_md(v.vantage)}: {before} → **{after}** "
                f"since {_when(v.since, seconds=False)}"
            )
        if len(changed) > 50:
            out.append(f"- … and {len(changed) - 50} more.")
    out += [
        "",
        f"*Methodology:* measured with censorcheck {__version__}; a target counts as blocked "
        "only with evidence that it works elsewhere (a control). The rules are in censorcheck's "
        "README, section “Methodology: how a verdict is reached”. "
        "“Since” is the first run of the latest unbroken series of the same verdict.",
        "",
    ]
    return "\n".join(out)
