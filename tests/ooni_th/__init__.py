"""Test-helper answers written after the examples of ooni/spec ts-017 and probe-cli's
model/th.go, with the lab-free addresses of the verdict tables (``SITE`` is 93.184.215.14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def document(name: str) -> dict[str, Any]:
    """The answer stored as ``<name>.json``."""
    loaded: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def raw(name: str) -> bytes:
    return (HERE / f"{name}.json").read_bytes()
