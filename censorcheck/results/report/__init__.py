"""Reports over many runs: one self-contained HTML page, and a Markdown summary for an article.

Owns the report: ``query`` asks the warehouse for everything a report shows and fills the
dataclasses of ``data``; ``html_page`` (from the Jinja2 templates in ``templates/``, escaping
every value) and ``markdown_summary`` draw a ``ReportData`` and do no I/O; ``charts`` lays out
the SVG charts; ``wording`` holds the text the page and the summary write alike. May import
the root contracts (``models``, ``errors``), ``results.store`` and ``results.warehouse``;
never the probes, the measurement pipeline or the CLI.

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

from censorcheck.results.report.charts import STATUS_COLOURS, STATUSES
from censorcheck.results.report.data import (
    Cell,
    Column,
    EvidenceItem,
    LatestVerdict,
    MethodCount,
    ReportData,
    TargetDetail,
    Totals,
    VantageGrid,
    blocked_now,
)
from censorcheck.results.report.html_page import CSP, html
from censorcheck.results.report.markdown_summary import markdown
from censorcheck.results.report.query import collect

__all__ = [
    "CSP",
    "STATUSES",
    "STATUS_COLOURS",
    "Cell",
    "Column",
    "EvidenceItem",
    "LatestVerdict",
    "MethodCount",
    "ReportData",
    "TargetDetail",
    "Totals",
    "VantageGrid",
    "blocked_now",
    "collect",
    "html",
    "markdown",
]
