"""The lab runs every report test reads, measured once for the whole folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from censorcheck.results.report import ReportData, collect
from censorcheck.results.warehouse import Warehouse
from tests.report.runs import Made, make_runs


@pytest.fixture(scope="package")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return make_runs(tmp_path_factory.mktemp("report-runs"))


@pytest.fixture(scope="package")
def warehouse(made: Made) -> Iterator[Warehouse]:
    with Warehouse([made.folder], index=False) as wh:
        yield wh


@pytest.fixture(scope="package")
def data(warehouse: Warehouse) -> ReportData:
    return collect(warehouse)
