"""TLS: does a handshake naming the host complete, and with which certificate?

For each address that accepted TCP: version, cipher, ALPN, the peer's chain (leaf first) and the
validation result against the system store plus ``--ca-bundle``. When the handshake naming the
host fails, a second handshake on the same address with a neutral SNI tells the name apart from
the address: the name being what fails is SNI-based blocking, and a trusted certificate for the
host behind the neutral name while the host's own SNI gets an untrusted one is interception.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import ipaddress
import ssl
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from censorcheck.measure.failures import certificate_problem, classify
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.tcp import Stream, connect
from censorcheck.models import Certificate, TLSHandshake

CERT_FAILURES = frozenset(
    {"tls.untrusted", "tls.hostname_mismatch", "tls.expired", "tls.invalid_certificate"}
)
_DER = 2  # _ssl.ENCODING_DER
# The DER kept of a chain: enough for the leaf and its issuers as servers send them, while a
# server that sends a huge certificate or dozens of them cannot swell every result it is in.
KEPT_DER_CERTIFICATES = 4
KEPT_DER_BYTES = 16 * 1024


@functools.lru_cache(maxsize=4096)
def parse_certificate(der: bytes, keep_der: bool = True) -> Certificate:
    """Summarise one DER certificate, with its DER when ``keep_der`` and it is not too large.
    Cached: CDNs hand the same chain to many targets."""
    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*ext.get_values_for_type(x509.DNSName)]
        sans += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        der=base64.b64encode(der).decode("ascii")
        if keep_der and len(der) <= KEPT_DER_BYTES
        else None,
    )


def peer_chain(ssl_object: ssl.SSLObject | None) -> list[Certificate]:
    """The chain exactly as the peer sent it, leaf first."""
    if ssl_object is None:
        return []
    # Public from Python 3.13; present but private on 3.10-3.12.
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    ders: list[bytes] = []
    if getter is not None:
        for item in getter() or []:
            ders.append(item if isinstance(item, bytes) else item.public_bytes(_DER))
    else:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return [parse_certificate(der, i < KEPT_DER_CERTIFICATES) for i, der in enumerate(ders)]


def name_matches(cert: Certificate, host: str) -> bool:
    """RFC 6125 matching of ``host`` against the SANs (wildcard in the left-most label only)."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for san in cert.sans:
        san = san.lower()
        if ip is not None:
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(san) == ip:
                    return True
            continue
        if san == host:
            return True
        if san.startswith("*.") and "." in host and host.split(".", 1)[1] == san[2:]:
            return True
    return False


async def _close(stream: Stream) -> None:
    """Give the socket back, even from a handshake being cancelled by a deadline.

    Shielded so the close itself runs to the end; a cancellation arriving meanwhile still
    propagates, or the deadline would be silently ignored.
    """
    with contextlib.suppress(Exception):
        await asyncio.shield(stream.aclose())


