"""The parity table as Markdown, for docs/ooni-parity.md. ``python -m tests.parity.render``
rewrites the page; tests/test_ooni_parity.py fails when the page and the table disagree."""

from __future__ import annotations

from pathlib import Path

from tests.parity.model import SETUPS, Parity, agrees, describe, show
from tests.parity.table import OONI_COMMIT, TABLE

PAGE = Path(__file__).resolve().parents[2] / "docs" / "ooni-parity.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _where(entry: Parity) -> str:
    if entry.lab:
        return f"lab row `{entry.lab}`"
    return "<br>".join(f"{setup}: verdict row *{_cell(row)}*" for setup, row in entry.rows.items())


def _ours(entry: Parity) -> str:
    cells = []
    for setup in SETUPS:
        if setup in entry.ours:
            verdict = entry.ours[setup]
            mark = "" if agrees(entry.ooni, verdict) else " ≠"
            cells.append(f"{setup}: {show(verdict)}{mark}")
    return "<br>".join(cells)


def render() -> str:
    """The whole page."""
    differ = sum(1 for e in TABLE if e.why)
    lines = [
        "# Parity with OONI's QA suite",
        "",
        "<!-- Generated from tests/parity/ by `python -m tests.parity.render`; do not edit. -->",
        "",
        f"Every scenario of OONI's Web Connectivity QA suite (probe-cli "
        f"`internal/webconnectivityqa`, commit `{OONI_COMMIT[:12]}`): {len(TABLE)} scenarios. "
        "For each: what its network does, the result OONI expects (its `accessible` and "
        "`blocking` test keys), where censorcheck reproduces it (a lab row of "
        "`censorcheck/lab/scenarios.py`, run with control resolvers, our control server and "
        "the OONI protocol; or a row of the verdict table in `tests/verdict/`, in the set-up "
        "its control stands for), and the verdict we expect there. ≠ marks a verdict that "
        f"says something else than OONI; {differ} scenarios have one, each with the reason.",
        "",
        "Set-ups: *resolvers* (control resolvers only, `--control none`), *server* (our control "
        "server), *ooni* (our server spoken to as an OONI test helper, `--control ooni:URL`).",
        "",
        "| OONI scenario | what the network does | OONI expects | ours | our verdict | why we "
        "differ |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in TABLE:
        row = [f"`{e.name}`", e.what, describe(e.ooni), _where(e), _ours(e), e.why]
        lines.append("| " + " | ".join(_cell(c) if i != 3 else c for i, c in enumerate(row)) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
