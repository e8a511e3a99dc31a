"""The resolver file of dns-scan: what it accepts, and one-line errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from censorcheck.errors import ConfigError
from censorcheck.scan.resolvers import ResolverSpec, load_resolvers, parse_resolvers

GOOD = """\
# resolvers in KZ
203.0.113.5
203.0.113.6:5353 country=kz asn=9198   # Kazakhtelecom
2001:DB8::53 country=KZ asn=AS9198
[2001:db8::54]:5353

  198.51.100.7  asn=as64500#tight comment
"""


def test_parses_every_form() -> None:
    assert parse_resolvers(GOOD, "kz.txt") == [
        ResolverSpec("203.0.113.5"),
        ResolverSpec("203.0.113.6", 5353, "KZ", 9198, "Kazakhtelecom"),
        ResolverSpec("2001:db8::53", 53, "KZ", 9198),
        ResolverSpec("2001:db8::54", 5353),
        ResolverSpec("198.51.100.7", 53, None, 64500, "tight comment"),
    ]


def test_labels() -> None:
    assert ResolverSpec("203.0.113.5").label == "203.0.113.5:53"
    assert ResolverSpec("2001:db8::54", 5353).label == "[2001:db8::54]:5353"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("dns.example.net", "not an IP address"),
        ("203.0.113.5:0", "port '0'"),
        ("203.0.113.5:99999", "port '99999'"),
        ("203.0.113.5:", "port ''"),
        ("[203.0.113.5]:53", "only IPv6 addresses go in brackets"),
        ("[2001:db8::1]53", "not ADDRESS[:PORT]"),
        ("203.0.113.5 country=Kazakhstan", "two-letter"),
        ("203.0.113.5 asn=big", "not an AS number"),
        ("203.0.113.5 asn=0", "not an AS number"),
        ("203.0.113.5 kz", "not a tag"),
        ("203.0.113.5 city=Almaty", "not a tag"),
        ("203.0.113.5 asn=1 asn=2", "given twice"),
        ("203.0.113.1", "already on line 1"),
    ],
)
def test_bad_line_names_file_and_line(line: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_resolvers(f"203.0.113.1\n\n{line}\n", "kz-resolvers.txt")
    message = str(caught.value)
    assert message.startswith("kz-resolvers.txt line 3: "), message
    assert needle in message and "\n" not in message


def test_empty_file() -> None:
    with pytest.raises(ConfigError, match="no resolvers"):
        parse_resolvers("# nothing here\n\n", "empty.txt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_resolvers(tmp_path / "absent.txt")
