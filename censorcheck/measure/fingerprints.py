"""Blockpage fingerprints: recognising a censor's page by its body, a header or its title.

The shipped file ``censorcheck/data/fingerprints.yaml`` is read first, then each extra file
(``Settings.fingerprints``) in order. An id given again in a later file replaces the earlier
fingerprint, keeping its place in the order: that is how a user corrects a shipped one. Within
one file an id may appear once.

``contains`` ignores case; ``regex`` is searched as written, so a pattern that needs to ignore
case says ``(?i)``. That is a matter of speed: on a 1 MiB body a case-ignoring search costs about
thirty times a plain one, and every target's body is searched. Header names always ignore case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from censorcheck.errors import ConfigError, explain
from censorcheck.measure import textfile

Location = Literal["body", "header", "title"]
SHIPPED = "fingerprints.yaml"


class Fingerprint(BaseModel):
    """One known sign of a blockpage, with the public source it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        pattern=r"^[a-z0-9]+(\.[a-z0-9_]+)+$",
        description="Dotted name, country (or lab) first, e.g. ir.iframe_10_10_34_34.",
    )
    country: str = Field(
        pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code where it is seen; ZZ for none."
    )
    description: str = Field(min_length=1, description="What it is, and its public source.")
    location: Location = Field(description="Where to look: the body, one header, or the title.")
    header: str | None = Field(
        None, pattern=r"^[A-Za-z0-9-]+$", description="The header's name, for location header."
    )
    contains: str | None = Field(None, min_length=1, description="A substring, case ignored.")
    regex: str | None = Field(None, min_length=1, description="A regular expression, searched.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise ValueError(f"does not compile ({exc})") from None
            if pattern.search("") is not None:
                raise ValueError("matches empty text, so it would match every page")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Fingerprint:
        if (self.contains is None) == (self.regex is None):
            raise ValueError("give exactly one of 'contains' and 'regex'")
        if (self.location == "header") != (self.header is not None):
            raise ValueError("'header' (the header's name) goes with location 'header', and only")
        return self


@dataclass(frozen=True)
class _Compiled:
    """A fingerprint ready to match: header name and substring lower-cased, regex compiled."""

    id: str
    location: Location
    header: str | None
    needle: str | None
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, fingerprint: Fingerprint) -> _Compiled:
        return cls(
            id=fingerprint.id,
            location=fingerprint.location,
            header=fingerprint.header.lower() if fingerprint.header else None,
            needle=fingerprint.contains.lower() if fingerprint.contains else None,
            pattern=re.compile(fingerprint.regex) if fingerprint.regex else None,
        )

    def found_in(self, text: str, lowered: str) -> bool:
        """Whether the text (given also lower-cased) holds this fingerprint's pattern."""
        if self.needle is not None:
            return self.needle in lowered
        assert self.pattern is not None
        return self.pattern.search(text) is not None


class Fingerprints:
    """Fingerprints in match order, each compiled once."""

    def __init__(self, fingerprints: Iterable[Fingerprint] = ()) -> None:
        self.fingerprints: tuple[Fingerprint, ...] = tuple(fingerprints)
        self._compiled = tuple(_Compiled.of(fingerprint) for fingerprint in self.fingerprints)

    def __len__(self) -> int:
        return len(self.fingerprints)

    def __iter__(self) -> Iterator[Fingerprint]:
        return iter(self.fingerprints)

    def get(self, fingerprint_id: str) -> Fingerprint | None:
        """The fingerprint with this id, for describing a match."""
        return next((fp for fp in self.fingerprints if fp.id == fingerprint_id), None)

    def match(self, headers: Sequence[tuple[str, str]], body: str, title: str | None) -> str | None:
        """The id of the first fingerprint the response shows, or None.

        ``headers`` are (name, value) pairs as received; a header fingerprint matches any value
        of its header. The body is lower-cased at most once per call, however many fingerprints.
        """
        lowered_body: str | None = None
        for fp in self._compiled:
            if fp.location == "body":
                if fp.needle is not None and lowered_body is None:
                    lowered_body = body.lower()
                hit = fp.found_in(body, lowered_body or "")
            elif fp.location == "title":
                hit = title is not None and fp.found_in(title, title.lower())
            else:
                hit = any(
                    fp.found_in(value, value.lower())
                    for name, value in headers
                    if name.lower() == fp.header
                )
            if hit:
                return fp.id
        return None


def load_fingerprints(extra: Sequence[Path] = ()) -> Fingerprints:
    """The shipped fingerprints, then those of each extra file; ConfigError on any mistake.

    A later file's fingerprint replaces an earlier one with the same id, in the earlier one's
    place in the match order.
    """
    shipped = resources.files("censorcheck") / "data" / SHIPPED
    sources = [(shipped.read_text(encoding="utf-8"), f"censorcheck/data/{SHIPPED}")]
    sources += [(textfile.read_text(path, str(path), ConfigError), str(path)) for path in extra]
    by_id: dict[str, Fingerprint] = {}
    for text, shown in sources:
        for fingerprint in _parse(text, shown):
            by_id[fingerprint.id] = fingerprint
    return Fingerprints(by_id.values())


def _parse(text: str, shown: str) -> list[Fingerprint]:
    data, node = textfile.parse_yaml(text, shown, ConfigError)
    if not isinstance(data, list):
        raise ConfigError(f"{shown}: expected a list of fingerprints")
    if not data:
        raise ConfigError(f"{shown}: the file has no fingerprints")
    found: list[Fingerprint] = []
    lines: dict[str, str] = {}
    for index, (item, item_node) in enumerate(zip(data, textfile.item_nodes(node), strict=True)):
        line = textfile.line_of(item_node)
        at = textfile.locator(shown, textfile.key_nodes(item_node, shown, ConfigError), line)
        named = _name(item, index)
        if not isinstance(item, dict):
            raise ConfigError(f"{at(None)}: {named}: expected a mapping of id, country, ...")
        try:
            fingerprint = Fingerprint.model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = error["loc"][0] if error["loc"] else None
            raise ConfigError(f"{at(key)}: {named}: {_explain(error)}") from None
        if fingerprint.id in lines:
            raise ConfigError(f"{at('id')}: {named}: id already used at {lines[fingerprint.id]}")
        lines[fingerprint.id] = at("id").removeprefix(f"{shown} ")
        found.append(fingerprint)
    return found


def _name(item: Any, index: int) -> str:
    """How an entry is named in errors: by its id when it has one, else by its position."""
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return f"fingerprint {item['id']!r}"
    return f"fingerprint {index + 1}"


def _explain(error: ErrorDetails) -> str:
    """One pydantic error as a short phrase."""
    field = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {field!r} (expected {', '.join(Fingerprint.model_fields)})"
    if error["type"] == "missing":
        return f"{field!r} is missing"
    message = explain(error)
    return f"{field}: {message}" if field else message
