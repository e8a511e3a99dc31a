"""The base of every contract model, and the words the contract shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["accessible", "blocked", "down", "inconclusive"]
Layer = Literal["dns", "tcp", "tls", "http", "quic"]


class Model(BaseModel):
    """Base of every contract model: unknown fields are an error, values do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
