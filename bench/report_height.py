"""Report page height: how long the HTML report of a large run is, measured in Chromium.

A benchmark, not a test: it prints figures. The report is drawn from synthetic ``ReportData``
(seeded, no network, no lab): ``--targets`` targets from two vantages over ``--columns`` time
columns, with a mix of statuses and thirteen blocking methods, each verdict with a reason and a
handful of evidence facts of realistic length. It prints the page's full height in CSS pixels
at a 1280-pixel-wide viewport, and the size of the HTML.

    .venv/bin/python bench/report_height.py                     # 341 targets
    .venv/bin/python bench/report_height.py --targets 1000 --html /tmp/big.html
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from censorcheck.results.report import (
    Cell,
    Column,
    EvidenceItem,
    LatestVerdict,
    MethodCount,
    ReportData,
    TargetDetail,
    Totals,
    VantageGrid,
    html,
)

CHROMIUM = "/usr/bin/chromium"
VANTAGES = ("isp-censored", "free-net")
OUTCOMES = (
    "dns.nxdomain",
    "dns.bogon",
    "dns.injected",
    "dns.timeout",
    "dns.refused",
    "tcp.unreachable",
    "tcp.error",
    "tls.sni_blocking",
    "tls.mitm",
    "tls.error",
    "http.blockpage",
    "http.diff",
    "quic.sni_blocking",
)
STATUS_MIX = (("accessible", 0.6), ("blocked", 0.25), ("down", 0.08), ("inconclusive", 0.07))


def synthetic(targets: int, ncolumns: int, seed: int = 7) -> ReportData:
    """A report's data for ``targets`` targets seen from two vantages, seeded."""
    rnd = random.Random(seed)
    origin = datetime(2026, 11, 1)
    columns = [Column(i, origin + timedelta(days=i), origin + timedelta(days=i), 2)
               for i in range(ncolumns)]  # fmt: skip
    urls = [f"https://site-{i:04d}.example.test/" for i in range(targets)]
    statuses, weights = zip(*STATUS_MIX, strict=True)
    grids, methods, details = [], [], {u: [] for u in urls}
    by_status: dict[str, int] = {}
    everywhere: dict[tuple[int, str], int] = {}  # (column, method) -> from all vantages
    for vantage in VANTAGES:
        cells = []
        for url in urls:
            status = rnd.choices(statuses, weights)[0]
            outcome = rnd.choice(OUTCOMES) if status == "blocked" else f"{status}.ok"
            for col in columns:
                cells.append(Cell(url, col.index, status, outcome, col.start, 1))
                by_status[status] = by_status.get(status, 0) + 1
            reason = (
                f"The probe's resolver answered for {url} with an address the control never "
                "saw, while the control fetched the page and matched its title and length."
            )
            evidence = tuple(
                EvidenceItem(
                    f"/{layer}/0",
                    f"{layer} step of {url}: {outcome} after 412 ms, "
                    "compared with the control's answer from another network",
                )
                for layer in ("dns", "tcp", "tls", "http", "control/dns")
            )
            details[url].append(
                LatestVerdict(
                    url,
                    vantage,
                    status,
                    outcome.split(".")[0],
                    outcome,
                    0.9,
                    reason,
                    "run-x",
                    columns[-1].start,
                    "run.json",
                    columns[0].start,
                    "run-0",
                    ncolumns,
                    ncolumns,
                    None,
                    None,
                    evidence,
                )
            )
        grids.append(VantageGrid(vantage, "ZZ", 64500, ncolumns, urls, cells, {}))
        for col in columns:
            counts: dict[str, int] = {}
            for c in cells:
                if c.column == col.index and c.status == "blocked" and c.outcome:
                    counts[c.outcome] = counts.get(c.outcome, 0) + 1
            methods += [MethodCount(col.index, vantage, o, n) for o, n in counts.items()]
            for o, n in counts.items():
                everywhere[col.index, o] = everywhere.get((col.index, o), 0) + n
    methods += [MethodCount(col, None, o, n) for (col, o), n in everywhere.items()]
    return ReportData(
        Totals(ncolumns * 2, 2, targets, sum(by_status.values()), by_status),
        columns[0].start,
        columns[-1].start,
        True,
        None,
        columns,
        grids,
        methods,
        [TargetDetail(u, u.split("/")[2], None, v) for u, v in details.items()],
    )


def page_height(page_file: Path) -> int:
    """The page's full height in CSS pixels, 1280 pixels wide, as Chromium lays it out."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.as_uri(), wait_until="load")
            return int(page.evaluate("document.documentElement.scrollHeight"))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=341)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--html", type=Path, help="keep the page here")
    args = parser.parse_args()
    text = html(synthetic(args.targets, args.columns))
    with tempfile.TemporaryDirectory() as tmp:
        page_file = args.html or Path(tmp) / "report.html"
        page_file.write_text(text, encoding="utf-8")
        height = page_height(page_file.resolve())
    figures = {"targets": args.targets, "columns": args.columns,
               "html_bytes": len(text.encode()), "page_height_px": height}  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
