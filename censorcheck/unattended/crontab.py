"""A scheduled run as a crontab entry: a marker comment, then the job line.

cron hands the command to ``/bin/sh``, so every word is quoted with ``shlex.quote``. A ``%`` means
a newline to cron even inside quotes, so words holding one are refused (use systemd instead).
"""

from __future__ import annotations

import shlex
import zlib
from collections.abc import Sequence

from censorcheck.errors import ConfigError

MARKER = "# censorcheck:"


def when(every: int, name: str) -> str:
    """The five time fields for ``every`` seconds, offset by a delay fixed for ``name``.

    cron steps only divide an hour or a day evenly; other intervals are refused.
    """
    spread = zlib.crc32(name.encode())
    minute = spread % 60
    if every % 60 == 0 and every < 3600 and 60 % (every // 60) == 0:
        step = every // 60
        return "* * * * *" if step == 1 else f"{minute % step}-59/{step} * * * *"
    if every % 3600 == 0 and every < 86400 and 24 % (every // 3600) == 0:
        step = every // 3600
        hours = "*" if step == 1 else f"{(spread // 60) % step}-23/{step}"
        return f"{minute} {hours} * * *"
    if every == 86400:
        return f"{minute} {(spread // 60) % 24} * * *"
    raise ConfigError(
        f"cron cannot run every {every} s evenly: use an interval that divides an hour or a day "
        "(5m, 30m, 2h, 1d), or --systemd"
    )


def command(argv: Sequence[str], log: str, workdir: str) -> str:
    """The job's shell command: in ``workdir``, each word quoted, output appended to ``log``."""
    for word in (*argv, log, workdir):
        if "%" in word or "\n" in word or "\r" in word:
            raise ConfigError(f"{word!r}: cron cannot carry '%' or a newline; use --systemd")
    words = " ".join(shlex.quote(word) for word in argv)
    return f"cd {shlex.quote(workdir)} && {words} >> {shlex.quote(log)} 2>&1"


def entry(
    name: str, every_text: str, every: int, argv: Sequence[str], log: str, workdir: str
) -> str:
    """The marker line and the job line, newline-terminated."""
    return (
        f"{MARKER}{name} every {every_text}; remove with: censorcheck schedule remove {name}\n"
        f"{when(every, name)} {command(argv, log, workdir)}\n"
    )


def entries(table: str) -> dict[str, str]:
    """The schedules in a crontab: name -> job line."""
    found: dict[str, str] = {}
    lines = table.splitlines()
    for i, marker in enumerate(lines):
        job = lines[i + 1] if i + 1 < len(lines) else ""
        if marker.startswith(MARKER) and job and not job.startswith("#"):
            found[marker[len(MARKER) :].split(" ", 1)[0]] = job
    return found


def without(table: str, name: str) -> str:
    """The crontab with the schedule ``name`` (marker and job line) taken out."""
    kept: list[str] = []
    skip_next = False
    for line in table.splitlines():
        if skip_next:
            skip_next = False
            if not line.startswith("#"):
                continue
        if line.startswith(MARKER) and line[len(MARKER) :].split(" ", 1)[0] == name:
            skip_next = True
            continue
        kept.append(line)
    return "".join(f"{line}\n" for line in kept)
