"""Analyst formats that meet OONI's: UTC-zoned Parquet, the observations shape that UNIONs with
OONI's web observations, and hive-partitioned datasets that query and report read back."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from censorcheck.lab import Lab
from censorcheck.results.observations import COLUMNS, NAMES, rows
from censorcheck.results.store import read_run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pds = pytest.importorskip("pyarrow.dataset")

REAL_NETWORK = True

# ooni/spec df-007's failure strings that our codes translate to, and its catch-all prefix.
DF007 = {
    "connection_refused", "connection_reset", "generic_timeout_error", "eof_error",
    "dns_nxdomain_error", "dns_refused_error", "dns_servfail_error", "dns_no_answer",
    "dns_server_misbehaving", "ssl_failed_handshake", "ssl_unknown_authority",
    "ssl_invalid_hostname", "ssl_invalid_certificate", "host_unreachable", "network_unreachable",
}  # fmt: skip

# The same columns as ooni/data's obs_web, as an analyst would declare OONI's own table (a
# subset of its columns, in another order, with a column of OONI's that we do not fill).
OONI_TABLE = """
CREATE TABLE obs_web (
    probe_cc VARCHAR, probe_asn BIGINT, measurement_uid VARCHAR, observation_idx INTEGER,
    measurement_start_time TIMESTAMPTZ, hostname VARCHAR, ip VARCHAR, port INTEGER,
    dns_failure VARCHAR, tcp_failure VARCHAR, tls_failure VARCHAR, http_failure VARCHAR,
    tcp_success BOOLEAN, http_response_status_code INTEGER, ip_asn BIGINT
)
"""


@pytest.fixture(scope="module")
def results(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two lab runs, one from each vantage, in one folder."""
    folder = tmp_path_factory.mktemp("results")
    urls = lab.topology.target_urls()
    for censored, name in ((True, "lab-censored"), (False, "lab-free")):
        done = run_cli(
            "run", *urls, *lab_flags(lab, censored), "--vantage", name, "--no-geo", "-q",
            "--results-dir", str(folder),
        )  # fmt: skip
        assert done.code in (0, 1), done.stderr
    return folder


def _count(folder: Path) -> int:
    done = run_cli("query", str(folder), "select count(*) as n from results", "-f", "csv")
    assert done.code == 0, done.stderr
    return int(done.stdout.splitlines()[1])


def test_parquet_timestamps_are_utc_zoned(results: Path, tmp_path: Path) -> None:
    done = run_cli("export", str(results), "--format", "parquet", "-o", str(tmp_path))
    assert done.code == 0, done.stderr
    schema = pq.read_schema(tmp_path / "results.parquet")
    for name in ("run_started_at", "started_at"):
        assert schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    # query reads the exported file as it reads the documents.
    assert _count(tmp_path / "results.parquet") == _count(results)


