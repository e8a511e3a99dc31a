"""Every knob of a measurement run, in one validated model."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from censorcheck.errors import explain

PROXY_SCHEMES = ("socks5", "socks5h", "http")
# A whoami setting: an optional query type, then a host name.
_WHOAMI = re.compile(
    r"(?:(?:A|AAAA|TXT):)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?"
)
# OONI's public Web Connectivity test helpers, tried in this order when a run says ``ooni``.
# The hosts are those ooni/probe-cli knows as its test helpers (testHelpersDomains in
# internal/enginenetx/testhelperspolicy.go, commit 7cb2241 of August 2026); OONI Probe itself
# gets its list from OONI's check-in API, which this tool does not call. Edit here when it moves.
OONI_PUBLIC_HELPERS = (
    "https://0.th.ooni.org/",
    "https://1.th.ooni.org/",
    "https://2.th.ooni.org/",
    "https://3.th.ooni.org/",
    "https://d33d1gs9kpq1c5.cloudfront.net/",
)
# Where the default control of ``censorcheck run`` is configured (one value of --control).
CONTROL_ENV = "CENSORCHECK_CONTROL"
CONTROL_FORMS = "ooni, ooni:URL[,URL...], a server's http:// or https:// URL, vantage:NAME or none"
DEFAULT_CONTROL_RESOLVERS = ["https://1.1.1.1/dns-query", "https://8.8.8.8/dns-query"]
# A common browser's User-Agent: a tool-specific one would single out whoever runs the probe.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


# Checks that several models share (run settings, vantages, dns-scan settings).


def _ip_or_none(value: str | None) -> str | None:
    if value is not None:
        ipaddress.ip_address(value)
    return value


def _networks(value: list[str]) -> list[str]:
    for net in value:
        ipaddress.ip_network(net, strict=False)
    return value


def _ports(value: dict[int, int]) -> dict[int, int]:
    for a, b in value.items():
        if not (0 < a < 65536 and 0 < b < 65536):
            raise ValueError(f"{a}={b}: ports are 1 to 65535")
    return value


OptionalIP = Annotated[str | None, AfterValidator(_ip_or_none)]
Networks = Annotated[list[str], AfterValidator(_networks)]
PortMap = Annotated[dict[int, int], AfterValidator(_ports)]


class Settings(BaseModel):
    """How to measure. The CLI builds one; the library only reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vantage: str = Field("local", description="Name of the vantage point, recorded in results.")
    resolvers: list[str] = Field(default_factory=lambda: ["system"])
    control_resolvers: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTROL_RESOLVERS))
    control_url: str | None = Field(
        None,
        description="Base URL of a control server, or ooni:URL[,URL...] for OONI Web "
        "Connectivity test helpers tried in order (``ooni`` alone: OONI's public ones); when "
        "set and answering its pre-flight it makes the control measurement, else the control "
        "resolvers stand in.",
    )
    control_token: str | None = Field(
        None,
        description="Bearer token for the control server (sent to OONI helpers only when "
        "given). Never recorded.",
    )
    no_control_ok: bool = Field(
        False,
        description="Measure even when no control (server, helper or resolver) answers the "
        "pre-flight; otherwise such a run stops before measuring.",
    )
    source_address: OptionalIP = Field(None, description="Local address every socket binds to.")
    proxy: str | None = Field(
        None,
        description="A socks5://, socks5h:// or http:// proxy that every connection leaves "
        "through, DNS included: the vantage is then the proxy's network.",
    )
    ca_bundle: Path | None = Field(None, description="Extra trusted CAs (PEM), beside the system.")
    fingerprints: list[Path] = Field(default_factory=list, description="Extra blockpage files.")
    timeout: float = Field(5.0, gt=0, description="Seconds for each network operation.")
    deadline: float | None = Field(
        None, gt=0, description="Seconds for a whole target; default 6 x timeout."
    )
    concurrency: int = Field(32, ge=1, le=4096)
    ipv6: Literal["auto", "on", "off"] = "auto"
    dns_linger_max: float = Field(
        0.5, ge=0, description="Most seconds to keep listening for further UDP answers."
    )
    quic: Literal["auto", "always", "never"] = Field(
        "auto",
        description="HTTP/3 over QUIC for https targets: when the site advertises it (an Alt-Svc "
        "h3 header, or h3 in its HTTPS DNS record), for every https target, or never.",
    )
    max_body: int = Field(1 << 20, ge=1024, description="Most body bytes read per response.")
    keep_body: int = Field(4096, ge=0, description="Body bytes kept in the results.")
    max_redirects: int = Field(10, ge=0, le=50)
    max_addresses: int = Field(4, ge=1, description="Addresses tried per address family.")
    control_addresses: int = Field(
        2,
        ge=0,
        le=8,
        description="When the probe's DNS fails or shares no address with the control's, "
        "measure TCP, TLS and HTTP from the vantage at up to this many of the control's "
        "addresses too; 0 turns it off.",
    )
    neutral_sni: str = Field("example.org", description="SNI of the neutral retry handshake.")
    neutral_host: str = Field("example.org", description="Host of the neutral HTTP retry.")
    user_agent: str = DEFAULT_USER_AGENT
    port_map: PortMap = Field(
        default_factory=dict,
        description="Connect to port B where a URL says port A (labs, port forwards).",
    )
    treat_as_public: Networks = Field(
        default_factory=list,
        description="Networks not to count as bogons (the lab's own loopback range).",
    )
    geo: bool = Field(
        True,
        description="Look up the vantage's and its resolvers' AS and country in the offline "
        "database (``censorcheck update-db``); configured values win.",
    )
    geo_source: Literal["control", "whoami"] = Field(
        "control",
        description="Who tells the vantage its public address: the control server (in its "
        "health answer) or ``whoami`` asked through the control resolvers.",
    )
    whoami: str | None = Field(
        None,
        description="[TYPE:]NAME whose answer, from the control resolvers, is the asker's "
        "address (e.g. A:myip.opendns.com at OpenDNS's resolvers); for geo_source whoami.",
    )
    resolver_whoami: str | None = Field(
        None,
        description="[TYPE:]NAME asked through each probe resolver, whose answer is the address "
        "the resolver's own queries leave from (e.g. A:whoami.akamai.net); None: not asked.",
    )
    geo_db: Path | None = Field(
        None, description="The IP-to-ASN table; None: the one update-db keeps."
    )

    @field_validator("whoami", "resolver_whoami")
    @classmethod
    def _whoami_name(cls, value: str | None) -> str | None:
        if value is not None and not _WHOAMI.fullmatch(value):
            raise ValueError(
                f"{value!r}: expected [A:|AAAA:|TXT:]NAME, e.g. TXT:o-o.myaddr.example"
            )
        return value

    @field_validator("proxy")
    @classmethod
    def _valid_proxy(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, sep, rest = value.partition("://")
        host, _, port = rest.rstrip("/").rpartition("@")[2].rpartition(":")
        if not sep or scheme not in PROXY_SCHEMES or not host or not port.isdigit():
            raise ValueError(
                f"{value}: a proxy is socks5://HOST:PORT, socks5h://HOST:PORT or http://HOST:PORT"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _dns_through_proxy(cls, data: Any) -> Any:
        """Through a proxy, DNS must go through it too: UDP cannot, and the system resolver
        would ask the local network, so UDP resolvers are asked over TCP instead."""
        if not isinstance(data, dict) or not data.get("proxy"):
            return data
        if not isinstance(data["proxy"], str) or data["proxy"].partition("://")[0] not in (
            PROXY_SCHEMES
        ):
            return data  # not a proxy at all: the field's own check says so, first
        data = dict(data)
        data.setdefault("resolvers", ["system"])
        for key in ("resolvers", "control_resolvers"):
            uris = data.get(key, [])
            if "system" in uris:
                raise ValueError(
                    "the system resolver cannot be used through a proxy: it would ask the "
                    "local network; give a tcp://, tls:// or https:// resolver"
                )
            if key in data:
                data[key] = ["tcp://" + u[6:] if u.startswith("udp://") else u for u in uris]
        return data

    @field_validator("control_url")
    @classmethod
    def _valid_control(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == "none":
            return None
        if value == "ooni":
            return "ooni:" + ",".join(OONI_PUBLIC_HELPERS)
        if value.startswith("ooni:"):
            helpers = [u.strip() for u in value[5:].split(",") if u.strip()]
            if not helpers:
                raise ValueError("give at least one test helper URL after ooni: (or just ooni)")
            for url in helpers:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"{url}: a test helper URL starts with http:// or https://")
            return "ooni:" + ",".join(helpers)
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"a control is {CONTROL_FORMS}")
        return value

    @property
    def ooni_helpers(self) -> list[str]:
        """The OONI test helpers ``control_url`` names (``ooni:URL,URL``), in the order to try."""
        if self.control_url is None or not self.control_url.startswith("ooni:"):
            return []
        return self.control_url[5:].split(",")

    @property
    def uses_public_helpers(self) -> bool:
        """Whether the control is OONI's public test helpers (``ooni``)."""
        return self.ooni_helpers == list(OONI_PUBLIC_HELPERS)

    @property
    def target_deadline(self) -> float:
        """Seconds allowed for one whole target."""
        return self.deadline if self.deadline is not None else 6 * self.timeout

    def connect_port(self, port: int) -> int:
        """The port actually dialled for a URL's port."""
        return self.port_map.get(port, port)


@dataclass(frozen=True)
class ControlChoice:
    """A run's control as the user chose it: ``control_url`` for :class:`Settings` (None for the
    control resolvers alone), or a configured vantage by name."""

    control_url: str | None = None
    vantage: str | None = None
    origin: Literal["--control", "environment", "default"] = "--control"


def choose_control(given: str | None, environ: Mapping[str, str]) -> ControlChoice:
    """The control of a run: ``given`` (the --control value), else the configured one
    (``CENSORCHECK_CONTROL``), else OONI's public test helpers. Raises ValueError, naming where
    the bad value came from."""
    origin: Literal["--control", "environment", "default"] = "--control"
    label = f"--control {given}"
    if given is None:
        given = environ.get(CONTROL_ENV, "").strip()
        origin, label = ("environment", f"{CONTROL_ENV}={given}") if given else ("default", "")
    value = given.strip() or "ooni"
    if value.startswith("vantage:"):
        name = value[8:].strip()
        if not name:
            raise ValueError(f"{label}: vantage: needs a vantage name")
        return ControlChoice(vantage=name, origin=origin)
    try:
        url = Settings(control_url=value).control_url
    except ValidationError as exc:
        raise ValueError(f"{label}: {explain(exc.errors()[0])}") from None
    return ControlChoice(control_url=url, origin=origin)
