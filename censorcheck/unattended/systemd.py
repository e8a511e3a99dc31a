"""A scheduled run as a systemd user service and timer.

The command is an argv, quoted word by word as systemd reads ``ExecStart=``: double quotes with C
escapes, ``%%`` for a literal ``%`` (specifiers) and ``$$`` for a literal ``$`` (environment
expansion). No shell is involved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from censorcheck.errors import ConfigError

PREFIX = "censorcheck-"
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "%": "%%", "$": "$$"}


def unit_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user``, by default ``~/.config/systemd/user``."""
    env = os.environ if env is None else env
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(config) / "systemd" / "user"


def quote_word(word: str) -> str:
    """One argument as systemd's command-line syntax reads it back unchanged."""
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in word) or "\x7f" in word:
        raise ConfigError(f"{word!r}: a control character cannot go into a systemd unit")
    if word and _PLAIN.fullmatch(word):
        return word
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in word) + '"'


def path_value(path: Path) -> str:
    """A path for settings like ``WorkingDirectory=``: taken whole, only specifiers escaped."""
    text = str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or not path.is_absolute():
        raise ConfigError(f"{text!r}: a systemd unit needs an absolute path without control chars")
    return text.replace("%", "%%")


def exec_line(argv: Sequence[str]) -> str:
    """``ExecStart=`` value for ``argv``; the program must be an absolute path."""
    if not argv or not os.path.isabs(argv[0]):
        raise ConfigError(f"{argv[0] if argv else ''!r}: ExecStart needs an absolute program path")
    return " ".join(quote_word(word) for word in argv)


def _written(name: str) -> str:
    return f"# Written by censorcheck schedule install; remove: censorcheck schedule remove {name}"


def _plain(text: str) -> str:
    """Free text for Description=: one line, specifiers escaped."""
    return " ".join(text.split()).replace("%", "%%")


def service(name: str, argv: Sequence[str], description: str, workdir: Path) -> str:
    return f"""{_written(name)}
[Unit]
Description={_plain(description)}

[Service]
Type=oneshot
ExecStart={exec_line(argv)}
WorkingDirectory={path_value(workdir)}
Environment=NO_COLOR=1
Nice=10
SyslogIdentifier={PREFIX}{name}
"""


def timer(name: str, every: int, description: str) -> str:
    # A random delay spreads runs of many probes, and makes a probe's timing less predictable.
    spread = max(1, min(every // 10, 900))
    return f"""{_written(name)}
[Unit]
Description={_plain(description)}

[Timer]
OnActiveSec=2min
OnUnitActiveSec={every}s
RandomizedDelaySec={spread}s
AccuracySec=1min

[Install]
WantedBy=timers.target
"""


def unit_names(name: str) -> tuple[str, str]:
    return f"{PREFIX}{name}.service", f"{PREFIX}{name}.timer"


def installed(folder: Path) -> list[str]:
    """Names of the schedules with a timer in ``folder``."""
    return sorted(p.name[len(PREFIX) : -len(".timer")] for p in folder.glob(f"{PREFIX}*.timer"))


def every_of(timer_text: str) -> int | None:
    """The interval of a timer this module wrote, in seconds."""
    found = re.search(r"^OnUnitActiveSec=(\d+)s$", timer_text, re.MULTILINE)
    return int(found[1]) if found else None
