"""TCP: can the vantage open a connection to an address at all?

Measures one connect per address: success, or timeout / refused / reset / unreachable, with the
time it took. The open stream is handed on, so TLS and HTTP ride the same connection.
"""

from __future__ import annotations

import ipaddress
import time

import httpcore

from censorcheck.measure.failures import classify
from censorcheck.measure.probes import proxy
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import TCPConnect

# A connection as the layers hand it on: TCP, then TLS over it, then HTTP over that.
Stream = httpcore.AsyncNetworkStream

# Stateless; one instance serves every connection of the process.
_BACKEND = httpcore.AnyIOBackend()


def skip_reason(address: str, ctx: ProbeContext) -> str | None:
    """Why the probe must not dial ``address`` from this vantage, or None."""
    ip = ipaddress.ip_address(address)
    if ctx.guard is not None and (why := ctx.guard(ip)) is not None:
        return why
    if ip.version == 6 and not ctx.ipv6:
        return "no IPv6 connectivity at this vantage"
    source = ctx.settings.source_address
    if source is not None and ipaddress.ip_address(source).version != ip.version:
        return f"source address is IPv{ipaddress.ip_address(source).version}"
    if ctx.is_bogon(ip):
        # A censor's fake answer can point anywhere, including this machine's own services.
        return "bogon address (not publicly routable)"
    return None


async def connect(
    address: str, port: int, ctx: ProbeContext
) -> tuple[TCPConnect, httpcore.AsyncNetworkStream | None]:
    """Open a TCP connection; return the observation and the stream (None on failure)."""
    if ctx.guard is not None and (why := ctx.guard(ipaddress.ip_address(address))) is not None:
        # Every dial passes here, so a guarded context can never reach a forbidden address,
        # whichever caller forgot to ask ``skip_reason`` first.
        return TCPConnect(address=address, port=port, skipped=why), None
    dial = ctx.settings.connect_port(port)
    start = time.monotonic()
    began = ctx.since(start)
    try:
        settings = ctx.settings
        if settings.proxy is not None:
            stream = await proxy.connect_stream(
                settings.proxy, address, dial, settings.timeout, settings.source_address
            )
        else:
            stream = await _BACKEND.connect_tcp(
                address, dial, timeout=settings.timeout, local_address=settings.source_address
            )
    except Exception as exc:  # noqa: BLE001 - every failure is data
        failure = classify(exc, "tcp")
        return TCPConnect(
            address=address, port=port, failure=failure, t=time.monotonic() - start, t0=began
        ), None
    return TCPConnect(address=address, port=port, t=time.monotonic() - start, t0=began), stream
