"""The lab's SOCKS5 proxy: a way out through the free vantage, as a VPN gateway or Tor would be.

It speaks enough of RFC 1928 for a probe: no authentication, CONNECT to an IPv4 or IPv6 literal
(it resolves nothing, so a name is refused with "address type not supported"). Its outgoing
connections leave from the free vantage's address, so the lab's censor lets them through. It
dials only inside the lab's network: anything else is "not allowed by ruleset".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from censorcheck.measure.bogons import IPNetwork

_CONNECT_TIMEOUT = 5.0
_CHUNK = 64 * 1024

# Reply codes of RFC 1928.
_OK, _FAILURE, _NOT_ALLOWED, _HOST_UNREACHABLE, _REFUSED, _TTL_EXPIRED = 0, 1, 2, 4, 5, 6
_NO_COMMAND, _NO_ADDRESS_TYPE = 7, 8


class SOCKSLab:
    """A SOCKS5 proxy listening on ``address:port``, leaving from ``source``."""

    def __init__(self, address: str, port: int, source: str, allowed: IPNetwork) -> None:
        self.address = address
        self.port = port
        self._source = source
        self._allowed = allowed
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"socks5://{self.address}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.address, self.port, reuse_address=True
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # a client that hangs up mid-handshake is its own business
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")  # no acceptable method
            return
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            if kind == 3:
                await reader.readexactly((await reader.readexactly(1))[0])
            await reader.readexactly(2)
            return self._reply(writer, _NO_ADDRESS_TYPE)
        port = int.from_bytes(await reader.readexactly(2), "big")
        if command != 1:
            return self._reply(writer, _NO_COMMAND)
        if ipaddress.ip_address(host) not in self._allowed:
            return self._reply(writer, _NOT_ALLOWED)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(self._source, 0)),
                _CONNECT_TIMEOUT,
            )
        except asyncio.TimeoutError:
            return self._reply(writer, _TTL_EXPIRED)
        except ConnectionRefusedError:
            return self._reply(writer, _REFUSED)
        except OSError:
            return self._reply(writer, _HOST_UNREACHABLE)
        try:
            self._reply(writer, _OK)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    def _reply(self, writer: asyncio.StreamWriter, code: int) -> None:
        # The bound address is not something a client of the lab needs; zeros are allowed.
        writer.write(bytes([5, code, 0, 1]) + socket.inet_aton("0.0.0.0") + b"\x00\x00")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the end on (half-close), as a TCP relay does."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        # A reset on one side becomes an abrupt close on the other: the closest a relay can do.
        transport = writer.transport
        with contextlib.suppress(Exception):
            transport.abort()
