"""Generators of hostile input: random bytes, text assembled from awkward pieces, and mutations
of valid files, encoded as a careless editor or a hostile peer would (BOMs, CRLF, NULs, other
encodings)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Pieces that have broken parsers elsewhere: control characters, byte-order marks, odd line
# ends, IDNA that does not encode, ports out of range or not ASCII, IPv6 literals good and bad,
# YAML and CSV syntax, and numbers too long for int().
PIECES = (
    "\x00", "\x01", "\x1b[31m", "\x7f", "\ufeff", "\ufffe", "\r\n", "\r", "\n", "\t", " ", "\u2028",
    "\x85", "\ud7ff", "\U0010ffff", "#", ",", '"', "'", ":", "- ", "? ", "&a ", "*a",
    "!!python/object:os.system", "!!binary", "<<: *a", "{", "}", "[", "]", "|", ">", "%YAML 1.1",
    "---", "...", "~", "null",
    "https://", "http://", "ftp://", "udp://", "tcp://", "tls://", "https://a.example/",
    "xn--", "xn--zz", "xn--ls8h", "a..b", "-a.example", "a-.example", "ß.example", "☃.example",
    "\u0301.example", "a\u200db.example", "ＡＢ.example", "١٢٣.example", "x" * 64 + ".example",
    ".".join(["a"] * 130), ":0", ":65536", ":99999999999999999999", ":-1", ": 80", ":٣", ":+1",
    ":0x50", "[::1]", "[::1]:443", "[fe80::1%eth0]", "[::ffff:1.2.3.4]", "[1:2:3]", "[::1",
    "[v1.x]", "::1", "1.2.3.4", "1.2.3", "01.02.03.004", "999.1.1.1", "0x7f.1", "@", "user:pw@",
    "%00", "%zz", "\\", "?", "?q=1", "#frag", "url", "category_code", "NEWS", "expect",
    "blocked", "targets:", "vantages:", "name:", "url:", "id:", "1" * 5000, "-1e999", "1e999",
    "NaN", "true", "[[[[[[[[[[", "{{{{{{{{", "a: [", "\\u0000", "\\ud800",
)  # fmt: skip
LINE_ENDS = ("\n", "\r\n", "\r")


@st.composite
def awkward_text(draw: st.DrawFn, max_pieces: int = 40) -> str:
    """Text built from PIECES and arbitrary characters."""
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(PIECES), st.text(max_size=12)),
            max_size=max_pieces,
        )
    )
    return "".join(parts)


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """``text`` as bytes the way a file might hold it: line ends rewritten, a BOM or not, UTF-8
    mostly, now and then another encoding or stray bytes."""
    end = draw(st.sampled_from(LINE_ENDS))
    if end != "\n":
        text = text.replace("\n", end)
    encoding = draw(st.sampled_from(("utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1")))
    data = text.encode(
        encoding, errors="surrogatepass" if encoding.startswith("utf-") else "replace"
    )
    if draw(st.booleans()) and draw(st.booleans()):
        data = draw(st.binary(max_size=8)) + data + draw(st.binary(max_size=8))
    return data


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, max_edits: int = 8) -> bytes:
    """``seed`` after a few random edits: bytes flipped, spans cut, doubled or moved, pieces
    inserted, the end cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(("flip", "cut", "double", "insert", "piece", "truncate")))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "double":
            span = data[at : at + draw(st.integers(1, 256))]
            data[at:at] = span * draw(st.integers(1, 4))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "piece":
            data[at:at] = draw(st.sampled_from(PIECES)).encode("utf-8", "surrogatepass")
        else:
            del data[at:]
    return bytes(data)


@st.composite
def file_bytes(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """The contents of a user's file: random bytes, awkward text, or a valid file mutated."""
    kind = draw(st.sampled_from(("bytes", "text", "mutated", "mutated", "mutated")))
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind == "text":
        return draw(encoded(draw(awkward_text())))
    return draw(mutated(draw(st.sampled_from(seeds))))


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value, nested."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(PIECES),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
        ),
        max_leaves=max_leaves,
    )


@st.composite
def json_mutated(draw: st.DrawFn, seed: Any) -> Any:
    """``seed`` (a JSON document) with some values replaced, removed or added, the shape
    otherwise intact, so that a model's validation is reached rather than the JSON parser."""
    doc = json.loads(json.dumps(seed))
    for _ in range(draw(st.integers(1, 5))):
        path = []
        node = doc
        while isinstance(node, (dict, list)) and node and draw(st.integers(0, 3)) > 0:
            key = draw(
                st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
            )
            path.append((node, key))
            node = node[key]
        if not path:
            continue
        parent, key = path[-1]
        action = draw(st.sampled_from(("replace", "replace", "remove", "add")))
        if action == "replace":
            parent[key] = draw(json_values())
        elif action == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values())
        else:
            parent.append(draw(json_values()))
    return doc


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    """``depth`` openers then as many closers: deep nesting for recursive parsers."""
    return opener * depth + closer * depth
