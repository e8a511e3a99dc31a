"""Target lists -> validated, normalised Targets.

An argument is a list file (our YAML, the Citizen Lab CSV, or plain text), a URL, or a bare
domain name. Every mistake is one line that names the file and line, e.g.
``targets/kz.yaml line 7: 'htps://x.com' is not a valid URL (scheme must be http or https)``.
A mistake in one row of a list is a TargetError by default (strict); given an ``on_skip``
callback, the loader hands it that line instead and goes on with the next row, so that one bad
row among forty thousand costs that row, not the list. A file that cannot be read as a list at
all is always an error.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote, urlsplit

import idna

from censorcheck.errors import TargetError
from censorcheck.measure import textfile
from censorcheck.models import Status, Target

LIST_SUFFIXES = (".yaml", ".yml", ".csv", ".txt")
# Citizen Lab's category codes (test-lists, lists/00-LEGEND-new_category_codes.csv).
CATEGORY_CODES = frozenset({
    "ALDR", "REL", "PORN", "PROV", "POLR", "HUMR", "ENV", "MILX", "HATE", "NEWS", "XED", "PUBH",
    "GMB", "ANON", "DATE", "GRP", "LGBT", "FILE", "HACK", "COMT", "MMED", "HOST", "SRCH", "GAME",
    "CULTR", "ECON", "GOVT", "COMM", "CTRL", "IGO", "MISC",
})  # fmt: skip
STATUSES = frozenset(get_args(Status))

_LIST_KEYS = ("name", "description", "targets")
_ENTRY_KEYS = ("url", "category", "note", "expect", "expect_quic")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# What may stay unescaped in a path or query (RFC 3986 pchar, "/", "?", and existing escapes).
_URL_SAFE = "/?:@!$&'()*+,;=-._~%"
_COMMENT = re.compile(r"(?:^|\s)#")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_NOT_LISTS = frozenset({"fingerprints"})


class _Invalid(ValueError):
    """Why a text is not a usable URL; the caller adds the file, line and text."""


# Told of each row left out when skipping is allowed: the one-line reason, file and line in it.
OnSkip = Callable[[str], None]


@dataclass(frozen=True)
class _Bad:
    """A row that is not a target, and why (the file and line included)."""

    reason: str


@dataclass(frozen=True)
class _Entry:
    """One target as written in a list, its other fields already checked."""

    where: str | None  # "FILE line N"; None for a command-line argument
    text: str
    category: str | None = None
    note: str | None = None
    expect: Status | None = None
    expect_quic: Status | None = None


def normalise_url(text: str) -> str:
    """The canonical form of an http(s) URL, or TargetError saying why it is not one.

    Scheme and host lower-case, host IDNA-encoded, default port dropped, path at least ``/``,
    non-ASCII in path and query percent-encoded. A fragment is dropped, unless it is a hashbang
    (``#!/...``): those name distinct pages of one site (``twitter.com/#!/a`` and ``#!/b``), so
    they stay part of the target. URLs with credentials (``user:pass@``) are refused: in a
    target list they are a mistake.
    """
    try:
        return _split(text)[0]
    except _Invalid as exc:
        raise TargetError(f"{text!r} is not a valid URL ({exc})") from None


def load_targets(
    args: Sequence[str], base: Path | None = None, on_skip: OnSkip | None = None
) -> list[Target]:
    """Targets from files, URLs and bare domains, in first-seen order, duplicates merged.

    An argument is a file if it exists or ends in .yaml, .yml, .csv or .txt (relative paths are
    taken from ``base``, by default the working directory); a URL if it has a scheme; otherwise
    a domain name, measured as ``https://DOMAIN/``. Targets with the same normalised URL are
    merged: the first keeps its fields and takes missing ones from later ones. A bad row of a
    list raises TargetError, or with ``on_skip`` is reported to it and left out.
    """
    merged: dict[str, Target] = {}
    for arg in args:
        for target in _load_argument(arg, base, on_skip):
            first = merged.get(target.url)
            merged[target.url] = target if first is None else _merge(first, target)
    return list(merged.values())


def shipped_list(name: str = "kz") -> Path:
    """The path of a target list shipped in the package (``censorcheck/data/NAME.yaml``)."""
    data = resources.files("censorcheck") / "data"
    found = data / f"{name}.yaml"
    if name in _NOT_LISTS or not re.fullmatch(r"[a-z0-9_-]+", name) or not found.is_file():
        names = (entry.name[:-5] for entry in data.iterdir() if entry.name.endswith(".yaml"))
        known = sorted(n for n in names if n not in _NOT_LISTS)
        raise TargetError(f"no shipped target list {name!r} (there are: {', '.join(known)})")
    if not isinstance(found, Path):
        raise TargetError(f"shipped list {name!r} is inside an archive, not a file on disk")
    return found


# --- arguments and files -------------------------------------------------------------------


def _load_argument(arg: str, base: Path | None, on_skip: OnSkip | None) -> list[Target]:
    if _SCHEME.match(arg):
        return [_target(_Entry(None, arg))]
    path = Path(arg)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        exists = path.exists()
    except OSError:  # a name too long for a path (ENAMETOOLONG) names no file
        exists = False
    if exists or arg.lower().endswith(LIST_SUFFIXES):
        return _load_file(path, arg, on_skip)
    try:
        return [_target(_Entry(None, arg))]
    except TargetError:
        raise TargetError(f"{arg!r} is not a file, a URL or a domain name") from None


def _load_file(path: Path, shown: str, on_skip: OnSkip | None) -> list[Target]:
    text = textfile.read_text(path, shown, TargetError)
    return parse_list(text, shown, path.suffix.lower(), on_skip)


def parse_list(text: str, shown: str, suffix: str, on_skip: OnSkip | None = None) -> list[Target]:
    """The targets of a list's ``text``, read by its ``suffix`` (``.yaml``, ``.csv``...) and
    named ``shown`` in messages; bad rows as for :func:`load_targets`."""
    reader = _READERS.get(suffix)
    if reader is None:
        kind = f"{suffix} files" if suffix else "files without an extension"
        raise TargetError(f"{shown}: cannot read {kind} as target lists (use .yaml, .csv or .txt)")
    targets: list[Target] = []
    skipped = 0
    for entry in reader(text, shown):
        try:
            if isinstance(entry, _Bad):
                raise TargetError(entry.reason)
            targets.append(_target(entry))
        except TargetError as exc:
            if on_skip is None:
                raise
            on_skip(str(exc))
            skipped += 1
    if not targets:
        why = f" ({skipped} rows skipped)" if skipped else ""
        raise TargetError(f"{shown}: the list has no targets{why}")
    return targets


def _read_yaml(text: str, shown: str) -> Iterator[_Entry | _Bad]:
    data, node = textfile.parse_yaml(text, shown, TargetError)
    if data is None:
        raise TargetError(f"{shown}: the file is empty")
    if not isinstance(data, dict):
        raise TargetError(f"{shown} line 1: expected a mapping with a 'targets:' list")
    keys = textfile.key_nodes(node, shown, TargetError)
    at = textfile.locator(shown, keys, 1)
    textfile.refuse_unknown(data, _LIST_KEYS, at, TargetError)
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise TargetError(f"{at(key)}: {key!r} must be text")
    if not isinstance(data.get("targets"), list):
        raise TargetError(f"{at('targets')}: expected 'targets:' with a list of targets")
    for item, item_node in zip(
        data["targets"], textfile.item_nodes(keys["targets"][1]), strict=True
    ):
        line = textfile.line_of(item_node)
        if isinstance(item, str):
            yield _Entry(f"{shown} line {line}", item)
        elif isinstance(item, dict):
            try:
                item_keys = textfile.key_nodes(item_node, shown, TargetError)
                yield _yaml_entry(item, textfile.locator(shown, item_keys, line))
            except TargetError as exc:
                yield _Bad(str(exc))
        else:
            yield _Bad(f"{shown} line {line}: a target is a URL, or a mapping with 'url:'")


def _yaml_entry(item: dict[Any, Any], at: textfile.Locator) -> _Entry:
    textfile.refuse_unknown(item, _ENTRY_KEYS, at, TargetError)
    if item.get("url") is None:
        raise TargetError(f"{at(None)}: target has no 'url'")
    for key, value in item.items():
        if value is not None and not isinstance(value, str):
            raise TargetError(f"{at(key)}: {key!r} must be text (quote it)")
    category, expect = item.get("category"), item.get("expect")
    if category is not None and category not in CATEGORY_CODES:
        raise TargetError(
            f"{at('category')}: unknown category {category!r} (use a Citizen Lab code: NEWS, ...)"
        )
    for key in ("expect", "expect_quic"):
        if (value := item.get(key)) is not None and value not in STATUSES:
            choices = ", ".join(sorted(STATUSES))
            raise TargetError(f"{at(key)}: {key} must be one of {choices}, not {value!r}")
    return _Entry(
        at("url"), item["url"], category, item.get("note"), expect, item.get("expect_quic")
    )


def _read_csv(text: str, shown: str) -> Iterator[_Entry | _Bad]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            return
        columns = [cell.strip().lower() for cell in header]
        if "url" not in columns:
            raise TargetError(
                f"{shown} line {reader.line_num}: no 'url' column in the header "
                "(expected url,category_code,category_description,date_added,source,notes)"
            )
        index = {name: i for i, name in reversed(list(enumerate(columns)))}
        previous = reader.line_num
        for row in reader:
            line, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(columns):
                yield _Bad(
                    f"{shown} line {line}: {len(row)} fields, but the header has {len(columns)}"
                )
                continue
            fields = {name: row[i].strip() for name, i in index.items() if i < len(row)}
            url, category, note = (fields.get(name) for name in ("url", "category_code", "notes"))
            if not url:
                yield _Bad(f"{shown} line {line}: the url field is empty")
                continue
            yield _Entry(f"{shown} line {line}", url, category or None, note or None)
    except csv.Error as exc:
        raise TargetError(f"{shown} line {reader.line_num}: invalid CSV ({exc})") from None


def _read_txt(text: str, shown: str) -> Iterator[_Entry | _Bad]:
    for number, raw in enumerate(text.split("\n"), start=1):
        entry = _COMMENT.split(raw, maxsplit=1)[0].strip()
        if entry:
            yield _Entry(f"{shown} line {number}", entry)


_READERS: dict[str, Callable[[str, str], Iterator[_Entry | _Bad]]] = {
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
    ".csv": _read_csv,
    ".txt": _read_txt,
}


def _target(entry: _Entry) -> Target:
    try:
        url, domain = _split_entry(entry.text)
    except _Invalid as exc:
        kind = "URL" if _SCHEME.match(entry.text) else "URL or domain name"
        where = f"{entry.where}: " if entry.where else ""
        raise TargetError(f"{where}{entry.text!r} is not a valid {kind} ({exc})") from None
    return Target(
        url=url,
        domain=domain,
        category=entry.category,
        note=entry.note,
        expect=entry.expect,
        expect_quic=entry.expect_quic,
    )


def _merge(first: Target, later: Target) -> Target:
    missing = {
        field: getattr(later, field)
        for field in ("category", "note", "expect")
        if getattr(first, field) is None and getattr(later, field) is not None
    }
    return first.model_copy(update=missing) if missing else first


# --- URLs ----------------------------------------------------------------------------------


def _split_entry(text: str) -> tuple[str, str]:
    """(URL, domain) from a URL, or from a bare domain (with an optional path) as https."""
    if _SCHEME.match(text):
        return _split(text)
    url, domain = _split(f"https://{text}")
    if "." not in domain and ":" not in domain:
        raise _Invalid("a bare domain name needs a dot")
    return url, domain


def _split(text: str) -> tuple[str, str]:
    """(normalised URL, host) of an http(s) URL; _Invalid with the reason otherwise."""
    if not text:
        raise _Invalid("it is empty")
    if any(ch.isspace() for ch in text):
        raise _Invalid("it contains spaces")
    if "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise _Invalid("it contains a backslash or a control character")
    try:
        parts = urlsplit(text)
    except ValueError:
        # urllib's own messages differ between Python releases; say it in ours.
        if "[" in text and "]" not in text.split("[", 1)[1]:
            raise _Invalid("an IPv6 address must be closed with ']'") from None
        raise _Invalid("it cannot be split into scheme, host and path") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Invalid("scheme must be http or https")
    if "@" in parts.netloc:
        raise _Invalid("it contains credentials; remove the part up to '@'")
    host, port = _split_netloc(parts.netloc)
    domain, url_host = _host(host)
    default_port = {"http": 80, "https": 443}[scheme]
    authority = url_host if port in (None, default_port) else f"{url_host}:{port}"
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    # A hashbang fragment names a page (the site's script reads it); any other fragment is a
    # place within the page, and two URLs differing only there are one target.
    fragment = f"#{quote(parts.fragment, safe=_URL_SAFE)}" if parts.fragment.startswith("!") else ""
    return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "") + fragment, domain


def _split_netloc(netloc: str) -> tuple[str, int | None]:
    colon = netloc.rfind(":")
    host, port = (
        (netloc[:colon], netloc[colon + 1 :]) if colon > netloc.rfind("]") else (netloc, "")
    )
    # int() refuses thousands of digits with a ValueError of its own: five are enough.
    digits = port.isascii() and port.isdigit() and len(port) <= 5
    if port and not (digits and 0 < int(port) < 65536):
        raise _Invalid(f"bad port {port!r}")
    return host, int(port) if port else None


def _host(host: str) -> tuple[str, str]:
    """(domain, form for the URL) of a host: an IP literal or a DNS name, IDNA-encoded."""
    if not host:
        raise _Invalid("it has no host")
    if host.startswith("["):
        if "%" in host:
            raise _Invalid(f"{host!r} has a zone index, which only means something locally")
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _Invalid(f"{host!r} is not a valid IPv6 address") from None
        return address.compressed, f"[{address.compressed}]"
    with contextlib.suppress(ValueError):
        address4 = str(ipaddress.IPv4Address(host))
        return address4, address4
    name = host[:-1] if host.endswith(".") else host
    try:
        encoded = idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _Invalid(f"host {host!r} is not a valid domain name") from None
    labels = encoded.split(".")
    if len(encoded) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _Invalid(f"host {host!r} is not a valid domain name")
    if labels[-1].isdigit():
        raise _Invalid(f"host {host!r} is not a valid IPv4 address")
    return encoded, encoded
