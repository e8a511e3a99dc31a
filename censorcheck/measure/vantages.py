"""Vantages: named ways out to the Internet, kept in a small YAML file.

A vantage is how traffic leaves (directly, from a source address, or through a proxy), which
resolvers it asks, and what is known of the network (country, ASN, type, notes). The user's file
lives in the platform's config directory; a ``censorcheck-vantages.yaml`` in the working
directory (a project's own) is read after it, and its vantages win on a name clash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from censorcheck.errors import ConfigError, first_error
from censorcheck.measure import textfile
from censorcheck.settings import OptionalIP, Settings

PROJECT_FILE = "censorcheck-vantages.yaml"
NetworkType = Literal[
    "home", "mobile", "office", "university", "public-wifi", "datacenter", "vpn", "tor", "other"
]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Vantage(BaseModel):
    """One vantage as configured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source_address: OptionalIP = None
    proxy: str | None = Field(None, description="socks5://, socks5h:// or http:// HOST:PORT.")
    resolvers: list[str] = Field(default_factory=list, description="Empty: the system's.")
    country: str | None = Field(None, description="ISO 3166 alpha-2 code.")
    asn: int | None = Field(None, ge=0, lt=2**32)
    network_type: NetworkType | None = None
    notes: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r}: a name is letters, digits, '.', '_' and '-'")
        return value

    @field_validator("country")
    @classmethod
    def _valid_country(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError(f"{value!r}: a country is a two-letter ISO 3166 code, e.g. KZ")
        return value.upper() if value else value

    def apply(self, base: Settings) -> Settings:
        """``base`` with this vantage's way out and resolvers; validated like any settings."""
        values = base.model_dump()
        values.update(
            vantage=self.name,
            source_address=self.source_address,
            proxy=self.proxy,
            resolvers=self.resolvers or ["system"],
        )
        try:
            return Settings(**values)
        except ValidationError as exc:
            raise ConfigError(f"vantage {self.name}: {first_error(exc)}") from exc


class VantageFile(BaseModel):
    """The file's shape: ``vantages:`` and a list."""

    model_config = ConfigDict(extra="forbid")

    vantages: list[Vantage] = Field(default_factory=list)


def user_file() -> Path:
    """The user's vantage file (it need not exist)."""
    override = os.environ.get("CENSORCHECK_VANTAGES")
    if override:
        return Path(override)
    return platformdirs.user_config_path("censorcheck") / "vantages.yaml"


def read_file(path: Path) -> list[Vantage]:
    """The vantages in one file; [] when it does not exist."""
    if not path.exists():
        return []
    # The shared reader and YAML parser: their errors are one line (PyYAML's own span several,
    # and deep nesting or a control character must not escape as a traceback).
    text = textfile.read_text(path, str(path), ConfigError)
    data: Any = textfile.parse_yaml(text, str(path), ConfigError)[0] or {}
    try:
        parsed = VantageFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc)}") from exc
    names = [v.name for v in parsed.vantages]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{path}: vantage {dup} is defined twice")
    return parsed.vantages


def load(extra: Sequence[Path] = ()) -> dict[str, Vantage]:
    """Every configured vantage by name: the user's file, the project's, then each of ``extra``
    in order (a later file wins on a name)."""
    found: dict[str, Vantage] = {}
    for path in (user_file(), Path.cwd() / PROJECT_FILE, *extra):
        found.update((v.name, v) for v in read_file(path))
    return found


def save(path: Path, vantages: list[Vantage]) -> None:
    """Write ``vantages`` to ``path`` atomically, readable by the user alone (it may name a
    proxy with credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"vantages": [v.model_dump(exclude_none=True, exclude_defaults=True) for v in vantages]}
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# censorcheck vantages: see `censorcheck vantage --help`\n")
        yaml.safe_dump(data, out, sort_keys=False, allow_unicode=True)
    tmp.replace(path)


def add(path: Path, vantage: Vantage, replace: bool = False) -> None:
    """Add ``vantage`` to the file at ``path``; an existing name needs ``replace``."""
    # A proxy with the system resolver would look names up on the local network: refuse now,
    # not at the first run.
    vantage.apply(Settings())
    current = read_file(path)
    if any(v.name == vantage.name for v in current) and not replace:
        raise ConfigError(f"vantage {vantage.name} exists in {path} (--replace to overwrite)")
    save(path, [v for v in current if v.name != vantage.name] + [vantage])


def remove(path: Path, name: str) -> None:
    current = read_file(path)
    if not any(v.name == name for v in current):
        raise ConfigError(f"no vantage {name} in {path}")
    save(path, [v for v in current if v.name != name])
