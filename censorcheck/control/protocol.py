"""What the probe sends a control server. The answer is a :class:`censorcheck.models.Control`.

Both sides import this module, so the request a probe builds is the request the server
validates; the bounds here are the server's first line of defence against abuse.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any, Literal, TypeVar

import httpx
import pydantic
from pydantic import Field, field_validator

from censorcheck.models import Control, Model

API_PREFIX = "/v1"
MAX_URL = 2048
MAX_ADDRESSES = 8
# Request headers the control copies so the site answers it as it answered the probe; anything
# else (cookies, authorization) could make the server act as someone.
FORWARDED_HEADERS = ("user-agent",)
MAX_HEADER_VALUE = 512
MAX_DEADLINE = 60.0
# How long the server keeps an idle connection open. Clients (client.KEEPALIVE_EXPIRY) give up
# on one well before, so a request never arrives on a connection the server is closing.
SERVER_KEEP_ALIVE = 10  # seconds; uvicorn takes a whole number

__all__ = ["API_PREFIX", "Control", "Health", "Limits", "MeasureRequest", "read_answer"]


class MeasureRequest(Model):
    """One URL for the control server to measure from its network."""

    url: str = Field(max_length=MAX_URL, description="http:// or https:// URL to measure.")
    addresses: list[str] = Field(
        default_factory=list,
        max_length=MAX_ADDRESSES,
        description="Addresses the probe resolved for the URL's host. The server connects "
        "and shakes hands there too, to tell whether they serve the site.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        max_length=len(FORWARDED_HEADERS),
        description="The probe's request headers to reuse: only User-Agent.",
    )
    deadline: float | None = Field(
        None,
        gt=0,
        le=MAX_DEADLINE,
        description="Seconds the probe will wait; the server answers with what it has by then.",
    )
    quic: Literal["auto", "always", "never"] = Field(
        "never",
        description="HTTP/3 as the probe tries it: when the site advertises it, always (https), "
        "or never (the default, for probes that do not ask).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError, UnicodeError) as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("only http:// and https:// URLs with a host")
        if url.userinfo:
            raise ValueError("credentials in the URL are not accepted")
        return value

    @field_validator("addresses")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return [str(ipaddress.ip_address(a)) for a in value]

    @field_validator("headers")
    @classmethod
    def _allowed_headers(cls, value: dict[str, str]) -> dict[str, str]:
        clean: dict[str, str] = {}
        for name, text in value.items():
            if name.lower() not in FORWARDED_HEADERS:
                raise ValueError(f"header {name!r} is not forwarded; only {FORWARDED_HEADERS}")
            if len(text) > MAX_HEADER_VALUE or not text.isprintable():
                raise ValueError(f"header {name!r}: at most {MAX_HEADER_VALUE} printable chars")
            clean[name.lower()] = text
        return clean


class Limits(Model):
    """What one token may ask of the server; a client that keeps to it is never refused."""

    max_in_flight: int = Field(description="Measurements one token may have running at once.")
    rate: float = Field(description="Measurements per second one token may start, sustained.")
    burst: int = Field(description="Measurements one token may start at once after a pause.")
    max_deadline: float = Field(description="Most seconds the server spends on one measurement.")


class Health(Model):
    """What ``GET /v1/health`` answers, without a token."""

    status: str = Field("ok", description="Always 'ok' when the server answers at all.")
    version: str = Field(description="censorcheck version of the server.")
    limits: Limits
    client_address: str | None = Field(
        None,
        description="The address this request came from, as the server saw it: the probe's "
        "public address (its proxy's, through a proxy), for the probe to look up its network. "
        "Absent from older servers (added with run schema 1.6).",
    )


M = TypeVar("M", bound=Model)


def read_answer(model: type[M], body: bytes) -> M:
    """``body`` as ``model``, leaving out what a newer server added.

    Our models refuse unknown fields, as a contract should; but a server one version ahead
    answers with fields this client has never heard of (schema 1.6 added three), and refusing
    them would turn every measurement of a mixed deployment into control.bad_response. What this
    client knows is still checked as strictly as ever. Raises ValueError when the body is not
    JSON or does not fit what is known.
    """
    try:
        data = json.loads(body)
        schema = _schema(model)
        return model.model_validate(_known(data, schema, schema))
    except (RecursionError, UnicodeDecodeError, pydantic.ValidationError) as exc:
        raise ValueError(f"not a {model.__name__}") from exc


@functools.cache
def _schema(model: type[Model]) -> dict[str, Any]:
    return model.model_json_schema()


def _known(data: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """``data`` with every object key that ``schema`` does not name left out, recursively."""
    schema = _resolved(schema, root)
    for choice in ("anyOf", "oneOf", "allOf"):
        if choice in schema:
            # Optional fields are unions with null: follow the one branch of the data's shape.
            shape = _shape(data)
            shaped = [s for s in schema[choice] if _takes(_resolved(s, root)) == shape]
            return _known(data, shaped[0], root) if len(shaped) == 1 else data
    if isinstance(data, dict) and "properties" in schema:
        fields = schema["properties"]
        return {k: _known(v, fields[k], root) for k, v in data.items() if k in fields}
    if isinstance(data, dict) and isinstance(schema.get("additionalProperties"), dict):
        values = schema["additionalProperties"]
        return {k: _known(v, values, root) for k, v in data.items()}
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_known(item, schema["items"], root) for item in data]
    return data


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The definition a ``$ref`` points to (pydantic's refs are all ``#/$defs/NAME``)."""
    if "$ref" in schema:
        found: dict[str, Any] = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
        return found
    return schema


def _shape(value: Any) -> str:
    """ "object", "array" or "other": the shape of a JSON value."""
    return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "other"


def _takes(schema: dict[str, Any]) -> str:
    """The shape of value a (resolved) schema takes, in ``_shape``'s words."""
    kind = schema.get("type")
    return kind if kind in ("object", "array") else "other"
