"""The few exceptions that reach a user. Each carries a one-line message and an exit code."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any


class CensorcheckError(Exception):
    """A problem the user can fix; the CLI prints ``error: <message>`` and exits."""

    exit_code = 2


class TargetError(CensorcheckError):
    """A target list or target argument is malformed."""


class ConfigError(CensorcheckError):
    """An option has a value that cannot work (bad resolver URI, unreadable CA bundle, ...)."""


class NothingMeasured(CensorcheckError):
    """No measurement was possible at all, e.g. no probe resolver answered."""

    exit_code = 3


class StoreError(CensorcheckError):
    """Results could not be written."""

    exit_code = 4


class ScheduleError(CensorcheckError):
    """A schedule could not be installed, listed or removed (no systemctl, crontab failed, ...)."""


# Pydantic's messages change between its releases, so what a user reads (and the tests check)
# is written here from the error's type, which is part of pydantic's stable API.
_PHRASES: dict[str, str] = {
    "missing": "is missing",
    "extra_forbidden": "is not a known key",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "datetime_type": "must be a date and time",
    "datetime_parsing": "must be a date and time (ISO 8601)",
    "datetime_from_date_parsing": "must be a date and time (ISO 8601)",
    "json_invalid": "is not valid JSON",
    "json_type": "is not valid JSON",
    "ip_any_address": "must be an IP address",
    "ip_v4_address": "must be an IPv4 address",
    "ip_v6_address": "must be an IPv6 address",
    "ip_any_network": "must be an IP network",
    "url_parsing": "must be a URL",
    "url_type": "must be a URL",
    "none_required": "must be empty",
}

_BOUNDS: dict[str, str] = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_pattern_mismatch": "must match {pattern}",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
}


def explain(error: Mapping[str, Any]) -> str:
    """One pydantic error detail (``exc.errors()[i]``) as a short phrase in our own words.

    Errors raised by our own validators (``ValueError`` in a model) keep their message, which
    is ours; a type this table does not know falls back to pydantic's message.
    """
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in context:
        return str(context["error"])
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind in ("string_too_short", "too_short") and context.get("min_length") == 1:
        return "must not be empty"
    if kind in _BOUNDS:
        with contextlib.suppress(KeyError, IndexError, ValueError):
            return _BOUNDS[kind].format(**context)
    return str(error.get("msg", "invalid value"))


def where(error: Mapping[str, Any], sep: str = ".") -> str:
    """The error's location in the input (``a.b.0``), or '' for the whole value."""
    return sep.join(str(part) for part in error.get("loc", ()))


def first_error(exc: Exception, sep: str = ".") -> str:
    """``place: phrase`` for the first error of a pydantic ValidationError."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return str(exc)
    place = where(errors[0], sep)
    phrase = explain(errors[0])
    return f"{place}: {phrase}" if place else phrase
