"""The base of every contract model, and the words the contract shares."""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

Status = Literal["accessible", "blocked", "down", "inconclusive"]
Layer = Literal["dns", "tcp", "tls", "http", "quic"]
ControlSource = Literal["resolvers", "server", "vantage", "ooni"]


class Model(BaseModel):
    """Base of every contract model: unknown fields are an error, values do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@functools.lru_cache(maxsize=16384)
def _is_address(value: str) -> bool:
    # Remembered: every model holding an address checks it, about ten times a target.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _ip_address(value: str) -> str:
    # The rules parse these as addresses; one that is not would stop a verdict half-way. A
    # control server's answer (or an edited document) is outside input, so the model refuses
    # it here, where the client already turns a refusal into control.bad_response.
    if not _is_address(value):
        raise ValueError("not an IP address")
    return value


IPText = Annotated[str, AfterValidator(_ip_address)]
"""An IPv4 or IPv6 address, as text; the JSON schema is a plain string, as before."""
