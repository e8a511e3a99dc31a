"""``run`` and ``demo``: measure, journal, write, judge, report."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from censorcheck.cli import geo
from censorcheck.cli.common import (
    CONTROL_ENV,
    CONTROL_FORMS,
    SUMMARY_COLUMNS,
    FailOn,
    IPv6Mode,
    LockMode,
    Opt,
    QuicMode,
    app,
    fatal,
    log,
    parse_port_map,
    skip_row,
    stderr,
    summary_rows,
    summary_table,
    table_console,
    user_errors,
)
from censorcheck.cli.lab import NAMESPACE_HELP, Namespace, lab_thread, place_lab, which_lab
from censorcheck.cli.text import FORMAT_HELP, Format, write_tsv
from censorcheck.errors import CensorcheckError, ConfigError
from censorcheck.unattended import schedule
from censorcheck.unattended.lock import RunLock

# Only what the options' help needs is imported here: the models, settings and the library load
# when a command runs, so `run --help` starts at once.
if TYPE_CHECKING:
    from censorcheck.measure import durable
    from censorcheck.models import Result, Run
    from censorcheck.results.store import VantagePlan
    from censorcheck.settings import Settings
    from censorcheck.unattended.check import Cases


@dataclass(frozen=True)
class Outputs:
    """Where a run's results go, and how it is judged: the options every run shares."""

    output: str | None
    results_dir: Path
    json_out: bool = False
    quiet: bool = False
    fail_on: FailOn | None = None
    check: bool = False
    junit: Path | None = None
    keep: float | None = None
    lock: LockMode = LockMode.wait
    fmt: Format = Format.table
    summary: bool = False
    workers: int | None = None  # processes that measure; None: as many as help (see --help)

    @property
    def to_stdout(self) -> bool:
        return self.json_out or self.output == "-" or self.fmt is Format.json

    @property
    def to_file(self) -> bool:
        return self.output != "-"

    def folder(self) -> Path | None:
        """The folder the run document goes to (and that is locked); None for stdout only."""
        if not self.to_file:
            return None
        if self.output:
            target = Path(os.path.realpath(self.output))
            # A device or FIFO has no folder of runs to guard: no lock file beside /dev/stdout.
            return None if target.exists() and not target.is_file() else target.parent
        return self.results_dir

    def path(self, settings: Settings, started_at: str) -> Path | None:
        if not self.to_file:
            return None
        if self.output:
            if Path(self.output).is_dir():
                raise ConfigError(f"--output {self.output}: is a folder; give a file name")
            return Path(self.output)
        from censorcheck.results.store import default_output, unused_output

        return unused_output(default_output(self.results_dir, started_at, settings.vantage))


def _run_once(plan: Callable[[], durable.Pending], out: Outputs, folder: Path | None) -> int:
    """Lock, measure (or finish) one run, write and report it; the exit code."""
    # The probes and their libraries load only for a command that measures: every other
    # command, and --help, starts in a fraction of the time.
    from censorcheck.cli.header import announcer
    from censorcheck.cli.progress import run_progress
    from censorcheck.measure import durable
    from censorcheck.measure.running import Interrupted
    from censorcheck.results.store import journal_path
    from censorcheck.unattended.check import Cases

    lock = RunLock(folder) if folder is not None else None
    if lock is not None and not lock.acquire(
        out.lock is LockMode.wait,
        lambda who: log(f"waiting for {who} to finish (it holds {lock.path})"),
    ):
        log(f"skipped: another run holds {lock.path} (--lock skip)")
        return 0
    # Only what is shown is kept: a quiet run holds no result in memory, however long its list.
    shown: list[Result] = []
    keep = out.fmt is Format.tsv or not out.quiet
    cases = Cases(out.fail_on.value if out.fail_on else None, out.check, out.junit is not None)
    stood_in = False

    def written(result: Result) -> None:
        nonlocal stood_in
        cases.add(result)
        stood_in = stood_in or result.control.source == "resolvers"
        if keep:
            shown.append(result)

    try:
        pending = plan()
        progress, on_done = run_progress(pending.to_measure, out.quiet, stderr)
        stdout = sys.stdout if out.to_stdout else None
        try:
            with progress:
                head = durable.complete(pending, on_done, announcer(), out.workers, stdout, written)
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            what = "interrupted" if signum == signal.SIGINT else "stopped by SIGTERM"
            if pending.path is not None:
                what += f"; {durable.kept(journal_path(pending.path))}"
            fatal(what, 128 + signum)
    finally:
        if lock is not None:
            lock.release()
    if stdout is not None:
        stdout.flush()
    _report(head.model_copy(update={"results": shown}), pending.path, out, cases, stood_in)
    return cases.exit_code