async def _attempt(
    stream: Stream,
    ssl_ctx: ssl.SSLContext,
    address: str,
    port: int,
    sni: str,
    timeout: float,
    ctx: ProbeContext,
) -> tuple[TLSHandshake, Stream | None]:
    start = time.monotonic()
    began = ctx.since(start)
    try:
        tls_stream = await stream.start_tls(ssl_ctx, server_hostname=sni, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is data
        await _close(stream)
        failure = classify(exc, "tls")
        return TLSHandshake(
            address=address,
            port=port,
            sni=sni,
            failure=failure,
            t=time.monotonic() - start,
            t0=began,
            trusted=False if failure in CERT_FAILURES else None,
            validation_error=certificate_problem(exc),
        ), None
    except BaseException:
        await _close(stream)
        raise
    ssl_object = tls_stream.get_extra_info("ssl_object")
    cipher = ssl_object.cipher() if ssl_object else None
    try:
        chain = peer_chain(ssl_object)
    except Exception:  # noqa: BLE001 - a certificate cryptography cannot parse is still a handshake
        chain = []
    return TLSHandshake(
        address=address,
        port=port,
        sni=sni,
        t=time.monotonic() - start,
        t0=began,
        version=ssl_object.version() if ssl_object else None,
        cipher=cipher[0] if cipher else None,
        alpn=ssl_object.selected_alpn_protocol() if ssl_object else None,
        chain=chain,
        trusted=ssl_ctx.verify_mode == ssl.CERT_REQUIRED,
    ), tls_stream


async def _fresh(
    address: str,
    port: int,
    sni: str,
    ssl_ctx: ssl.SSLContext,
    ctx: ProbeContext,
    timeout: float | None = None,
) -> tuple[TLSHandshake, Stream | None]:
    """A handshake on a new TCP connection; a failed connect is reported as a TLS failure."""
    tcp, stream = await connect(address, port, ctx)
    if stream is None:
        failure = (tcp.failure or "tcp.error").replace("tcp.", "tls.", 1)
        seen = TLSHandshake(address=address, port=port, sni=sni, failure=failure, t=tcp.t)
        return seen.model_copy(update={"t0": tcp.t0}), None
    return await _attempt(stream, ssl_ctx, address, port, sni, timeout or ctx.settings.timeout, ctx)


async def _capture_chain(address: str, port: int, sni: str, ctx: ProbeContext) -> list[Certificate]:
    """Reconnect and accept any certificate, only to record the chain that failed validation."""
    seen, stream = await _fresh(address, port, sni, ctx.capture, ctx)
    if stream is not None:
        await _close(stream)
    return seen.chain


async def _neutral(address: str, port: int, host: str, ctx: ProbeContext) -> TLSHandshake:
    """A handshake with the neutral SNI on a fresh connection.

    ``trusted`` here means: the chain validates AND the leaf is valid for the target ``host``,
    i.e. the address serves the host's genuine certificate when not asked for it by name.
    """
    sni = ctx.settings.neutral_sni
    seen, stream = await _fresh(address, port, sni, ctx.chain_only, ctx)
    if stream is not None:
        await _close(stream)
        leaf_ok = bool(seen.chain) and name_matches(seen.chain[0], host)
        return seen.model_copy(update={"trusted": leaf_ok})
    if seen.failure in CERT_FAILURES:
        # The handshake itself worked; only the chain is untrusted. Record what was presented.
        chain = await _capture_chain(address, port, sni, ctx)
        return seen.model_copy(update={"failure": None, "trusted": False, "chain": chain})
    return seen


async def handshake(
    stream: Stream, address: str, port: int, host: str, ctx: ProbeContext
) -> tuple[TLSHandshake, Stream | None]:
    """TLS with SNI = ``host`` on an open TCP stream; when it fails, two comparisons.

    A repeat of the same handshake on a fresh connection (a transient loss passes, a block fails
    again) and one with a neutral SNI (the name, not the address, is what fails). Both are
    hedged: when the first handshake has not finished after a quarter of the timeout they start
    beside it, so a stalled handshake costs about one timeout rather than three.
    """
    timeout = ctx.settings.timeout
    main_deadline = time.monotonic() + timeout
    main = asyncio.ensure_future(_attempt(stream, ctx.verify, address, port, host, timeout, ctx))
    checks: tuple[asyncio.Future[TLSHandshake], asyncio.Future[tuple[TLSHandshake, Stream | None]]]
    checks_started = False
    kept: Stream | None = None

    def start_checks() -> None:
        nonlocal checks, checks_started
        # A repeat started beside a stalled first attempt ends when that attempt does (but gets
        # at least half a timeout): a stall then costs one timeout, not one and a quarter.
        budget = max(timeout / 2, main_deadline - time.monotonic())
        checks = (
            asyncio.ensure_future(_neutral(address, port, host, ctx)),
            asyncio.ensure_future(_fresh(address, port, host, ctx.verify, ctx, budget)),
        )
        checks_started = True

    try:
        done, _ = await asyncio.wait({main}, timeout=min(max(0.5, timeout / 4), timeout / 2))
        if not done:
            start_checks()
        seen, tls_stream = await main
        if seen.failure is None:
            return seen, tls_stream
        if seen.failure in CERT_FAILURES:
            # Certificates do not fail by chance: no repeat, but record what was presented.
            chain = await _capture_chain(address, port, host, ctx)
            neutral = await (checks[0] if checks_started else _neutral(address, port, host, ctx))
            return seen.model_copy(update={"chain": chain, "neutral": neutral}), None
        if not checks_started:
            start_checks()
        repeat, repeat_stream = await checks[1]
        if repeat_stream is not None:
            # It was transient: the address works, and the repeat's connection carries on.
            kept = repeat_stream
            return seen.model_copy(update={"repeat": repeat}), repeat_stream
        neutral = await checks[0]
        return seen.model_copy(update={"repeat": repeat, "neutral": neutral}), None
    finally:
        pending: list[asyncio.Future[Any]] = [main, *(checks if checks_started else ())]
        for task in pending:
            task.cancel()
        # asyncio.wait does not raise for the tasks cancelled here, but does for our own
        # cancellation (a deadline), which must go on propagating.
        await asyncio.wait(pending)
        for task in pending:
            if task is main or task.cancelled() or task.exception() is not None:
                continue
            result = task.result()
            # A hedged repeat that succeeded after the decision was made: give its socket back.
            if isinstance(result, tuple) and result[1] is not None and result[1] is not kept:
                await _close(result[1])
