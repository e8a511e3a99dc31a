"""The IP-to-ASN table: lookups in it, and ``censorcheck update-db`` against a local server."""

from __future__ import annotations

import functools
import http.server
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from censorcheck.errors import ConfigError
from censorcheck.measure.ipdb import IPDatabase
from censorcheck.measure.ipdb_update import update
from tests.conftest import run_cli
from tests.geo_support import Row, table, write_table

ROWS: list[Row] = [
    ("1.0.0.0", "1.0.0.255", 13335, "US", "CLOUDFLARENET"),
    ("1.0.1.0", "1.0.3.255", 0, "None", "Not routed"),
    ("2.2.2.0", "2.2.2.127", 9198, "KZ", "KAZTELECOM-AS"),
    ("9.9.9.0", "9.9.9.255", 19281, "US", "QUAD9-AS-1"),
    ("95.56.0.0", "95.59.255.255", 9198, "KZ", "KAZTELECOM-AS"),
    ("2001:db8::", "2001:db8::ffff", 64496, "DE", "DOC-V6"),
    ("2a00:1450::", "2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff", 15169, "IE", "GOOGLE"),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[IPDatabase]:
    with IPDatabase(write_table(tmp_path / "ip2asn.tsv", ROWS)) as opened:
        yield opened


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("1.0.0.0", (13335, "US")),  # the first line's first address
        ("1.0.0.255", (13335, "US")),
        ("2.2.2.64", (9198, "KZ")),
        ("95.58.1.2", (9198, "KZ")),
        ("2a00:1450:4001::1", (15169, "IE")),  # the last line
        ("2001:db8::1", (64496, "DE")),
        ("1.0.2.9", None),  # AS 0: announced by nobody
        ("2.2.2.200", None),  # in a gap between ranges
        ("0.9.9.9", None),  # before the first range
        ("255.1.1.1", None),  # after the last IPv4 range: IPv6 ranges do not hold it
        ("2a01::1", None),  # after the last range
        ("not an address", None),
    ],
)
def test_lookup(db: IPDatabase, address: str, expected: tuple[int, str] | None) -> None:
    found = db.network(address)
    assert (None if found is None else (found.asn, found.country)) == expected


def test_lookup_gives_the_as_name(db: IPDatabase) -> None:
    found = db.network("9.9.9.9")
    assert found is not None and found.as_name == "QUAD9-AS-1"


def test_every_address_of_a_larger_table_finds_its_range(tmp_path: Path) -> None:
    rows: list[Row] = [
        (f"10.{i // 256}.{i % 256}.0", f"10.{i // 256}.{i % 256}.127", 64512 + i, "KZ", f"N{i}")
        for i in range(3000)
    ]
    with IPDatabase(write_table(tmp_path / "t.tsv", rows)) as big:
        for i in range(0, 3000, 7):
            found = big.network(f"10.{i // 256}.{i % 256}.100")
            assert found is not None and found.as_name == f"N{i}"
            assert big.network(f"10.{i // 256}.{i % 256}.200") is None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on loopback over a folder the test fills."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_update_db_through_the_cli(served: tuple[str, Path], tmp_path: Path) -> None:
    url, www = served
    write_table(www / "ip2asn-combined.tsv.gz", ROWS, compress=True)
    data = tmp_path / "data"
    result = run_cli(
        "update-db", "--url", f"{url}/ip2asn-combined.tsv.gz",
        env={"XDG_DATA_HOME": str(data)},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    path = data / "censorcheck" / "ip2asn-combined.tsv"
    assert "7 address ranges" in result.stderr and str(path) in result.stderr
    assert path.read_bytes() == table(ROWS)  # stored uncompressed, for bisecting
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with IPDatabase(path) as db:
        found = db.network("95.56.1.1")
        assert found is not None and found.asn == 9198


def test_update_db_url_from_the_environment(served: tuple[str, Path], tmp_path: Path) -> None:
    url, www = served
    write_table(www / "plain.tsv", ROWS)  # a table that is not compressed is taken too
    out = tmp_path / "t.tsv"
    result = run_cli("update-db", "-o", str(out), env={"CENSORCHECK_IPDB_URL": f"{url}/plain.tsv"})
    assert result.code == 0, result.stderr
    assert out.read_bytes() == table(ROWS)


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("page.html", b"<html>not found</html>\n", "not an ip2asn line"),
        ("unsorted.tsv", table(ROWS[2:3]) + table(ROWS[:1]), "out of order"),
        ("empty.tsv", b"", "no address ranges"),
    ],
)
def test_a_bad_download_replaces_nothing(
    served: tuple[str, Path], tmp_path: Path, name: str, body: bytes, why: str
) -> None:
    url, www = served
    (www / name).write_bytes(body)
    out = write_table(tmp_path / "kept.tsv", ROWS)
    result = run_cli("update-db", "--url", f"{url}/{name}", "-o", str(out))
    assert result.code == 2
    assert why in result.stderr
    assert out.read_bytes() == table(ROWS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.tsv", "www"]  # no leftovers


def test_a_missing_file_is_an_error(served: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = served
    result = run_cli("update-db", "--url", f"{url}/nothing.gz", "-o", str(tmp_path / "t.tsv"))
    assert result.code == 2 and "HTTP 404" in result.stderr
    assert not (tmp_path / "t.tsv").exists()


def test_download_size_is_bounded(served: tuple[str, Path], tmp_path: Path) -> None:
    url, www = served
    rows = [(f"10.0.{i}.0", f"10.0.{i}.255", 64512, "KZ", "X" * 200) for i in range(200)]
    write_table(www / "big.tsv", rows)
    out = tmp_path / "t.tsv"
    with pytest.raises(ConfigError, match="more than"):
        update(f"{url}/big.tsv", out, limit=10_000)
    assert not out.exists() and os.listdir(tmp_path) == ["www"]
    assert update(f"{url}/big.tsv", out, limit=100_000).ranges == 200