def _report(run: Run, path: Path | None, out: Outputs, cases: Cases, stood_in: bool) -> None:
    from censorcheck.results.store import prune
    from censorcheck.unattended.junit import write_junit

    if out.fmt is Format.tsv:
        write_tsv(SUMMARY_COLUMNS, summary_rows(run, out.summary))
    elif not out.quiet:
        table_console(to_stderr=out.to_stdout).print(summary_table(run, out.summary))
    if out.junit is not None:
        write_junit(run, cases.all, out.junit)
    if path is not None:
        log(f"results written to {path}")
    for s in run.vantage.resolvers:
        if not s.alive:
            log(f"warning: {s.role} resolver {s.uri} did not answer ({s.failure})")
    server = run.vantage.control_server
    if server is not None and not server.alive:
        what = "OONI test helper" if server.protocol == "ooni" else "control server"
        then = ("the control resolvers stood in, for DNS only" if stood_in
                else "no verdict that needed it claims blocking")  # fmt: skip
        log(f"warning: {what} {server.url} did not answer ({server.failure}); {then}")
    if out.check:
        for failed in cases.failed:
            log(f"check failed: {failed.url}: {failed.why}: {failed.reason}")
        log(f"check: {len(cases.failed)} failed, {cases.total - len(cases.failed)} passed "
            f"({cases.expected} of {cases.total} targets carry an expectation)")  # fmt: skip
    if out.keep is not None and path is not None:
        removed = prune(path.parent, out.keep)
        if removed:
            log(f"pruned {len(removed)} result files older than {out.keep:g} days")


def _new_run(
    targets: Sequence[str],
    settings: Settings,
    out: Outputs,
    vantages: Sequence[VantagePlan] = (),
    control_vantage: Settings | None = None,
    strict: bool = False,
) -> int:
    def plan() -> durable.Pending:
        from censorcheck.measure import durable
        from censorcheck.measure.api import utc_now
        from censorcheck.measure.targets import load_targets

        started = utc_now()
        named = settings
        if len(vantages) > 1:  # the document is named after every vantage of the run
            joined = "+".join(p.settings.vantage for p in vantages)
            named = settings.model_copy(update={"vantage": joined})
        return durable.start(
            load_targets(targets, on_skip=None if strict else skip_row),
            settings,
            out.path(named, started),
            started,
            vantages,
            control_vantage,
        )

    return _run_once(plan, out, out.folder())


def _resume_run(where: Sequence[str], out: Outputs, control_token: str | None) -> int:
    from censorcheck.results.store import journal_path, newest_journal

    if len(where) > 1:
        raise ConfigError("--resume takes at most one journal or run document path")
    given = Path(where[0]) if where else None
    if given is not None and not given.name.endswith(".journal.jsonl"):
        given = journal_path(given)
    folder = given.parent if given is not None else out.results_dir

    def plan() -> durable.Pending:
        from censorcheck.measure import durable

        journal = given or newest_journal(folder)
        if not journal.is_file():
            raise ConfigError(f"--resume {journal}: no such journal (nothing to finish)")
        pending = durable.resume(journal, control_token)
        if pending.repaired is not None:
            log(pending.repaired.describe(journal))
        log(f"resuming run {pending.head.run_id} from {journal}: "
            f"{pending.done} targets done, {pending.to_measure} to measure")  # fmt: skip
        return pending

    return _run_once(plan, out, folder)


