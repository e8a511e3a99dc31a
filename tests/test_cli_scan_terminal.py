"""dns-scan's tables on an 80-column terminal, and its rows as TSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from censorcheck.lab.resolvers import ResolverLab, ResolverLabThread
from censorcheck.scan.models import ScanDocument
from tests.conftest import run_cli
from tests.test_cli_terminal import in_terminal


@pytest.fixture(scope="module")
def scan_lab() -> Iterator[ResolverLab]:
    with ResolverLabThread() as running:
        yield running


def test_scan_tables_fold_on_80_columns_and_tsv_has_every_pair(
    scan_lab: ResolverLab, tmp_path: Path
) -> None:
    files = scan_lab.write_files(tmp_path / "lab")
    flags = ["--rate", "100", "--timeout", "0.5", "--retries", "1"]
    args = ["dns-scan", str(files["targets.txt"]), "--resolvers", str(files["resolvers.txt"]),
            *scan_lab.scan_arguments(), *flags]  # fmt: skip
    code, shown, _ = in_terminal([*args, "-o", str(tmp_path / "scan.json")], stderr_too=True)
    assert code == 1, shown
    table = shown[shown.index("dns-scan ·") :]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "…" not in table  # no header or cell cut short
    # The header of the first table: its lines between the top border and the rule under it.
    head = table[table.index("┏") : table.index("┡")]
    cells = [line.split("┃")[1:-1] for line in head.splitlines() if line.count("┃") > 2]
    headers = ["".join("".join(parts).split()) for parts in zip(*cells, strict=True)]
    for status in ("accessible", "blocked", "down", "inconclusive"):
        assert status in headers, headers
    document = ScanDocument.model_validate_json((tmp_path / "scan.json").read_text("utf-8"))
    tsv = run_cli(*args, "-o", str(tmp_path / "again.json"), "--format", "tsv")
    assert tsv.code == 1, tsv.stderr
    header, *rows = tsv.stdout.splitlines()
    assert header.split("\t") == ["resolver", "domain", "status", "outcome", "reason"]
    assert len(rows) == len(document.results)
