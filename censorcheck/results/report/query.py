"""Collecting a report from the warehouse's ``results`` table, with SQL aggregates only.

A folder of 10,000 runs of 100 targets is a million rows: no row of them comes to Python. Only
the run documents of the latest verdicts are read in full, for their evidence.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from censorcheck.errors import ConfigError
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
)
from censorcheck.results.store import read_run
from censorcheck.results.warehouse import Warehouse

# Round column lengths, in seconds, tried shortest first.
_STEPS = (
    1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 365 * 86400,
)  # fmt: skip
# Outcome colours by layer, so that a reader sees the layer before reading the legend.

# The rows a report is about: ``a`` all of them (of one target, for a report on one), ``r``
# those of the targets shown in the grid and the details, ``b`` and ``rb`` the same with their
# time column ``col``. Not materialized: a CTE used more than once would otherwise be copied
# whole, every column of every row, before any aggregate runs.
_ROWS = """
    a AS NOT MATERIALIZED (
        SELECT run_id, file, run_started_at, vantage, country, asn, url, domain, category,
            started_at, status, blocking, outcome, confidence, reason, quic_status,
            quic_outcome, quic_confidence, coalesce(outcome, blocking, 'unknown') AS method
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
            arg_max(struct_pack(status, outcome, started_at, quic_status), {_ORDER}) AS last,
            count(*)
        FROM rb GROUP BY vantage, url, col ORDER BY vantage, url, col"""
    ):
        cells[vantage].append(
            Cell(
                url,
                col,
                last["status"],
                last["outcome"],
                last["started_at"],
                n,
                last["quic_status"],
            )
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
                    run_started_at, started_at, file, domain, category, quic_status,
                    quic_outcome, quic_confidence), {_ORDER}) AS l,
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
                evidence=evidence.get((url, vantage), _UNREAD)[0],
                quic_status=last["quic_status"],
                quic_outcome=last["quic_outcome"],
                quic_confidence=last["quic_confidence"],
                quic_reason=evidence.get((url, vantage), _UNREAD)[1],
                quic_evidence=evidence.get((url, vantage), _UNREAD)[2],
            )
        )
    details = [TargetDetail(url, *about[url], verdicts) for url, verdicts in by_url.items()]
    return details, skipped


# The evidence of a verdict, and the QUIC verdict's reason and evidence.
Read = tuple[tuple[EvidenceItem, ...], str | None, tuple[EvidenceItem, ...]]
_UNREAD: Read = ((), None, ())


def _evidence(
    wanted: Iterable[tuple[str, str | None, str]],
) -> tuple[dict[tuple[str, str | None], Read], list[str]]:
    """The evidence of the latest verdicts (and their QUIC verdicts' reason and evidence), from
    their run documents (each read once): the index keeps no evidence."""
    by_file: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for url, vantage, file in wanted:
        by_file[file].add((url, vantage))
    found: dict[tuple[str, str | None], Read] = {}
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
                quic = result.quic_verdict
                found[key] = (
                    tuple(EvidenceItem(e.ref, e.fact) for e in result.verdict.evidence),
                    quic.reason if quic else None,
                    tuple(EvidenceItem(e.ref, e.fact) for e in quic.evidence) if quic else (),
                )
    return found, skipped
