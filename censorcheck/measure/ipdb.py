"""The offline IP-to-ASN-and-country database: IPtoASN's ``ip2asn-combined`` table.

One line per address range, tab-separated: first address, last address, AS number, country
code, AS description; IPv4 ranges first, then IPv6, each in ascending order, none overlapping.
AS 0 marks space that no AS announces. ``censorcheck update-db`` keeps the table uncompressed in
the user's data folder, so that a lookup is a binary search over the file's bytes: a handful of
reads, not a parse of half a million lines at every run.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

FILE_NAME = "ip2asn-combined.tsv"
SOURCE = "IPtoASN ip2asn-combined (PDDL 1.0)"


def default_path() -> Path:
    """Where ``update-db`` puts the table: the user's data folder."""
    from platformdirs import user_data_path

    return user_data_path("censorcheck") / FILE_NAME


@dataclass(frozen=True)
class Network:
    """What the table says of one address."""

    asn: int
    as_name: str | None
    country: str | None


def _key(text: bytes) -> tuple[int, int]:
    address = ipaddress.ip_address(text.decode("ascii"))
    return address.version, int(address)


def parse_line(line: bytes) -> tuple[tuple[int, int], tuple[int, int], Network]:
    """(first, last, network) of one line; ValueError when it is not one of the table's."""
    fields = line.rstrip(b"\r\n").split(b"\t")
    if len(fields) < 5:
        raise ValueError("expected 5 tab-separated fields")
    first, last = _key(fields[0]), _key(fields[1])
    if first[0] != last[0] or first > last:
        raise ValueError("not an address range")
    country = fields[3].decode("ascii", "replace").upper()
    name = fields[4].decode("utf-8", "replace").strip()
    return (
        first,
        last,
        Network(
            asn=int(fields[2]),
            as_name=name if name and name != "Not routed" else None,
            country=country if len(country) == 2 and country.isalpha() else None,
        ),
    )


class IPDatabase:
    """An open table; look addresses up with :meth:`network`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("rb")
        self._size = os.fstat(self._file.fileno()).st_size

    @property
    def label(self) -> str:
        """The file's name and the day it was fetched, as the run document records it."""
        when = datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc)
        return f"{self.path.name} ({when:%Y-%m-%d})"

    def _line_from(self, position: int) -> tuple[int, bytes]:
        """The first whole line that starts at or after ``position``, and where it starts."""
        if position == 0:
            self._file.seek(0)
        else:
            self._file.seek(position - 1)
            self._file.readline()  # the rest of the line ``position`` falls in
        start = self._file.tell()
        return start, self._file.readline()

    def network(self, address: str) -> Network | None:
        """The AS and country of ``address``; None where the table has none (or AS 0)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        wanted = (ip.version, int(ip))
        found: bytes | None = None
        low, high = 0, self._size
        # The last line whose first address is at most the one wanted, found by bisecting the
        # file's byte offsets; each step reads one line.
        while low < high:
            middle = (low + high) // 2
            start, line = self._line_from(middle)
            try:
                first = _key(line.split(b"\t", 1)[0]) if line else None
            except ValueError:
                return None  # not the table we expect; update-db checks it, so say nothing
            if first is None or first > wanted:
                high = middle
            else:
                found = line
                low = start + len(line)
        if found is None:
            return None
        try:
            _, last, net = parse_line(found)
        except ValueError:
            return None
        if wanted > last or net.asn == 0:
            return None
        return net

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> IPDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
