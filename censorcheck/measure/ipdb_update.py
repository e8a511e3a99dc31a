"""``censorcheck update-db``: fetch the IP-to-ASN table and put it in place atomically.

The download is bounded (a server that sends without end fills no disk), checked line by line
before it replaces anything (an error page or a truncated file never becomes the table), and
stored readable by its owner only, in a folder only its owner can enter: which networks a user
looks up is nobody else's business.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx

from censorcheck.errors import ConfigError
from censorcheck.measure.ipdb import parse_line

DEFAULT_URL = "https://iptoasn.com/data/ip2asn-combined.tsv.gz"
URL_ENV = "CENSORCHECK_IPDB_URL"
MAX_DOWNLOAD = 64 << 20  # the gzip file is about 7 MiB today
MAX_TABLE = 256 << 20  # and the table about 30 MiB
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Updated:
    path: Path
    ranges: int
    downloaded: int  # bytes that came over the network


class _Lines:
    """Checks every line of the table as it is written (gzip or not), keeping the last one."""

    def __init__(self, sink: object) -> None:
        self._sink = sink
        self._inflate: zlib._Decompress | None = None
        self._started = False
        self._pending = b""
        self._previous: tuple[int, int] | None = None
        self.ranges = 0
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        if not self._started:
            self._started = True
            if chunk[:2] == b"\x1f\x8b":
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = self._inflate.decompress(chunk) if self._inflate else chunk
        self._take(data)

    def _take(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_TABLE:
            raise ConfigError(f"the table is over {MAX_TABLE >> 20} MiB: not IPtoASN's")
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            self._check(line)
        self._sink.write(data)  # type: ignore[attr-defined]

    def _check(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            first, _, _ = parse_line(line)
        except ValueError as exc:
            raise ConfigError(
                f"line {self.ranges + 1} is not an ip2asn line ({exc}): not IPtoASN's table"
            ) from None
        # Lookups bisect the file: the ranges must come in order.
        if self._previous is not None and first < self._previous:
            raise ConfigError(f"line {self.ranges + 1} is out of order: not IPtoASN's table")
        self._previous = first
        self.ranges += 1

    def finish(self) -> None:
        if self._inflate is not None:
            self._take(self._inflate.flush())
            if not self._inflate.eof:
                raise ConfigError("the download ended in the middle of the gzip stream")
        if self._pending:
            self._check(self._pending)
            self._sink.write(b"\n")  # type: ignore[attr-defined]
        if self.ranges == 0:
            raise ConfigError("the download holds no address ranges")


def update(url: str, dest: Path, timeout: float = 60.0, limit: int = MAX_DOWNLOAD) -> Updated:
    """Download the table at ``url`` (http or https, gzip or plain) into ``dest``.

    ``dest`` is replaced only once the whole download has been checked; a download of more
    than ``limit`` bytes is abandoned.
    """
    if httpx.URL(url).scheme not in ("http", "https"):
        raise ConfigError(f"{url}: only http:// and https:// URLs")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(dest.parent, 0o700)
    fd, partial = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    downloaded = 0
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as sink:
            lines = _Lines(sink)
            # An environment proxy is not taken, as for every other request of the tool.
            with (
                httpx.Client(timeout=timeout, trust_env=False, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise ConfigError(f"{url}: HTTP {response.status_code}")
                for chunk in response.iter_raw(_CHUNK):
                    downloaded += len(chunk)
                    if downloaded > limit:
                        raise ConfigError(f"{url}: more than {limit:,} bytes")
                    lines.feed(chunk)
            lines.finish()
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, dest)
    except httpx.HTTPError as exc:
        os.unlink(partial)
        raise ConfigError(f"{url}: {exc}") from None
    except BaseException:
        os.unlink(partial)
        raise
    return Updated(dest, lines.ranges, downloaded)
