"""The network a vantage measured from, as the run document records it (schema 1.6).

Part of the JSON contract, kept beside ``models.py``, which embeds :class:`NetworkIdentity` in
each vantage. What is recorded is the autonomous system and the country, never the address they
were looked up from: the address identifies the person running the probe, the AS does not.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Provenance = Literal["configured", "detected"]


class _Model(BaseModel):
    # The same rules as ``models.Model``; defined here so that models.py can import this module.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResolverIdentity(_Model):
    """The network of one of the vantage's probe resolvers."""

    uri: str = Field(description="The resolver, as in ``vantage.resolvers``.")
    asn: int | None = Field(None, description="Autonomous system number of its address.")
    as_name: str | None = Field(None, description="That system's name, as the database gives it.")
    country: str | None = Field(None, description="ISO 3166 country code of its address.")
    address_source: Literal["literal", "whoami"] | None = Field(
        None,
        description="literal: the resolver was given by address; whoami: the address its "
        "queries leave from, learned by asking it a whoami name. None: not found.",
    )


class NetworkIdentity(_Model):
    """How ``vantage.country`` and ``vantage.asn`` were learned, and what detection found."""

    country_source: Provenance | None = Field(
        None, description="Where ``vantage.country`` came from; None when it is unknown."
    )
    asn_source: Provenance | None = Field(
        None, description="Where ``vantage.asn`` came from; None when it is unknown."
    )
    as_name: str | None = Field(None, description="The vantage's AS name, when detected.")
    detected_country: str | None = Field(
        None, description="The country detection found, even when a configured one won."
    )
    detected_asn: int | None = Field(
        None, description="The AS detection found, even when a configured one won."
    )
    address_source: Literal["control", "whoami"] | None = Field(
        None,
        description="Who reported the vantage's public address: the control server (its "
        "health answer) or a DNS whoami name. The address itself is never recorded.",
    )
    database: str | None = Field(
        None, description="The IP-to-ASN database looked up: its file name and date."
    )
    resolvers: list[ResolverIdentity] = Field(default_factory=list)
    failure: str | None = Field(
        None,
        description="Why the vantage's network was not detected (geo.no_database, "
        "geo.no_address, geo.not_found), or None.",
    )
