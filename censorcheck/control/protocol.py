"""What the probe sends a control server. The answer is a :class:`censorcheck.models.Control`.

Both sides import this module, so the request a probe builds is the request the server
validates; the bounds here are the server's first line of defence against abuse.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

import httpx
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

__all__ = ["API_PREFIX", "Control", "Health", "Limits", "MeasureRequest"]


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
