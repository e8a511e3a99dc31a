"""The report as Markdown: a summary to paste into an article."""

from __future__ import annotations

import html as html_lib
from collections import defaultdict

from censorcheck import __version__
from censorcheck.results.report.data import ReportData, blocked_now, quic_blocked_now
from censorcheck.results.report.wording import percent, when


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
        f"({vantages}) measured **{t.targets:,} targets** between {when(data.start)} and "
        f"{when(data.end)}: {t.results:,} results.",
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
            f"{when(v.since, seconds=False)} | {percent(v.confidence)} |"
            for v in blocked
        ]
    else:
        out.append("None in the latest verdicts.")
    out += _quic_section(data)
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
                f"since {when(v.since, seconds=False)}"
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


def _quic_section(data: ReportData) -> list[str]:
    """The sites blocked over QUIC (HTTP/3), with what TCP showed beside it; nothing when QUIC
    was never tried."""
    if all(v.quic_status is None for v in data.latest()):
        return []
    out = ["", "## Blocked over QUIC", ""]
    blocked = quic_blocked_now(data)
    if not blocked:
        return [*out, "None in the latest QUIC verdicts."]
    out += [
        "| Target | Vantage | Finding | QUIC outcome | Confidence |",
        "| --- | --- | --- | --- | ---: |",
    ]
    out += [
        f"| {_md_code(v.url)} | {_md(v.vantage)} | {_md(v.status or 'unknown')} over TCP, "
        f"QUIC blocked | {_md_code(v.quic_outcome or 'unknown')} | "
        f"{percent(v.quic_confidence)} |"
        for v in blocked
    ]
    return out