def test_observations_union_with_ooni_table(results: Path, tmp_path: Path) -> None:
    done = run_cli(
        "export", str(results), "--format", "parquet", "--shape", "observations",
        "-o", str(tmp_path),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    path = str(tmp_path / "observations.parquet")
    con = duckdb.connect()
    declared = {c.name: c.type for c in COLUMNS}
    read = {
        name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
    }
    assert read == {n: "TIMESTAMP WITH TIME ZONE" if t == "TIMESTAMPTZ" else t
                    for n, t in declared.items()}  # fmt: skip
    con.execute(OONI_TABLE)
    con.execute(
        "INSERT INTO obs_web VALUES ('IT', 30722, '20261205101010.123456_IT_webconnectivity_"
        "0123456789abcdef', 1, '2026-12-05 10:10:00+00', 'example.com', '93.184.215.14', 443, "
        "NULL, NULL, 'connection_reset', NULL, true, NULL, 15133)"
    )
    ours = con.execute(f"SELECT count(*) FROM '{path}'").fetchone()
    union = con.execute(
        f"SELECT count(*), count(DISTINCT probe_cc) FROM (SELECT * FROM obs_web "
        f"UNION ALL BY NAME SELECT * FROM '{path}')"
    ).fetchone()
    assert ours is not None and union is not None
    assert ours[0] > 0 and union == (ours[0] + 1, 2)
    # Failures are in OONI's words, never ours (tls.reset), and the lab's censor shows in them.
    failures = con.execute(
        f"SELECT DISTINCT unnest([dns_failure, tcp_failure, tls_failure, http_failure]) AS f "
        f"FROM '{path}'"
    ).fetchall()
    words = {f for (f,) in failures if f is not None}
    assert words and all(w in DF007 or w.startswith("unknown_failure: ") for w in words), words
    assert {"dns_nxdomain_error", "connection_reset"} <= words
    uids = con.execute(f"SELECT DISTINCT measurement_uid FROM '{path}'").fetchall()
    assert all(re.fullmatch(r"\d{14}\.\d{6}_ZZ_webconnectivity_[0-9a-f]{16}", u) for (u,) in uids)


def test_partitioned_dataset_reads_back(results: Path, tmp_path: Path) -> None:
    done = run_cli(
        "export", str(results), "--format", "parquet", "--partitioned", "-o", str(tmp_path)
    )
    assert done.code == 0, done.stderr
    dataset = tmp_path / "results"
    parts = sorted(str(p.relative_to(dataset).parent) for p in dataset.rglob("*.parquet"))
    assert len(parts) == 2
    assert all(
        re.fullmatch(r"date=\d{4}-\d{2}-\d{2}/vantage=lab-(censored|free)", p) for p in parts
    )
    expected = _count(results)
    ((got,),) = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{dataset}/**/*.parquet', hive_partitioning = true)"
    ).fetchall()
    assert got == expected
    assert pds.dataset(dataset, partitioning="hive").count_rows() == expected
    # query and report take the dataset in place of the documents, with the same answers.
    assert _count(dataset) == expected
    sql = "select vantage, status, count(*) from results group by all order by all"
    on_docs = run_cli("query", str(results), sql, "-f", "csv")
    on_dataset = run_cli("query", str(dataset), sql, "-f", "csv")
    assert on_docs.code == on_dataset.code == 0
    assert on_docs.stdout == on_dataset.stdout
    report_docs = run_cli("report", str(results), "--markdown")
    report_dataset = run_cli("report", str(dataset), "--markdown")
    assert report_docs.code == report_dataset.code == 0, report_dataset.stderr
    assert report_docs.stdout == report_dataset.stdout


def test_partitioned_needs_parquet(results: Path, tmp_path: Path) -> None:
    done = run_cli("export", str(results), "--format", "csv", "--partitioned", "-o", str(tmp_path))
    assert done.code == 2 and "--partitioned writes Parquet only" in done.stderr


def test_a_parquet_file_that_is_not_ours(tmp_path: Path) -> None:
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'other.parquet'}' (FORMAT parquet)")
    done = run_cli("query", str(tmp_path), "select count(*) from results")
    assert done.code == 2 and "not the results shape" in done.stderr


def test_observations_join_the_ooni_export(results: Path, tmp_path: Path) -> None:
    """Both exports give a measurement the same uid, so an analyst can join them; and addresses
    the run counted as routable (--treat-as-public, the lab's network) are not bogons here."""
    obs = tmp_path / "observations.csv"
    ooni = tmp_path / "ooni.jsonl"
    done = run_cli(
        "export", str(results), "-f", "csv", "--shape", "observations", "-o", str(tmp_path)
    )
    assert done.code == 0, done.stderr
    done = run_cli("export", str(results), "--format", "ooni", "-o", str(ooni))
    assert done.code == 0, done.stderr
    con = duckdb.connect()
    joined = con.execute(
        f"SELECT count(DISTINCT o.measurement_uid), "
        f"count(DISTINCT o.measurement_uid) FILTER (m.measurement_uid IS NULL) "
        f"FROM read_csv('{obs}') o LEFT JOIN read_json('{ooni}', format = 'newline_delimited') m "
        f"ON o.measurement_uid = m.measurement_uid"
    ).fetchone()
    assert joined is not None and joined[0] > 0 and joined[1] == 0, joined


def test_observations_count_the_runs_public_networks_as_routable(results: Path) -> None:
    """ip_is_bogon follows the run's --treat-as-public, as its verdicts did."""
    run = read_run(next(results.glob("*.json")))
    ip_at = NAMES.index("ip")
    bogon_at = NAMES.index("ip_is_bogon")
    bogons = {row[ip_at] for row in rows([run]) if row[bogon_at]}
    assert bogons, "the lab answers some names with non-routable addresses"
    settings = {**run.settings, "treat_as_public": [f"{ip}/{(ip.count(':') and 128) or 32}"
                                                     for ip in bogons]}  # fmt: skip
    public = run.model_copy(update={"settings": settings})
    assert not any(row[bogon_at] for row in rows([public]) if row[ip_at] in bogons)
