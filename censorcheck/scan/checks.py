"""The checks Satellite found necessary before calling a DNS answer wrong.

An answer that differs from the control's is not yet tampering: CDNs and geo-DNS hand out other
addresses everywhere. So an answer is compared by address (:func:`compare`), by autonomous system
(:class:`ASNDatabase`, an offline MaxMind-format database) and, when both differ, by asking the
answered address for the domain over TLS (:class:`TLSChecker`): a certificate valid for the
domain means the address serves the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

from censorcheck.errors import ConfigError
from censorcheck.measure.failures import certificate_problem, classify
from censorcheck.measure.probes import tcp
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.scan.models import Checks, TLSCheck

HTTPS_PORT = 443


class _Reader(Protocol):
    def get(self, ip_address: str) -> Any: ...
    def close(self) -> None: ...


class ASNDatabase:
    """Autonomous system numbers from a MaxMind-format database (GeoLite2-ASN and the like).

    Needs the ``maxminddb`` package, imported only when a database is given.
    """

    def __init__(self, reader: _Reader, shown: str) -> None:
        self._reader = reader
        self.shown = shown
        self._cache: dict[str, int | None] = {}

    @classmethod
    def open(cls, path: Path) -> ASNDatabase:
        """Open ``path``; ConfigError (one line) when the package, the file or its format fails."""
        shown = f"--asn-db {path}"
        try:
            import maxminddb
        except ImportError:
            raise ConfigError(
                f"{shown}: reading ASN databases needs the maxminddb package "
                "(pip install 'censorcheck[asn]')"
            ) from None
        if not path.is_file():
            raise ConfigError(f"{shown}: no such file")
        try:
            reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"{shown}: not a MaxMind DB file ({exc})") from None
        return cls(reader, shown)

    def lookup(self, address: str) -> int | None:
        """The ASN of ``address``, or None when the database does not know it."""
        if address in self._cache:
            return self._cache[address]
        try:
            record = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database, say
            record = None
        asn = _asn_of(record)
        self._cache[address] = asn
        return asn

    def asns(self, addresses: Sequence[str]) -> list[int]:
        """The distinct known ASNs of ``addresses``, in order."""
        return list(dict.fromkeys(a for a in map(self.lookup, addresses) if a is not None))

    def close(self) -> None:
        self._reader.close()


def _asn_of(record: Any) -> int | None:
    """GeoLite2-ASN's ``autonomous_system_number``, or an ``asn`` field (``AS64500``, ``64500``)."""
    if not isinstance(record, dict):
        return None
    value = record.get("autonomous_system_number", record.get("asn"))
    if isinstance(value, str) and value.upper().startswith("AS"):
        value = value[2:]
    with contextlib.suppress(TypeError, ValueError):
        return int(value) if value is not None else None
    return None


def compare(
    addresses: Sequence[str],
    control: Collection[str],
    discounted: Collection[str],
    is_bogon: Callable[[str], bool],
    control_asns: Sequence[int] | None,
    asn_db: ASNDatabase | None,
) -> Checks:
    """Everything about an answer that needs no network: which addresses count, and matches.

    Discounted addresses (given for every name) are set aside first, then non-routable ones the
    control does not share. What is left is compared with the control by address and by ASN.
    """
    judged: list[str] = []
    bogons: list[str] = []
    dropped: list[str] = []
    for address in dict.fromkeys(addresses):
        if address in discounted:
            dropped.append(address)
        elif address not in control and is_bogon(address):
            bogons.append(address)
        else:
            judged.append(address)
    overlap = [a for a in judged if a in control]
    asns: list[int] | None = None
    match: list[int] = []
    if asn_db is not None:
        asns = asn_db.asns(judged)
        match = [a for a in asns if a in (control_asns or ())]
    return Checks(
        judged=judged,
        bogons=bogons,
        discounted=dropped,
        overlap=overlap,
        asns=asns,
        asn_match=match,
    )


def needs_tls(checks: Checks) -> bool:
    """Whether only a handshake can tell: addresses to judge, none matching by address or ASN."""
    return bool(checks.judged) and not checks.overlap and not checks.asn_match


def is_bogon_in(ctx: ProbeContext) -> Callable[[str], bool]:
    return lambda address: ctx.is_bogon(ipaddress.ip_address(address))


class TLSChecker:
    """Handshakes naming a domain with answered addresses, each (address, domain) once.

    Concurrent callers asking for the same pair share one handshake.
    """

    def __init__(self, ctx: ProbeContext, concurrency: int) -> None:
        self.ctx = ctx
        self._slots = asyncio.Semaphore(concurrency)
        self._done: dict[tuple[str, str], asyncio.Task[TLSCheck]] = {}

    @property
    def made(self) -> int:
        return len(self._done)

    async def check(self, address: str, domain: str) -> TLSCheck:
        key = (address, domain)
        task = self._done.get(key)
        if task is None:
            task = self._done[key] = asyncio.ensure_future(self._handshake(address, domain))
        return await asyncio.shield(task)

    async def _handshake(self, address: str, domain: str) -> TLSCheck:
        async with self._slots:
            return await handshake(address, domain, self.ctx)

    async def aclose(self) -> None:
        for task in self._done.values():
            task.cancel()
        if self._done:
            await asyncio.wait(self._done.values())


async def handshake(address: str, domain: str, ctx: ProbeContext) -> TLSCheck:
    """TLS with SNI = ``domain`` on port 443 of ``address`` (as --port-map says), validated."""
    base = {"address": address, "port": HTTPS_PORT, "sni": domain}
    start = time.monotonic()
    connected, stream = await tcp.connect(address, HTTPS_PORT, ctx)
    if stream is None:
        failure = (connected.failure or "tcp.error").replace("tcp.", "tls.", 1)
        return TLSCheck(**base, valid=False, failure=failure, t=connected.t)
    try:
        secure = await stream.start_tls(
            ctx.verify, server_hostname=domain, timeout=ctx.settings.timeout
        )
    except Exception as exc:  # noqa: BLE001 - every failure is data
        await _close(stream)
        return TLSCheck(
            **base,
            valid=False,
            failure=classify(exc, "tls"),
            validation_error=certificate_problem(exc),
            t=time.monotonic() - start,
        )
    await _close(secure)
    return TLSCheck(**base, valid=True, t=time.monotonic() - start)


async def _close(stream: tcp.Stream) -> None:
    with contextlib.suppress(Exception):
        await asyncio.shield(stream.aclose())
