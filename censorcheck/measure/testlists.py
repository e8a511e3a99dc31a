"""Citizen Lab's test lists, fetched: the global list and one country's, as the project publishes
them (one CSV file per list), written into a folder of target lists.

Each file is read with the target-list loader before it replaces the copy on disk, so a download
that is not a list (an error page, a cut transfer) never overwrites a good one; rows the loader
cannot use are reported through the caller's callback and kept in the file as published. Nothing
here prints.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from censorcheck.errors import ConfigError, StoreError, TargetError
from censorcheck.measure.targets import OnSkip, parse_list

# Where the lists live: the raw files of citizenlab/test-lists on GitHub (lists/global.csv,
# lists/kz.csv, ...). A mirror or a local copy serves the same names.
DEFAULT_URL = "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists/"
# The largest list today is well under a megabyte; a response far past that is not a list.
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """One list written: where, from where, and how many targets it holds."""

    path: Path
    url: str
    targets: int
    skipped: int


def list_urls(country: str, base_url: str = DEFAULT_URL) -> dict[str, str]:
    """The file name and URL of each list to fetch: the global one, then the country's."""
    if not re.fullmatch(r"[A-Za-z]{2}", country):
        raise ConfigError(f"{country!r}: a country is a two-letter ISO 3166 code, e.g. KZ")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{base_url!r}: the lists' URL must start with http:// or https://")
    base = base_url if base_url.endswith("/") else base_url + "/"
    return {f"{name}.csv": f"{base}{name}.csv" for name in ("global", country.lower())}


def update(
    country: str,
    folder: Path,
    base_url: str = DEFAULT_URL,
    timeout: float = 30.0,
    on_skip: OnSkip | None = None,
) -> list[Fetched]:
    """Fetch the global list and ``country``'s into ``folder``; every list is fetched and
    checked before any file is replaced."""
    downloaded: list[tuple[str, str, str, int, int]] = []
    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=True) as client:
        for name, url in list_urls(country, base_url).items():
            text = _download(client, url)
            skipped: list[str] = []
            shown = str(folder / name)
            try:
                found = parse_list(text, shown, ".csv", skipped.append)
            except TargetError as exc:
                raise TargetError(f"{url} is not a target list: {exc}") from None
            for reason in skipped:
                if on_skip is not None:
                    on_skip(reason)
            downloaded.append((name, url, text, len(found), len(skipped)))
    written = []
    for name, url, text, count, skipped_count in downloaded:
        path = folder / name
        _write(path, text)
        written.append(Fetched(path, url, count, skipped_count))
    return written


def _download(client: httpx.Client, url: str) -> str:
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise TargetError(f"{url}: HTTP {response.status_code} (no such list there?)")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise TargetError(f"{url}: more than {MAX_BYTES} bytes; not a test list")
    except httpx.HTTPError as exc:
        raise TargetError(f"{url}: cannot fetch it ({exc.__class__.__name__})") from None
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise TargetError(f"{url}: not UTF-8 text") from None


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a reader sees the old list or the new one, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # published lists: nothing to hide, unlike a run's results
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
