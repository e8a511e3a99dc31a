"""Small IP-to-ASN tables in IPtoASN's format, built by the tests that need one."""

from __future__ import annotations

import gzip
import ipaddress
from pathlib import Path

Row = tuple[str, str, int, str, str]  # first, last, AS, country, AS name


def table(rows: list[Row]) -> bytes:
    """The table's bytes, ranges sorted as IPtoASN sorts them (IPv4 first)."""

    def key(row: Row) -> tuple[int, int]:
        first = ipaddress.ip_address(row[0])
        return first.version, int(first)

    lines = [f"{a}\t{b}\t{asn}\t{cc}\t{name}\n" for a, b, asn, cc, name in sorted(rows, key=key)]
    return "".join(lines).encode()


def write_table(path: Path, rows: list[Row], compress: bool = False) -> Path:
    data = table(rows)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def around(address: str, asn: int, cc: str, name: str, network: str) -> list[Row]:
    """``network`` as AS 64501 (a hosting network), with ``address`` alone in ``asn``."""
    net = ipaddress.ip_network(network)
    ip = ipaddress.ip_address(address)
    rows: list[Row] = [(address, address, asn, cc, name)]
    if ip > net[0]:
        rows.append((str(net[0]), str(ip - 1), 64501, "NL", "LAB-HOSTING"))
    if ip < net[-1]:
        rows.append((str(ip + 1), str(net[-1]), 64501, "NL", "LAB-HOSTING"))
    return rows
