"""TLS: does a handshake naming the host complete, and with which certificate?

For each address that accepted TCP: version, cipher, ALPN, the peer's chain (leaf first) and the
validation result against the system store plus ``--ca-bundle``. When the handshake naming the
host fails, a second handshake on the same address with a neutral SNI tells the name apart from
the address: the name being what fails is SNI-based blocking, and a trusted certificate for the
host behind the neutral name while the host's own SNI gets an untrusted one is interception.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import ssl
import time
from collections.abc import Awaitable

import httpcore
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from censorcheck.failures import classify
from censorcheck.models import Certificate, TLSHandshake
from censorcheck.probes.context import ProbeContext
from censorcheck.probes.tcp import connect

Stream = httpcore.AsyncNetworkStream
CERT_FAILURES = frozenset(
    {"tls.untrusted", "tls.hostname_mismatch", "tls.expired", "tls.invalid_certificate"}
)
_DER = 2  # _ssl.ENCODING_DER


@functools.lru_cache(maxsize=4096)
def parse_certificate(der: bytes) -> Certificate:
    """Summarise one DER certificate. Cached: CDNs hand the same chain to many targets."""
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
    return [parse_certificate(der) for der in ders]


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


async def _attempt(
    stream: Stream, ssl_ctx: ssl.SSLContext, address: str, port: int, sni: str, timeout: float
) -> tuple[TLSHandshake, Stream | None]:
    start = time.monotonic()
    try:
        tls_stream = await stream.start_tls(ssl_ctx, server_hostname=sni, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is data
        with contextlib.suppress(Exception):
            await stream.aclose()
        failure = classify(exc, "tls")
        reason = None
        inner: BaseException | None = exc
        while inner is not None:
            if isinstance(inner, ssl.SSLCertVerificationError):
                reason = inner.verify_message
                break
            inner = inner.__cause__ or inner.__context__
        return TLSHandshake(
            address=address,
            port=port,
            sni=sni,
            failure=failure,
            t=time.monotonic() - start,
            trusted=False if failure in CERT_FAILURES else None,
            validation_error=reason,
        ), None
    ssl_object = tls_stream.get_extra_info("ssl_object")
    cipher = ssl_object.cipher() if ssl_object else None
    return TLSHandshake(
        address=address,
        port=port,
        sni=sni,
        t=time.monotonic() - start,
        version=ssl_object.version() if ssl_object else None,
        cipher=cipher[0] if cipher else None,
        alpn=ssl_object.selected_alpn_protocol() if ssl_object else None,
        chain=peer_chain(ssl_object),
        trusted=ssl_ctx.verify_mode == ssl.CERT_REQUIRED,
    ), tls_stream


async def _capture_chain(address: str, port: int, sni: str, ctx: ProbeContext) -> list[Certificate]:
    """Reconnect and accept any certificate, only to record the chain that failed validation."""
    _, stream = await connect(address, port, ctx)
    if stream is None:
        return []
    seen, tls_stream = await _attempt(stream, ctx.capture, address, port, sni, ctx.settings.timeout)
    if tls_stream is not None:
        await tls_stream.aclose()
    return seen.chain


async def _neutral(address: str, port: int, host: str, ctx: ProbeContext) -> TLSHandshake:
    """A handshake with the neutral SNI on a fresh connection.

    ``trusted`` here means: the chain validates AND the leaf is valid for the target ``host``,
    i.e. the address serves the host's genuine certificate when not asked for it by name.
    """
    sni = ctx.settings.neutral_sni
    tcp, stream = await connect(address, port, ctx)
    if stream is None:
        failure = (tcp.failure or "tcp.error").replace("tcp.", "tls.", 1)
        return TLSHandshake(address=address, port=port, sni=sni, failure=failure, t=tcp.t)
    seen, tls_stream = await _attempt(
        stream, ctx.chain_only, address, port, sni, ctx.settings.timeout
    )
    if tls_stream is not None:
        await tls_stream.aclose()
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
    """TLS with SNI = ``host`` on an open TCP stream; on failure, the neutral-SNI comparison.

    The neutral handshake is hedged: if the first has not finished after a short delay, the second
    starts alongside it, so a stalled handshake costs one timeout rather than two.
    """
    timeout = ctx.settings.timeout
    main = asyncio.ensure_future(_attempt(stream, ctx.verify, address, port, host, timeout))
    hedge_delay = min(max(0.25, timeout / 8), timeout / 2)
    neutral: asyncio.Future[TLSHandshake] | None = None
    done, _ = await asyncio.wait({main}, timeout=hedge_delay)
    if not done:
        neutral = asyncio.ensure_future(_neutral(address, port, host, ctx))
    try:
        seen, tls_stream = await main
    except BaseException:
        if neutral is not None:
            neutral.cancel()
        raise
    if seen.failure is None:
        if neutral is not None:
            await _cancel(neutral)
        return seen, tls_stream
    if seen.failure in CERT_FAILURES:
        seen = seen.model_copy(update={"chain": await _capture_chain(address, port, host, ctx)})
    if neutral is None:
        neutral = asyncio.ensure_future(_neutral(address, port, host, ctx))
    return seen.model_copy(update={"neutral": await neutral}), None


async def _cancel(task: Awaitable[object] | asyncio.Future[object]) -> None:
    future = asyncio.ensure_future(task)
    future.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await future
