"""Connections as the layers hand them on: a TCP connection's bytes, and TLS over them.

The stream httpcore reads and writes, made straight on asyncio's transports. anyio's streams,
which httpcore brings, spend more of a run's CPU than the bytes they carry: a checkpoint and a
cancel scope at every read and write, reading paused and resumed around each one, and TLS driven
through three layers of wrappers. Here a connection keeps what arrives until it is read, and TLS
is OpenSSL over memory buffers driven by one loop (``_Tls._drive``).

What goes wrong surfaces as ``failures.classify`` reads it, as it did through anyio:
- a socket error as the ``OSError`` with its errno (``ConnectionLost`` raised from it);
- a timer as ``TimeoutError``;
- the peer closing during a TLS handshake as OpenSSL's own EOF error, its alerts and
  certificate errors as OpenSSL raised them;
- after the handshake, the peer closing, with close_notify or without, as the end of the stream
  (``b""``): whether the body was complete is HTTP's to say, from its framing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

import httpcore

T = TypeVar("T")

# Reading from the socket stops while this much is waiting to be read, so a fast server cannot
# fill memory faster than the probe reads (which stops at --max-body anyway).
_BUFFERED = 256 * 1024
# What OpenSSL is asked to decrypt at once while driving it: one TLS record holds 16 KiB.
_RECORD = 65536


class ConnectionLost(ConnectionResetError):
    """The connection ended with an error; raised from the socket's own ``OSError``, whose
    errno says what it was."""


class _Pipe(asyncio.Protocol):
    """One connection's received bytes, kept until read, and what ended it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.ended = False  # nothing more will arrive
        self.error: BaseException | None = None  # why it ended, when it was an error
        self.paused = False  # reading stopped: ``_BUFFERED`` bytes are waiting
        self.writable = True  # the transport takes writes (it has not paused us)
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= _BUFFERED and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return True  # keep the transport: closing it is ``aclose``'s business

    def connection_lost(self, exc: BaseException | None) -> None:
        self.ended = True
        self.error = exc
        self.writable = True  # a writer waiting learns of the loss from ``send``
        self._wake()
        _settle(self._writer)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        _settle(self._writer)

    def _wake(self) -> None:
        _settle(self._reader)

    def take(self, max_bytes: int) -> bytes:
        chunk = self.chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            self.chunks.appendleft(rest)
        self.size -= len(chunk)
        if self.paused and self.size < _BUFFERED and self.transport is not None:
            self.transport.resume_reading()
            self.paused = False
        return chunk

    async def arrival(self, deadline: float | None) -> None:
        """Until something arrives or the connection ends; TimeoutError at ``deadline``."""
        loop = asyncio.get_running_loop()
        self._reader = waiter = loop.create_future()
        try:
            await _awaited(waiter, deadline, loop)
        finally:
            self._reader = None

    async def drained(self, deadline: float | None) -> None:
        """Until the transport takes writes again; TimeoutError at ``deadline``."""
        loop = asyncio.get_running_loop()
        while not self.writable:
            self._writer = waiter = loop.create_future()
            try:
                await _awaited(waiter, deadline, loop)
            finally:
                self._writer = None


async def _awaited(
    waiter: asyncio.Future[None], deadline: float | None, loop: asyncio.AbstractEventLoop
) -> None:
    # A timer on the loop, not asyncio.timeout: no context manager or task lookup per read.
    timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()


def _settle(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


class TcpStream(httpcore.AsyncNetworkStream):
    """A connected TCP socket's bytes, as httpcore reads and writes them."""

    def __init__(self, transport: asyncio.Transport, pipe: _Pipe) -> None:
        self._transport = transport
        self._pipe = pipe

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.read_until(max_bytes, _deadline(timeout))

    async def read_until(self, max_bytes: int, deadline: float | None) -> bytes:
        """Up to ``max_bytes`` as soon as any are here; ``b""`` once the peer has closed."""
        pipe = self._pipe
        while not pipe.chunks and not pipe.ended:
            await pipe.arrival(deadline)
        if pipe.chunks:
            return pipe.take(max_bytes)
        if pipe.error is not None:
            raise ConnectionLost("the connection was lost") from pipe.error
        return b""

    def send(self, data: bytes) -> None:
        """Hand ``data`` to the transport; what does not fit in the socket waits there."""
        if self._pipe.error is not None:
            raise ConnectionLost("the connection was lost") from self._pipe.error
        try:
            self._transport.write(data)
        except RuntimeError as exc:  # uvloop refuses writes on a closing transport
            if not self._transport.is_closing():
                raise
            raise ConnectionLost("the connection is closed") from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self.send(buffer)
        await self.drained(_deadline(timeout))

    async def drained(self, deadline: float | None) -> None:
        """Until the socket has room again; TimeoutError at ``deadline``."""
        if not self._pipe.writable:
            await self._pipe.drained(deadline)

    async def aclose(self) -> None:
        transport = self._transport
        if transport.is_closing():
            return
        # Whatever is still unsent would hold the socket open for as long as the peer will not
        # read it: a stalled server could keep it for ever.
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """TLS over this connection, the handshake done within ``timeout``. On any failure the
        connection is closed and the error raised (see the module's docstring for which)."""
        deadline = _deadline(timeout)
        try:
            tls = _Tls(self, ssl_context, server_hostname)
            await tls.handshake(deadline)
        except BaseException:
            await self.aclose()
            raise
        return tls

    def get_extra_info(self, info: str) -> Any:
        if info in ("socket", "sockname", "peername"):
            return self._transport.get_extra_info(info)
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "is_readable":
            return bool(self._pipe.chunks) or self._pipe.ended
        return None


class _Tls(httpcore.AsyncNetworkStream):
    """TLS over a ``TcpStream``: OpenSSL reads and writes memory buffers, and ``_drive`` moves
    their bytes to and from the connection."""

    def __init__(
        self, raw: TcpStream, context: ssl.SSLContext, server_hostname: str | None
    ) -> None:
        self._raw = raw
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )

    async def handshake(self, deadline: float | None) -> None:
        await self._drive(self._ssl.do_handshake, deadline)

    async def _drive(self, step: Callable[[], T], deadline: float | None) -> T:
        """Call ``step`` until OpenSSL needs nothing more from the network, sending what it
        wrote and feeding it what arrives."""
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self._flush()
                data = await self._raw.read_until(_RECORD, deadline)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            except ssl.SSLWantWriteError:
                self._flush()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        if self._outgoing.pending:
            self._raw.send(self._outgoing.read())

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        def decrypt() -> bytes:
            return self._ssl.read(max_bytes)

        try:
            return await self._drive(decrypt, _deadline(timeout))
        except ssl.SSLError as exc:
            # A close without close_notify ends the stream as one with it does: servers
            # commonly skip it, and HTTP's framing says whether the body was whole.
            if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or (
                "UNEXPECTED_EOF" in (exc.strerror or "")
            ):
                return b""
            raise

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        deadline = _deadline(timeout)

        def encrypt() -> int:
            return self._ssl.write(buffer)

        await self._drive(encrypt, deadline)
        await self._raw.drained(deadline)

    async def aclose(self) -> None:
        await self._raw.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotImplementedError("TLS inside TLS is not measured")

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._ssl
        return self._raw.get_extra_info(info)


async def from_socket(sock: Any) -> TcpStream:
    """A stream over an already connected socket (closed by the caller on failure)."""
    transport, pipe = await asyncio.get_running_loop().create_connection(_Pipe, sock=sock)
    return TcpStream(transport, pipe)
