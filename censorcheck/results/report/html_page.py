"""The report as one self-contained HTML page, from the templates in ``templates/``."""

from __future__ import annotations

import functools
import html as html_lib

import jinja2
from markupsafe import Markup

from censorcheck import __version__
from censorcheck.results.report.charts import bars_charts, grid_chart
from censorcheck.results.report.data import ReportData, TargetDetail, quic_blocked_now
from censorcheck.results.report.marks import (
    STATUS_COLOURS,
    STATUS_INK,
    STATUSES,
    evidence_anchor,
    status_class,
    status_mark,
    status_order,
    target_anchor,
    vantage_anchor,
)
from censorcheck.results.report.wording import duration, percent, when

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _escape(value: object) -> Markup:
    """Escape as the page always has (``&quot;``, ``&#x27;``); markupsafe's own spelling
    (``&#34;``, ``&#39;``) is as safe but would change every page that quotes something.
    Autoescaping stays on behind this, for any value that reaches the page some other way."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, int | str) and len(str(value)) <= 24:
        # Coordinates, statuses and marks repeat tens of thousands of times in a large grid.
        return _escape_short(value)
    return Markup(html_lib.escape(str(value), quote=True))


@functools.lru_cache(maxsize=16384)
def _escape_short(value: int | str) -> Markup:
    return Markup(html_lib.escape(str(value), quote=True))


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("censorcheck.results.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_escape,
        # A block tag on a line of its own leaves no trace in the page.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count="{:,}".format,
        duration=duration,
        percent=percent,
        evidence_anchor=evidence_anchor,
        status_class=status_class,
        status_mark=status_mark,
        target_anchor=target_anchor,
        vantage_anchor=vantage_anchor,
        when=when,
    )
    return env


def _rank(detail: TargetDetail) -> tuple[int, int, str]:
    # Blocked first, then blocked over QUIC alone: both are what a reader came for.
    blocked = sum(v.status == "blocked" for v in detail.verdicts)
    return (-blocked, -sum(v.quic_status == "blocked" for v in detail.verdicts), detail.url)


def html(data: ReportData) -> str:
    """The report as one self-contained HTML page (see the package's docstring)."""
    blocked = any(m.count for m in data.methods)
    targets = sorted(data.targets, key=_rank)
    return (
        _templates()
        .get_template("report.html.j2")
        .render(
            data=data,
            title="Censorship report" + (f": {data.target}" if data.target else ""),
            # A constant of ours, trusted as markup: escaping would spell its quotes as entities.
            csp=Markup(CSP),
            version=__version__,
            status_colours=STATUS_COLOURS,
            status_ink=STATUS_INK,
            statuses=sorted(data.totals.by_status, key=status_order),
            legend=STATUSES,
            grids=[(g, grid_chart(data, g)) for g in data.grids],
            methods=bars_charts(data) if blocked else None,
            targets=targets,
            blocked_targets=sum(any(v.status == "blocked" for v in t.verdicts) for t in targets),
            quic_tried=any(v.quic_status is not None for v in data.latest()),
            quic_blocked=quic_blocked_now(data),
        )
    )
