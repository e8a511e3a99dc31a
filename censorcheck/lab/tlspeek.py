"""What an on-path censor sees of a TLS connection: the server name in the ClientHello.

The lab reads the first TLS record with ``MSG_PEEK`` so that the bytes stay in the socket and the
real TLS server (or the interception box) can still handshake with them afterwards. The parser
trusts nothing: any malformed, truncated or non-TLS input simply yields no name.
"""

from __future__ import annotations

import asyncio
import re
import select
import socket

RECORD_HEADER = 5
MAX_RECORD = 16384  # TLS plaintext records are at most 2**14 bytes
_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_SERVER_NAME = 0x0000
_HOST_NAME = 0x00
_HOST_NAME_RE = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
# When the record arrives split, the socket stays readable because peeked bytes are never consumed,
# so waiting for readiness would spin; poll at this pace for the rest instead.
_PARTIAL_POLL = 0.01
_POLLRDHUP: int | None = getattr(select, "POLLRDHUP", None)  # Linux only


class _Cursor:
    """Bounds-checked big-endian reads over a buffer; any overrun raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if n < 0 or end > len(self._data):
            raise ValueError("truncated")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> _Cursor:
        """The next length-prefixed field, as its own cursor."""
        return _Cursor(self.take(self.uint(length_size)))

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._pos)

    def at_end(self) -> bool:
        return self._pos >= len(self._data)


def record_size(data: bytes) -> int | None:
    """Bytes needed for the whole first record if ``data`` starts a TLS handshake, else None."""
    if len(data) < RECORD_HEADER or data[0] != _HANDSHAKE:
        return None
    length = int.from_bytes(data[3:5], "big")
    if length == 0 or length > MAX_RECORD:
        return None
    return RECORD_HEADER + length


def server_name(data: bytes) -> str | None:
    """The SNI host name of a ClientHello that starts ``data``, lower-cased, or None."""
    size = record_size(data)
    if size is None:
        return None
    try:
        return _parse_client_hello(_Cursor(data[RECORD_HEADER:size]))
    except (ValueError, UnicodeDecodeError):
        return None


def hello_server_name(message: bytes) -> str | None:
    """The SNI host name of a ClientHello handshake message with no record header around it, as
    QUIC carries it in its CRYPTO frames; lower-cased, or None."""
    try:
        return _parse_client_hello(_Cursor(message))
    except (ValueError, UnicodeDecodeError):
        return None


def _parse_client_hello(record: _Cursor) -> str | None:
    if record.uint(1) != _CLIENT_HELLO:
        return None
    # A ClientHello longer than one record is legal but rare; its SNI is read from what is here.
    record.take(3)  # handshake message length
    record.take(2 + 32)  # legacy_version, random
    record.vector(1)  # legacy_session_id
    record.vector(2)  # cipher_suites
    record.vector(1)  # legacy_compression_methods
    if record.at_end():
        return None  # a ClientHello without extensions
    extensions = record.vector(2)
    while not extensions.at_end():
        kind = extensions.uint(2)
        body = extensions.vector(2)
        if kind == _SERVER_NAME:
            return _parse_server_name_list(body)
    return None


def _parse_server_name_list(body: _Cursor) -> str | None:
    names = body.vector(2)
    while not names.at_end():
        kind = names.uint(1)
        value = names.vector(2)
        if kind == _HOST_NAME:
            name = value.rest().decode("ascii").lower().rstrip(".")
            return name if _HOST_NAME_RE.fullmatch(name) else None
    return None


async def peek_client_hello(sock: socket.socket, timeout: float) -> bytes:
    """Wait until the first TLS record is in ``sock`` and return it without consuming it.

    Returns early with whatever is there (possibly nothing) on EOF, when the data is not TLS, or
    after ``timeout`` seconds. ``sock`` must be non-blocking. Connection errors propagate.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    data = b""
    while True:
        try:
            data = sock.recv(RECORD_HEADER + MAX_RECORD, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            pass
        else:
            if not data:
                return data
            needed = record_size(data)
            if needed is None or len(data) >= needed:
                return data
        remaining = deadline - loop.time()
        if remaining <= 0:
            return data
        if data:
            if _peer_done_sending(sock):
                return data  # the rest will never come
            await asyncio.sleep(min(_PARTIAL_POLL, remaining))
        else:
            await wait_readable(sock, remaining)


def _peer_done_sending(sock: socket.socket) -> bool:
    """Whether the peer has shut down its side; where that cannot be told, the timeout bounds us."""
    if _POLLRDHUP is None:
        return False
    poller = select.poll()
    poller.register(sock, _POLLRDHUP)
    return bool(poller.poll(0))


async def wait_readable(sock: socket.socket, timeout: float) -> None:
    """Return once ``sock`` is readable or ``timeout`` seconds have passed, whichever is first."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, wake)
    timer = loop.call_later(timeout, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        loop.remove_reader(fd)
