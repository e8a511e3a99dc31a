"""Times, durations and percentages as the page and the Markdown summary both write them."""

from __future__ import annotations

from datetime import datetime

from censorcheck.results.report.data import Column, ReportData


def when(at: datetime | None, seconds: bool = True) -> str:
    """A UTC time to the second (or the minute), or a dash for none."""
    if at is None:
        return "–"
    return at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def percent(value: float | None) -> str:
    """A confidence as a whole percentage, or a dash for none."""
    return "–" if value is None else f"{value:.0%}"


def column_label(data: ReportData, col: Column) -> str:
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


def column_span(data: ReportData, col: Column) -> str:
    """What a column covers, for a tooltip."""
    if data.per_run:
        return f"run started {when(col.start)}"
    return f"{when(col.start)} to {when(col.end)}"


def duration(seconds: int) -> str:
    """A column's length in the largest unit that divides it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} s"
