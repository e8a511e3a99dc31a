"""Unattended runs: durations, the foreground ``--repeat`` loop's clock, systemd timers, cron lines.

Nothing here builds a shell command from user input: a systemd ``ExecStart=`` is an argv quoted
word by word by systemd's own rules, and a cron line quotes every word with ``shlex.quote``.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from censorcheck.errors import ConfigError, ScheduleError
from censorcheck.unattended import crontab, systemd

Backend = Literal["systemd", "cron"]
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# At most nine digits a number: int() refuses thousands of them with an error of its own.
_DURATION = re.compile(r"([0-9]{1,9})\s*([smhd])")


def parse_duration(text: str, option: str = "--every") -> int:
    """Seconds in ``30m``, ``1h``, ``1d``, ``90s`` or ``1h30m``; ConfigError for anything else."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ConfigError(f"{option} {text!r}: expected a duration like 30m, 1h or 1d")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if seconds <= 0:
        raise ConfigError(f"{option} {text!r}: the duration must be more than zero")
    return seconds


def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` (Ctrl-C raises KeyboardInterrupt)."""
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 60.0))


# --- scheduled runs: systemd user timers or crontab entries --------------------------------


@dataclass(frozen=True)
class Installation:
    """What ``schedule install`` writes and runs; printed as is by ``--dry-run``."""

    name: str
    backend: Backend
    files: dict[Path, str] = field(default_factory=dict)
    crontab: str | None = None  # the whole new crontab, for cron
    entry: str | None = None  # the lines added to it
    folders: list[Path] = field(default_factory=list)  # to create (cron's log must have one)
    commands: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class Scheduled:
    """One installed schedule, as ``schedule list`` shows it."""

    name: str
    backend: Backend
    every: str
    command: str


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '-' and '_' (at most 64)")
    return name


def default_name(targets: Sequence[str], vantage: str) -> str:
    """``<first list's stem>-<vantage>``, e.g. ``kz-home``."""
    stem = Path(targets[0]).stem if targets else "targets"
    return re.sub(r"[^A-Za-z0-9_-]+", "_", f"{stem}-{vantage}")[:64]


def run_argv(
    targets: Sequence[str], vantage: str, results_dir: Path, extra: Sequence[str] = ()
) -> list[str]:
    """The argv of each scheduled run. Files become absolute paths; a run that finds another
    still going skips its turn; ``--`` keeps a target from being read as an option."""
    words = [sys.executable, "-m", "censorcheck", "run", "--vantage", vantage]
    words += ["--results-dir", str(results_dir.absolute()), "--lock", "skip", "--quiet", *extra]
    words.append("--")
    for target in targets:
        path = Path(target)
        words.append(str(path.absolute()) if path.exists() else target)
    return words


def default_backend() -> Backend:
    return "systemd" if shutil.which("systemctl") else "cron"


def plan_install(
    name: str,
    argv: Sequence[str],
    every_text: str,
    backend: Backend,
    log: Path,
    dry_run: bool = False,
) -> Installation:
    """What installing schedule ``name`` (running ``argv`` every ``every_text``) takes.

    A schedule of the same name is replaced. A dry run works without a crontab binary. Runs
    start in the current folder, so relative paths given through ``--arg`` keep their meaning.
    """
    every = parse_duration(every_text)
    workdir = Path.cwd()
    description = f"censorcheck schedule {name}, every {every_text}"
    if backend == "systemd":
        folder = systemd.unit_dir()
        service_name, timer_name = systemd.unit_names(name)
        files = {
            folder / service_name: systemd.service(name, argv, description, workdir),
            folder / timer_name: systemd.timer(name, every, description),
        }
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", timer_name],
        ]
        return Installation(name, backend, files=files, commands=commands)
    lines = crontab.entry(name, every_text, every, argv, str(log.absolute()), str(workdir))
    current = "" if dry_run and shutil.which("crontab") is None else _read_crontab()
    table = crontab.without(current, name) + lines
    return Installation(name, backend, crontab=table, entry=lines, commands=[["crontab", "-"]],
                        folders=[log.absolute().parent])  # fmt: skip


def install(plan: Installation) -> None:
    """Write the files and run the commands of ``plan``; nothing when a program is missing."""
    for argv in plan.commands:
        if shutil.which(argv[0]) is None:
            raise ScheduleError(f"{argv[0]} not found, so nothing was installed; try --dry-run")
    for folder in plan.folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScheduleError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    for path, text in plan.files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ScheduleError(f"cannot write {path}: {exc.strerror or exc}") from exc
    for argv in plan.commands:
        _call(argv, plan.crontab if argv[0] == "crontab" else None)


def installed() -> list[Scheduled]:
    """Every schedule censorcheck installed, systemd timers first."""
    found = []
    folder = systemd.unit_dir()
    for name in systemd.installed(folder):
        service_name, timer_name = systemd.unit_names(name)
        every = systemd.every_of((folder / timer_name).read_text(encoding="utf-8"))
        service = folder / service_name
        text = service.read_text(encoding="utf-8") if service.exists() else ""
        exec_start = next((ln[10:] for ln in text.splitlines() if ln.startswith("ExecStart=")), "")
        found.append(Scheduled(name, "systemd", f"{every}s" if every else "?", exec_start))
    if shutil.which("crontab"):
        for name, job in crontab.entries(_read_crontab()).items():
            fields = job.split(None, 5)
            found.append(Scheduled(name, "cron", " ".join(fields[:5]), fields[5]))
    return found


def plan_remove(name: str) -> Installation | None:
    """What removing schedule ``name`` takes (files to delete are listed in ``files``)."""
    check_name(name)
    folder = systemd.unit_dir()
    units = [folder / unit for unit in systemd.unit_names(name)]
    if any(p.exists() for p in units):
        commands = [
            ["systemctl", "--user", "disable", "--now", units[1].name],
            ["systemctl", "--user", "daemon-reload"],
        ]
        return Installation(name, "systemd", files={p: "" for p in units}, commands=commands)
    if shutil.which("crontab"):
        table = _read_crontab()
        if name in crontab.entries(table):
            return Installation(name, "cron", crontab=crontab.without(table, name),
                                commands=[["crontab", "-"]])  # fmt: skip
    return None


def remove(plan: Installation) -> None:
    if plan.backend == "systemd":
        with contextlib.suppress(ScheduleError):  # a timer systemd never loaded: still delete
            _call(plan.commands[0])
        for path in plan.files:
            path.unlink(missing_ok=True)
        with contextlib.suppress(ScheduleError):
            _call(plan.commands[1])
    else:
        _call(plan.commands[0], plan.crontab)


def _read_crontab() -> str:
    if shutil.which("crontab") is None:
        raise ScheduleError("crontab not found: install cron, or use --systemd")
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return ""
        raise ScheduleError(f"crontab -l failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _call(argv: list[str], stdin: str | None = None) -> None:
    if shutil.which(argv[0]) is None:
        raise ScheduleError(f"{argv[0]} not found; nothing was run: {shlex.join(argv)}")
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.split()) or f"exit {proc.returncode}"
        raise ScheduleError(f"{shlex.join(argv)} failed: {detail}")