@app.command()
def run(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Target files (.yaml .csv .txt), URLs, domains; with --resume, the journal."
        ),
    ] = None,
    resolver: Annotated[
        list[str],
        Opt(
            "--resolver",
            "-r",
            help="Probe resolver URI (repeatable): system, udp://IP[:PORT], tcp://, tls://, https://HOST/PATH.",
        ),
    ] = ["system"],  # noqa: B006
    control_resolver: Annotated[
        list[str] | None,
        Opt(help="Control resolver URI (repeatable); default: DoH to 1.1.1.1 and 8.8.8.8."),
    ] = None,
    control: Annotated[
        str | None,
        Opt(
            help=f"What measures each target from elsewhere: {CONTROL_FORMS} (see README). "
            f"Default: {CONTROL_ENV} if set, else ooni (OONI's public test helpers)."
        ),
    ] = None,
    no_control_ok: Annotated[
        bool,
        Opt("--no-control-ok", help="Measure even when no control answers (else exit 3)."),
    ] = False,
    control_token: Annotated[
        str | None,
        Opt(
            envvar="CENSORCHECK_CONTROL_TOKEN",
            show_envvar=True,
            help="Bearer token for --control; prefer the environment variable (argv is public).",
        ),
    ] = None,
    source_address: Annotated[
        str | None, Opt(help="Bind every socket to this local address.")
    ] = None,
    ca_bundle: Annotated[Path | None, Opt(help="Extra trusted CA certificates (PEM).")] = None,
    fingerprints: Annotated[
        list[Path] | None, Opt(help="Extra blockpage fingerprint file (repeatable).")
    ] = None,
    timeout: Annotated[float, Opt(help="Seconds for each network operation.")] = 5.0,
    deadline: Annotated[
        float | None, Opt(help="Seconds for a whole target (default 6 x timeout).")
    ] = None,
    concurrency: Annotated[int, Opt(help="Targets measured at once.")] = 32,
    workers: Annotated[
        int | None,
        Opt(
            help="Processes that measure, sharing --concurrency (default: one per core, but "
            "none with fewer than 2,500 targets to measure: starting one costs about a second "
            "of CPU).",
            min=1,
        ),
    ] = None,
    vantage: Annotated[
        list[str] | None,
        Opt(
            help="A configured vantage to measure from (repeatable; see `censorcheck vantage`). "
            "A single name that is not configured just names this machine's view."
        ),
    ] = None,
    control_vantage: Annotated[
        str | None, Opt(help="A configured vantage whose view is the control (no server needed).")
    ] = None,
    vantage_file: Annotated[
        list[Path] | None,
        Opt(help="Also read vantages from this file (repeatable; after the user's and project's)."),
    ] = None,
    proxy: Annotated[
        str | None,
        Opt(help="Leave through this socks5:// or http:// proxy, DNS included (see README)."),
    ] = None,
    output: Annotated[
        str | None, Opt("--output", "-o", help="Run document path; '-' for stdout.")
    ] = None,
    results_dir: Annotated[Path, Opt(help="Folder for results/<time>-<vantage>.json.")] = Path(
        "results"
    ),
    fail_on: Annotated[
        FailOn | None,
        Opt(help="Exit 1 when any verdict is this (default blocked; with --check, never)."),
    ] = None,
    check: Annotated[
        bool, Opt("--check", help="Exit 1 when a verdict differs from its target's 'expect:'.")
    ] = False,
    junit: Annotated[Path | None, Opt(help="Also write the verdicts as JUnit XML here.")] = None,
    json_out: Annotated[
        bool, Opt("--json", help="Print the run document on stdout (and still write it).")
    ] = False,
    lock: Annotated[
        LockMode, Opt(help="When another run holds the results folder: wait, or skip (exit 0).")
    ] = LockMode.wait,
    resume: Annotated[
        bool, Opt("--resume", help="Finish an interrupted run (newest journal, or the one given).")
    ] = False,
    keep: Annotated[
        float | None, Opt(help="After the run, delete result files older than DAYS.", min=0)
    ] = None,
    repeat: Annotated[
        str | None, Opt(help="Run again every DURATION (30m, 1h, 1d) until Ctrl-C.")
    ] = None,
    ipv6: Annotated[IPv6Mode, Opt(help="Use IPv6: auto-detect, on, off.")] = IPv6Mode.auto,
    quic: Annotated[
        QuicMode,
        Opt(
            help="HTTP/3 over QUIC: when the site advertises it (auto), for every https target, "
            "or never."
        ),
    ] = QuicMode.auto,
    port_map: Annotated[
        list[str] | None, Opt(help="URLPORT=PORT: dial PORT where a URL says URLPORT.")
    ] = None,
    treat_as_public: Annotated[
        list[str] | None, Opt(help="CIDR not to count as bogon (labs).")
    ] = None,
    max_body: Annotated[int, Opt(help="Most body bytes read per response.")] = 1 << 20,
    control_addresses: Annotated[
        int,
        Opt(
            help="When the probe's DNS fails or disagrees with the control's, also measure up "
            "to N of the control's addresses from here (0: off).",
            min=0,
            max=8,
        ),
    ] = 2,
    no_geo: geo.NoGeo = False,
    geo_from: geo.GeoFrom = "control",
    whoami: geo.Whoami = None,
    resolver_whoami: geo.ResolverWhoami = None,
    geo_db: geo.GeoDB = None,
    output_format: Annotated[Format, Opt("--format", "-f", help=FORMAT_HELP)] = Format.table,
    summary: Annotated[
        bool, Opt("--summary", help="Show the counts and the targets not accessible only.")
    ] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar and no table.")] = False,
    strict: Annotated[
        bool, Opt("--strict", help="A bad row in a target list is an error (default: skip it).")
    ] = False,
) -> None:
    """Measure targets and write the run document.

    Exit codes: 0 done, no test case failed (or skipped by --lock skip); 1 done, a test case
    failed (a verdict --fail-on names, or a --check mismatch); 2 bad usage or input; 3 nothing
    could be measured (no probe resolver, or no control, answered); 4 results could not be
    written; 5 a worker process died (the journal keeps what was measured); 130 Ctrl-C and 143
    SIGTERM during a run (the journal keeps what was measured).
    """
    from censorcheck.cli.plans import runnable, vantage_plans
    from censorcheck.settings import Settings, choose_control

    out = Outputs(output, results_dir, json_out, quiet, fail_on, check, junit, keep, lock,
                  output_format, summary, workers)  # fmt: skip
    with user_errors():
        if output_format is Format.tsv and out.to_stdout:
            raise ConfigError(
                "--format tsv prints rows on stdout; the document cannot go there too"
            )
        every = schedule.parse_duration(repeat, "--repeat") if repeat else None
        if resume:
            if every is not None:
                raise ConfigError("--resume finishes one run; it does not go with --repeat")
            _loop(lambda: _resume_run(targets or [], out, control_token), None)
        if not targets:
            raise ConfigError("no targets: give target files, URLs or domains (or --resume)")
        try:
            chosen = choose_control(control, os.environ)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # --control-vantage wins over a configured or default control, and goes with none.
        named = chosen.control_url is not None or chosen.vantage is not None
        if control_vantage is not None and named and chosen.origin == "--control":
            raise ConfigError(f"--control {control} and --control-vantage: choose one")
        by_vantage = control_vantage or chosen.vantage
        values: dict[str, Any] = {
            "vantage": "local",
            "proxy": proxy,
            "resolvers": resolver,
            "source_address": source_address,
            "ca_bundle": ca_bundle,
            "fingerprints": fingerprints or [],
            "timeout": timeout,
            "deadline": deadline,
            "concurrency": concurrency,
            "ipv6": ipv6.value,
            "quic": quic.value,
            "port_map": parse_port_map(port_map or []),
            "treat_as_public": treat_as_public or [],
            "max_body": max_body,
            "control_addresses": control_addresses,
            "control_url": chosen.control_url if by_vantage is None else None,
            "control_token": control_token,
            "no_control_ok": no_control_ok,
            **geo.geo_settings(no_geo, geo_from, whoami, resolver_whoami, geo_db),
        }
        if control_resolver:
            values["control_resolvers"] = control_resolver
        base = runnable(Settings(**values))
        flag = "--control vantage:" if chosen.vantage else "--control-vantage "
        plans, control_settings = vantage_plans(
            base, vantage or [], by_vantage, vantage_file or [], flag
        )
        settings = plans[0].settings if plans else base
        _loop(lambda: _new_run(targets, settings, out, plans, control_settings, strict), every)


