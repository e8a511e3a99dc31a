"""``history``: the timeline of targets across runs and vantages, as periods of one verdict.

A period is an unbroken sequence of runs in which a (target, vantage) got the same status and
outcome, and the same QUIC verdict (status and outcome; none where QUIC was not tried): "blocked
by dns.nxdomain from 3 March to 9 March, 14 runs", "accessible, QUIC blocked by
quic.sni_blocking since 5 March". The latest period of each pair says since when its present
verdict holds. Computed in SQL over the results index (gaps and islands with window functions),
so it stays quick at a million rows.
"""

from __future__ import annotations

from pydantic import Field

from censorcheck.models import Model, Status
from censorcheck.results.warehouse import Warehouse, iso_utc


class Period(Model):
    """Consecutive runs in which one (target, vantage) kept one verdict."""

    url: str
    domain: str
    vantage: str
    status: Status
    outcome: str
    quic_status: Status | None = Field(
        None, description="The QUIC verdict's status in the period; null: QUIC not tried."
    )
    quic_outcome: str | None = Field(None, description="The QUIC verdict's outcome.")
    first_seen: str = Field(description="Start of the first run of the period (UTC, ISO 8601).")
    last_seen: str = Field(description="Start of its last run.")
    runs: int = Field(description="Runs in the period.")
    first_run: str = Field(description="run_id of the first run.")
    last_run: str = Field(description="run_id of the last run.")
    confidence_min: float
    confidence_max: float
    current: bool = Field(description="True for the latest period of its (target, vantage).")


_PERIODS = """
WITH chosen AS (
    SELECT url, domain, vantage, run_started_at, run_id, status, outcome, confidence,
        quic_status, quic_outcome
    FROM results
    WHERE (? IS NULL OR domain = lower(?) OR url = ?)
      AND (? IS NULL OR vantage = ?)
),
marked AS (
    SELECT *, CASE WHEN lag(status) OVER w = status AND lag(outcome) OVER w = outcome
        AND lag(quic_status) OVER w IS NOT DISTINCT FROM quic_status
        AND lag(quic_outcome) OVER w IS NOT DISTINCT FROM quic_outcome
        THEN 0 ELSE 1 END AS starts
    FROM chosen
    WINDOW w AS (PARTITION BY url, vantage ORDER BY run_started_at, run_id)
),
grouped AS (
    SELECT *, sum(starts) OVER (PARTITION BY url, vantage ORDER BY run_started_at, run_id
        ROWS UNBOUNDED PRECEDING) AS period
    FROM marked
),
periods AS (
    SELECT url, any_value(domain) AS domain, vantage, period, any_value(status) AS status,
        any_value(outcome) AS outcome, any_value(quic_status) AS quic_status,
        any_value(quic_outcome) AS quic_outcome, min(run_started_at) AS first_seen,
        max(run_started_at) AS last_seen, count(*) AS runs,
        arg_min(run_id, (run_started_at, run_id)) AS first_run,
        arg_max(run_id, (run_started_at, run_id)) AS last_run,
        min(confidence) AS confidence_min, max(confidence) AS confidence_max,
        period = max(period) OVER (PARTITION BY url, vantage) AS current
    FROM grouped GROUP BY url, vantage, period
)
SELECT url, domain, vantage, status, outcome, quic_status, quic_outcome, first_seen, last_seen,
    runs, first_run, last_run, confidence_min, confidence_max, current
FROM periods
WHERE current OR NOT ?
ORDER BY url, vantage, first_seen
"""


def periods(
    wh: Warehouse,
    target: str | None = None,
    vantage: str | None = None,
    current_only: bool = False,
) -> list[Period]:
    """The periods of each (target, vantage), oldest first; ``target`` is a domain or a URL."""
    rows = wh.rows(_PERIODS, [target, target, target, vantage, vantage, current_only])
    return [
        Period(
            url=url,
            domain=domain,
            vantage=vantage_name,
            status=status,
            outcome=outcome,
            quic_status=quic_status,
            quic_outcome=quic_outcome,
            first_seen=iso_utc(first),
            last_seen=iso_utc(last),
            runs=runs,
            first_run=first_run,
            last_run=last_run,
            confidence_min=cmin,
            confidence_max=cmax,
            current=current,
        )
        for (url, domain, vantage_name, status, outcome, quic_status, quic_outcome, first, last,
             runs, first_run, last_run, cmin, cmax, current) in rows
    ]  # fmt: skip
