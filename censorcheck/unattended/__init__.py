"""Unattended runs and CI: what lets a probe run on a schedule or gate a build.

Owns reachability checks and their exit codes (``check``), JUnit output (``junit``), the lock that
keeps two runs from sharing a results folder (``lock``), and scheduled runs (``schedule``) through
systemd timers (``systemd``) or cron (``crontab``).

May import: the root contracts (``models``, ``settings``, ``errors``) and ``results.store`` to read
the run it judges. Never imports the probes, ``control``, ``scan``, ``lab`` or ``cli``.
"""
