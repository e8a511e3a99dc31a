"""Reports over many runs: one self-contained HTML page, and a Markdown summary for an article.

Owns the report: ``query`` asks the warehouse for everything a report shows and fills the
dataclasses of ``data``; ``html_page`` (from the Jinja2 templates in ``templates/``, escaping
every value) and ``markdown_summary`` draw a ``ReportData`` and do no I/O; ``charts`` lays out
the SVG charts; ``marks`` gives each status its colour, mark and word, and each target and
verdict a stable anchor; ``wording`` holds the text the page and the summary write alike. May
import the root contracts (``models``, ``errors``), ``results.store`` and
``results.warehouse``; never the probes, the measurement pipeline or the CLI.

The time axis is shared by every chart. With few distinct run starts, each start is a column of
its own; with more, the span is cut into equal buckets of a round length (a minute, an hour, a
day, ...), at most ``buckets`` of them. A column shows the *latest* result in it.

The HTML page, top to bottom:

1. Title, time range, the totals (runs, vantages, targets, results, results by status), and a
   contents list.
2. "Status over time": per vantage, an SVG grid, one row per target and one column per time
   column; each cell (``rect.cell.status-<status>``, with its status's mark over it) is the
   status of the latest result of that target in that column, with a ``<title>`` tooltip.
   Cells without a result are not drawn. Each row links to that target's evidence from that
   vantage (``#e-…``, see ``marks.evidence_anchor``).
3. "Blocking methods over time": per vantage (and for all vantages together when there are
   several) a stacked bar chart: per column, the blocked results by method, stacked layer by
   layer (DNS at the bottom), a hue per layer, on an axis of round whole numbers; the legend
   lists the methods by layer.
4. "Targets": per target, a ``<details>`` element, closed, whose summary gives the status from
   each vantage; opened, a row per vantage with its latest verdict (status, outcome, confidence,
   since when it has been so, reason) and that verdict's evidence. Following a grid row's link
   opens it in browsers that open ``<details>`` for a fragment (Chromium does), with no script.
5. A methodology line.

The page must be safe to open inside a censored network: it loads nothing (no script, font,
image or style sheet from anywhere, not even a link that prefetches; its only links are
fragments within the page), and a Content-Security-Policy forbids anything that would. Text
from run documents (target URLs, reasons, evidence) came from the network and may be hostile:
all of it is escaped.
"""

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
from censorcheck.results.report.marks import (
    STATUS_COLOURS,
    STATUS_MARKS,
    STATUSES,
    evidence_anchor,
    target_anchor,
)
from censorcheck.results.report.query import collect

__all__ = [
    "CSP",
    "STATUSES",
    "STATUS_COLOURS",
    "STATUS_MARKS",
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
    "evidence_anchor",
    "html",
    "markdown",
    "target_anchor",
]
