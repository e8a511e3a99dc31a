"""The base of every contract model, and the words the contract shares."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

Status = Literal["accessible", "blocked", "down", "inconclusive"]
Layer = Literal["dns", "tcp", "tls", "http", "quic"]
ControlSource = Literal["resolvers", "server", "vantage", "ooni"]


class Model(BaseModel):
    """Base of every contract model: unknown fields are an error, values do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _ip_address(value: str) -> str:
    # The rules parse these as addresses; one that is not would stop a verdict half-way. A
    # control server's answer (or an edited document) is outside input, so the model refuses
    # it here, where the client already turns a refusal into control.bad_response.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not an IP address") from None
    return value


IPText = Annotated[str, AfterValidator(_ip_address)]
"""An IPv4 or IPv6 address, as text; the JSON schema is a plain string, as before."""
