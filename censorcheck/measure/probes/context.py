"""Resources shared by every probe of a run: SSL contexts, the HTTP client, resolver health.

Building an SSL context loads the CA store (tens of milliseconds); doing it once per run rather
than once per target is most of what makes a large run fast.
"""

from __future__ import annotations

import functools
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from censorcheck.errors import ConfigError
from censorcheck.measure.bogons import IPAddress, IPNetwork, is_bogon, networks
from censorcheck.measure.probes.quictrust import TrustStore
from censorcheck.settings import Settings

if TYPE_CHECKING:
    from censorcheck.measure.fingerprints import Fingerprints


# What a browser offers: a probe that offers HTTP/1.1 alone stands out from the traffic it should
# look like, and would miss a censor that treats HTTP/2 differently.
ALPN = ["h2", "http/1.1"]


def check_ca_bundle(path: Path) -> None:
    """ConfigError naming what is wrong when ``path`` cannot be a CA bundle's file.

    Only a regular file is read: a FIFO would block the run until something writes to it.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"--ca-bundle {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"--ca-bundle {path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"--ca-bundle {path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"--ca-bundle {path}: not a regular file")


def verifying_context(settings: Settings) -> ssl.SSLContext:
    """System trust store plus ``--ca-bundle``, hostname checking on, ALPN as browsers send it."""
    ctx = ssl.create_default_context()
    if settings.ca_bundle is not None:
        bundle = settings.ca_bundle
        check_ca_bundle(bundle)
        try:
            ctx.load_verify_locations(cafile=str(bundle))
        except ssl.SSLError as exc:
            raise ConfigError(f"--ca-bundle {bundle}: not a PEM CA bundle ({exc})") from None
        except OSError as exc:
            # ssl.SSLError is an OSError too, so reading errors come second (EACCES, EIO, ...).
            raise ConfigError(
                f"--ca-bundle {bundle}: cannot read it ({exc.strerror or exc})"
            ) from None
    ctx.set_alpn_protocols(ALPN)
    return ctx


def chain_context(settings: Settings) -> ssl.SSLContext:
    """Validates the chain but not the name: for handshakes sent with a neutral SNI."""
    ctx = verifying_context(settings)
    ctx.check_hostname = False
    return ctx


def capturing_context() -> ssl.SSLContext:
    """Accepts any certificate, so that a chain that fails validation can still be recorded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no trust store: it would never be read
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(ALPN)
    return ctx


class _OnFirstUse:
    """An SSL context built the first time it is asked for, then kept."""

    def __init__(self, build: Callable[[], ssl.SSLContext]) -> None:
        self._build = build
        self._built: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        if self._built is None:
            self._built = self._build()
        return self._built


@dataclass
class ProbeContext:
    """Everything a probe needs besides its own arguments. One per run (per vantage)."""

    settings: Settings
    verify: ssl.SSLContext
    # Builds ``chain_only`` on first use; shared by every copy of this context (``for_target``).
    _chain_only: _OnFirstUse
    capture: ssl.SSLContext
    http: httpx.AsyncClient  # used for DNS over HTTPS only; web fetches go through probes.http
    ipv6: bool
    fingerprints: Fingerprints | None = None
    resolver_rtt: dict[str, float] = field(default_factory=dict)
    public: tuple[IPNetwork, ...] = ()
    # Set by the control server: why an address must not be dialled on someone else's behalf.
    guard: Callable[[IPAddress], str | None] | None = None
    # The monotonic time the current target's measurement began (see ``for_target``); None in
    # the run-wide context, whose observations then record no start.
    origin: float | None = None
    # The CAs QUIC handshakes are checked against, loaded once (None: a store per handshake).
    quic_trust: TrustStore | None = None

    @classmethod
    def create(
        cls,
        settings: Settings,
        ipv6: bool,
        fingerprints: Fingerprints | None = None,
        guard: Callable[[IPAddress], str | None] | None = None,
    ) -> ProbeContext:
        verify = verifying_context(settings)
        # Through a proxy, DoH goes through it too (httpx hands names to a SOCKS proxy as names).
        transport = httpx.AsyncHTTPTransport(
            verify=verify, local_address=settings.source_address, retries=0, proxy=settings.proxy
        )
        client = httpx.AsyncClient(
            transport=transport,
            timeout=settings.timeout,
            trust_env=False,  # a proxy from the environment would silently change the vantage
            headers={"user-agent": settings.user_agent},
        )
        return cls(
            settings=settings,
            verify=verify,
            _chain_only=_OnFirstUse(functools.partial(chain_context, settings)),
            capture=capturing_context(),
            http=client,
            ipv6=ipv6,
            fingerprints=fingerprints,
            public=networks(settings.treat_as_public),
            guard=guard,
            quic_trust=TrustStore(settings.ca_bundle),
        )

    @property
    def chain_only(self) -> ssl.SSLContext:
        """Validates the chain but not the name (``chain_context``), for the handshakes with a
        neutral SNI. Built when the first one is made: each context with the CA store loaded
        costs about 20 ms of CPU (the store is parsed anew for each), and a run whose
        handshakes all succeed, or the process that only pre-flights, never makes one. The
        bundle was already read without error for ``verify``."""
        return self._chain_only.get()

    def for_target(self, origin: float) -> ProbeContext:
        """This context for one target whose measurement began at ``origin`` (monotonic):
        the same resources, and observations that say when they started."""
        return replace(self, origin=origin)

    def since(self, moment: float) -> float | None:
        """Seconds from the target's start to ``moment`` (monotonic); None without a target."""
        return None if self.origin is None else round(moment - self.origin, 6)

    def is_bogon(self, ip: IPAddress) -> bool:
        """Not publicly routable, unless the run declared the network public (the lab)."""
        return is_bogon(ip, self.public)

    async def aclose(self) -> None:
        await self.http.aclose()
