"""``schedule install|list|remove``: unattended runs through systemd user timers or cron."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from censorcheck.cli.common import (
    CONTROL_ENV,
    CONTROL_FORMS,
    Opt,
    app,
    log,
    skip_row,
    user_errors,
)
from censorcheck.errors import ConfigError, ScheduleError
from censorcheck.unattended import schedule

schedule_app = typer.Typer(
    no_args_is_help=True,
    help="Run censorcheck unattended: systemd user timers or crontab entries.",
)
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("install")
def schedule_install(
    targets: Annotated[list[str], typer.Argument(help="Target files, URLs, domains.")],
    every: Annotated[str, Opt(help="How often: 30m, 1h, 1d.")] = "1h",
    vantage: Annotated[str, Opt(help="Name of this vantage point.")] = "local",
    name: Annotated[str | None, Opt(help="Schedule name (default: <list>-<vantage>).")] = None,
    results_dir: Annotated[Path, Opt(help="Folder for the results.")] = Path("results"),
    keep: Annotated[float | None, Opt(help="Delete results older than DAYS.", min=0)] = None,
    control: Annotated[
        str | None,
        Opt(
            help=f"The runs' control, written into each run's command: {CONTROL_FORMS}. "
            f"Default: {CONTROL_ENV} as set now, else ooni."
        ),
    ] = None,
    arg: Annotated[
        list[str] | None, Opt(help="Extra argument for each run (repeatable): --arg=--resolver")
    ] = None,
    use_systemd: Annotated[bool, Opt("--systemd", help="A systemd user timer.")] = False,
    use_cron: Annotated[bool, Opt("--cron", help="A crontab entry.")] = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="Print what would be written.")] = False,
) -> None:
    """Run TARGETS every --every, with a lock, a journal and plain logs (default: systemd)."""
    from censorcheck.measure.targets import load_targets
    from censorcheck.settings import choose_control

    with user_errors():
        if use_systemd and use_cron:
            raise ConfigError("--systemd and --cron: choose one")
        backend: schedule.Backend = (
            "systemd" if use_systemd else "cron" if use_cron else schedule.default_backend()
        )
        # Read now as the scheduled runs will read it (skipping bad rows unless --strict is
        # passed on), so that what they would skip or refuse is said now, not at three in the
        # morning.
        strict = "--strict" in (arg or [])
        if not load_targets(targets, on_skip=None if strict else skip_row):
            raise ConfigError("no targets: every row of the lists is skipped")
        chosen = schedule.check_name(name or schedule.default_name(targets, vantage))
        # Written out in full: a timer or cron job does not see the shell's environment.
        control = control or os.environ.get(CONTROL_ENV, "").strip() or "ooni"
        try:
            choose_control(control, {})
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        extra = ["--control", control, *(arg or [])]
        extra += ["--keep", f"{keep:g}"] if keep is not None else []
        argv = schedule.run_argv(targets, vantage, results_dir, extra)
        log_file = results_dir / "censorcheck.log"
        plan = schedule.plan_install(chosen, argv, every, backend, log_file, dry_run)
        verb = "would" if dry_run else "will"
        for path, text in plan.files.items():
            print(f"# {path} ({verb} be written)\n{text}")
        if plan.entry is not None:
            print(f"# crontab entry ({verb} be added)\n{plan.entry}")
        for command in plan.commands:
            print(f"# {'would run' if dry_run else 'running'}: {shlex.join(command)}")
        if not dry_run:
            schedule.install(plan)
            log(f"installed schedule {chosen} ({backend}, every {every})")


@schedule_app.command("list")
def schedule_list() -> None:
    """Show the schedules censorcheck installed."""
    with user_errors():
        for job in schedule.installed():
            print(f"{job.name}\t{job.backend}\t{job.every}\t{job.command}")


@schedule_app.command("remove")
def schedule_remove(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Stop and delete a schedule."""
    with user_errors():
        plan = schedule.plan_remove(name)
        if plan is None:
            raise ScheduleError(f"no schedule named {name!r} (see: censorcheck schedule list)")
        schedule.remove(plan)
        log(f"removed schedule {name} ({plan.backend})")
