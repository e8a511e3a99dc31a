"""The resolver file of ``dns-scan``: one resolver a line, optionally tagged.

    # comment lines and blank lines are ignored
    203.0.113.5
    203.0.113.6:5353 country=KZ asn=9198   # anything after '#' is kept as the note
    2001:db8::53 country=KZ asn=AS9198
    [2001:db8::54]:5353

An IPv6 address with a port goes in brackets. The tags are ``country=`` (two letters) and ``asn=``
(a number, ``AS`` prefix optional). A mistake is a ConfigError naming the file and the line.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from censorcheck.errors import ConfigError
from censorcheck.measure import textfile

DEFAULT_PORT = 53
_TAGS = ("country", "asn")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_ASN = re.compile(r"(?:AS)?(\d{1,10})", re.IGNORECASE)


@dataclass(frozen=True)
class ResolverSpec:
    """One resolver to scan, as the file gives it."""

    address: str  # normalised: IPv6 compressed, lower case
    port: int = DEFAULT_PORT
    country: str | None = None
    asn: int | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        """ADDRESS:PORT, with IPv6 addresses in brackets."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


def load_resolvers(path: Path, shown: str | None = None) -> list[ResolverSpec]:
    """The resolvers in the file at ``path``; ConfigError (one line, with the line) if malformed."""
    shown = shown or str(path)
    text = textfile.read_text(path, f"--resolvers {shown}", ConfigError)
    return parse_resolvers(text, shown)


def parse_resolvers(text: str, shown: str) -> list[ResolverSpec]:
    """Parse a resolver file's text; ``shown`` names it in errors."""
    found: list[ResolverSpec] = []
    first_line: dict[tuple[str, int], int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        content, _, comment = raw.partition("#")
        words = content.split()
        if not words:
            continue
        where = f"{shown} line {number}"
        spec = _resolver(words, comment.strip() or None, where)
        key = (spec.address, spec.port)
        if key in first_line:
            raise ConfigError(f"{where}: {spec.label} is already on line {first_line[key]}")
        first_line[key] = number
        found.append(spec)
    if not found:
        raise ConfigError(f"{shown}: no resolvers in the file (one IP address a line)")
    return found


def _resolver(words: list[str], note: str | None, where: str) -> ResolverSpec:
    address, port = _endpoint(words[0], where)
    tags: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        key = key.lower()
        if not sep or key not in _TAGS:
            raise ConfigError(
                f"{where}: {word!r} is not a tag (expected country=CC or asn=N after the address)"
            )
        if key in tags:
            raise ConfigError(f"{where}: {key}= given twice")
        tags[key] = value
    country = tags.get("country")
    if country is not None and not _COUNTRY.fullmatch(country):
        raise ConfigError(f"{where}: country={country!r} is not a two-letter country code")
    asn = None
    if "asn" in tags:
        match = _ASN.fullmatch(tags["asn"])
        if match is None or not 0 < int(match[1]) < 2**32:
            raise ConfigError(f"{where}: asn={tags['asn']!r} is not an AS number")
        asn = int(match[1])
    return ResolverSpec(address, port, country.upper() if country else None, asn, note)


def _endpoint(text: str, where: str) -> tuple[str, int]:
    """ADDRESS, ADDRESS:PORT, IPv6, or [IPv6]:PORT -> (normalised address, port)."""
    host = text
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"{where}: {text!r} is not ADDRESS[:PORT] ([IPv6]:PORT for IPv6)")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not an IP address (resolvers are given by address, "
            "ADDRESS[:PORT], [IPv6]:PORT)"
        ) from None
    if text.startswith("[") and ip.version != 6:
        raise ConfigError(f"{where}: only IPv6 addresses go in brackets")
    port = DEFAULT_PORT
    if port_text is not None:
        # isdigit() alone passes '²' and other scripts' digits, which int() refuses, as it
        # refuses thousands of digits: so ASCII, and at most five of them.
        digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= 5
        if not (digits and 0 < int(port_text) < 65536):
            raise ConfigError(f"{where}: port {port_text!r} is not 1 to 65535")
        port = int(port_text)
    return str(ip), port
