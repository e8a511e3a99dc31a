"""Reading the user's own files (target lists, fingerprints) for one-line, line-numbered errors.

Each function takes ``shown``, the file's name as the user wrote it, and the error class to raise,
so ``targets.py`` raises TargetError and ``fingerprints.py`` ConfigError with the same wording.
YAML line numbers come from the composed node tree: the data is constructed from that same tree,
so a list's items and a mapping's keys can be traced back to the line they were written on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from censorcheck.errors import CensorcheckError

Locator = Callable[[object], str]
"""Gives "FILE line N" for a key of one mapping."""


# A target list or fingerprint file is text a person wrote; anything larger is a mistake
# (or /dev/zero) and must not be read into memory.
MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20


def read_text(path: Path, shown: str, error: type[CensorcheckError]) -> str:
    """The file's text (UTF-8, byte-order mark dropped, newlines as ``\\n``), or one-line error."""
    try:
        # Inside the try: a name too long for the system (ENAMETOOLONG) fails even these.
        if path.is_dir():
            raise error(f"{shown}: is a directory, not a file")
        if path.exists() and not path.is_file():
            raise error(f"{shown}: not a regular file")
        # In chunks: read(MAX_BYTES + 1) would set aside 16 MiB for a file of a few bytes.
        chunks: list[bytes] = []
        size = 0
        with path.open("rb") as f:
            while size <= MAX_BYTES and (chunk := f.read(_CHUNK)):
                chunks.append(chunk)
                size += len(chunk)
        if size > MAX_BYTES:
            raise error(f"{shown}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        data = b"".join(chunks)
        text = data.decode("utf-8-sig")
        return text.replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise error(f"{shown}: no such file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    except ValueError:  # open() refuses a name with a NUL in it: no such file can exist
        raise error(f"{shown}: no such file (a file name cannot hold a NUL)") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read it ({exc.strerror or exc})") from None


def parse_yaml(
    text: str, shown: str, error: type[CensorcheckError]
) -> tuple[Any, yaml.Node | None]:
    """The document's data and its node tree (None for an empty document), with safe tags only."""
    # The reader refuses control characters as soon as it is built, so that is inside the try.
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is not None:
            _refuse_unsafe_tags(node, shown, error)
        data = None if node is None else loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise error(f"{shown} line {line}: invalid YAML (control character U+{char:04X})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown} line {mark.line + 1}" if mark is not None else shown
        raise error(f"{where}: invalid YAML ({_one_line(exc.problem or exc.context)})") from None
    except yaml.YAMLError as exc:
        raise error(f"{shown}: invalid YAML ({_one_line(str(exc))})") from None
    except RecursionError:
        raise error(f"{shown}: invalid YAML (nested too deeply)") from None
    except ValueError:
        # PyYAML builds ints and dates with int() and datetime, whose ValueErrors it lets pass.
        raise error(
            f"{shown}: invalid YAML (a number too long, or a date that does not exist)"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def _refuse_unsafe_tags(root: yaml.Node, shown: str, error: type[CensorcheckError]) -> None:
    """Name the first tag the safe loader has no constructor for (``!!python/object``...)."""
    known = yaml.SafeLoader.yaml_constructors
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases make the tree a graph
            continue
        seen.add(id(node))
        if node.tag not in known:
            raise error(f"{shown} line {line_of(node)}: tag {node.tag!r} is not allowed")
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def item_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    """The items of a sequence node, in order; empty for anything else."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def key_nodes(
    node: yaml.Node | None, shown: str, error: type[CensorcheckError]
) -> dict[str, tuple[int, yaml.Node]]:
    """Each text key of a mapping node -> (its line, its value node). A repeated key is an error.

    PyYAML keeps the last of two equal keys without a word; in a hand-written list that is a
    mistake (two ``note:`` lines), so it is refused here.
    """
    found: dict[str, tuple[int, yaml.Node]] = {}
    if not isinstance(node, yaml.MappingNode):
        return found
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        name = str(key.value)
        if name in found:
            raise error(f"{shown} line {line_of(key)}: key {name!r} given twice")
        found[name] = (line_of(key), value)
    return found


def locator(shown: str, keys: dict[str, tuple[int, yaml.Node]], line: int) -> Locator:
    """A Locator for a mapping whose ``key_nodes`` are ``keys``; absent keys get ``line``."""

    def at(key: object) -> str:
        return f"{shown} line {keys[key][0] if isinstance(key, str) and key in keys else line}"

    return at


def refuse_unknown(
    data: dict[Any, Any], allowed: tuple[str, ...], at: Locator, error: type[CensorcheckError]
) -> None:
    """Raise ``error`` at the first key of ``data`` not in ``allowed``: typo protection."""
    for key in data:
        if key not in allowed:
            raise error(f"{at(key)}: unknown key {key!r} (expected {', '.join(allowed)})")


def _one_line(text: str | None) -> str:
    return " ".join((text or "syntax error").split())