def _loop(once: Callable[[], int], every: int | None) -> NoReturn:
    """One run, or (with --repeat) one every ``every`` seconds until Ctrl-C between runs.

    A repeated run that fails for a passing reason (no resolver answered, a full disk) is logged
    and tried again next time; usage errors end the loop at once.
    """
    while True:
        began = time.monotonic()
        try:
            code = once()
        except CensorcheckError as exc:
            if every is None or exc.exit_code == 2:
                raise
            log(f"error: {exc}")
            code = exc.exit_code
        if every is None:
            raise typer.Exit(code)
        try:
            log(f"next run in {max(0, round(began + every - time.monotonic()))} s (Ctrl-C stops)")
            schedule.sleep_until(began + every)
        except KeyboardInterrupt:
            log("stopped")
            raise typer.Exit(0) from None


@app.command()
def demo(
    results_dir: Annotated[Path, Opt(help="Where to write the run document.")] = Path("results"),
    quiet: Annotated[bool, Opt("--quiet", "-q")] = False,
    namespace: Annotated[Namespace, Opt(help=NAMESPACE_HELP)] = Namespace.auto,
) -> None:
    """Run the shipped Kazakhstan list against the built-in censorship lab (no Internet needed)."""
    from censorcheck.measure.targets import shipped_list

    why = place_lab(namespace)
    with user_errors(), lab_thread(why) as lab:
        log(which_lab(lab, why))
        if not quiet:
            stderr.print(
                f"lab up on {lab.topology.network}: censored vantage "
                f"{lab.topology.censored_vantage}, ISP resolver {lab.topology.censored_resolver}, "
                f"honest resolver {lab.topology.honest_resolver}, control server "
                + (lab.control.url if lab.control else "none (install the control extra)"),
                highlight=False,
            )
        # The control server, when the extra is installed, as a user with one would measure.
        settings = lab.settings(censored=True, control=lab.control is not None)
        out = Outputs(None, results_dir, quiet=quiet, fail_on=FailOn.never)
        _new_run([str(shipped_list())], settings, out)
