"""The few exceptions that reach a user. Each carries a one-line message and an exit code."""

from __future__ import annotations


class CensorcheckError(Exception):
    """A problem the user can fix; the CLI prints ``error: <message>`` and exits."""

    exit_code = 2


class TargetError(CensorcheckError):
    """A target list or target argument is malformed."""


class ConfigError(CensorcheckError):
    """An option has a value that cannot work (bad resolver URI, unreadable CA bundle, ...)."""


class NothingMeasured(CensorcheckError):
    """No measurement was possible at all, e.g. no probe resolver answered."""

    exit_code = 3


class StoreError(CensorcheckError):
    """Results could not be written."""

    exit_code = 4


class ScheduleError(CensorcheckError):
    """A schedule could not be installed, listed or removed (no systemctl, crontab failed, ...)."""
