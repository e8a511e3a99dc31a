"""TCP: can the vantage open a connection to an address at all?

Measures one connect per address: success, or timeout / refused / reset / unreachable, with the
time it took. The open stream is handed on, so TLS and HTTP ride the same connection.
"""

from __future__ import annotations

import asyncio
import socket
import time

import anyio.abc
import httpcore
from httpcore._backends.anyio import AnyIOStream

from censorcheck.measure.bogons import parse_ip
from censorcheck.measure.failures import classify
from censorcheck.measure.probes import proxy
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.running import within
from censorcheck.models import TCPConnect

# A connection as the layers hand it on: TCP, then TLS over it, then HTTP over that.
Stream = httpcore.AsyncNetworkStream


async def _dial(address: str, port: int, source: str | None) -> Stream:
    """A connected stream to one address, from ``source`` when given.

    The socket is made here rather than by ``anyio.connect_tcp``: for one known address that
    costs a task group and a happy-eyeballs race, and, with a source address, a getaddrinfo in
    a worker thread for every connection.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    try:
        sock.setblocking(False)
        if source is not None:
            sock.bind((source, 0))
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
        stream = await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise
    return AnyIOStream(stream)


def skip_reason(address: str, ctx: ProbeContext) -> str | None:
    """Why the probe must not dial ``address`` from this vantage, or None."""
    ip = parse_ip(address)
    if ctx.guard is not None and (why := ctx.guard(ip)) is not None:
        return why
    if ip.version == 6 and not ctx.ipv6:
        return "no IPv6 connectivity at this vantage"
    source = ctx.settings.source_address
    if source is not None and parse_ip(source).version != ip.version:
        return f"source address is IPv{parse_ip(source).version}"
    if ctx.is_bogon(ip):
        # A censor's fake answer can point anywhere, including this machine's own services.
        return "bogon address (not publicly routable)"
    return None


async def connect(
    address: str, port: int, ctx: ProbeContext
) -> tuple[TCPConnect, httpcore.AsyncNetworkStream | None]:
    """Open a TCP connection; return the observation and the stream (None on failure)."""
    if ctx.guard is not None and (why := ctx.guard(parse_ip(address))) is not None:
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
            stream = await within(_dial(address, dial, settings.source_address), settings.timeout)
    except Exception as exc:  # noqa: BLE001 - every failure is data
        failure = classify(exc, "tcp")
        return TCPConnect(
            address=address, port=port, failure=failure, t=time.monotonic() - start, t0=began
        ), None
    return TCPConnect(address=address, port=port, t=time.monotonic() - start, t0=began), stream
