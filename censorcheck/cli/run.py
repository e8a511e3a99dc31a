"""``run`` and ``demo``: measure, journal, write, judge, report.

The commands wire their options (declared in ``run_options``) into settings and hand the run to
``measuring``, which loads the library: ``run --help`` imports neither.
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from censorcheck.cli import geo, run_options
from censorcheck.cli.common import (
    FailOn,
    IPv6Mode,
    LockMode,
    Opt,
    QuicMode,
    app,
    log,
    parse_port_map,
    stderr,
    user_errors,
)
from censorcheck.cli.lab import NAMESPACE_HELP, Namespace, lab_thread, place_lab, which_lab
from censorcheck.cli.text import Format
from censorcheck.errors import CensorcheckError, ConfigError
from censorcheck.measure import collector


@app.command()
@collector.loading()  # its imports and settings are made in its body
def run(
    targets: run_options.Targets = None,
    resolver: run_options.Resolver = ["system"],  # noqa: B006
    control_resolver: run_options.ControlResolver = None,
    control: run_options.Control = None,
    no_control_ok: run_options.NoControlOk = False,
    control_token: run_options.ControlToken = None,
    source_address: run_options.SourceAddress = None,
    ca_bundle: run_options.CaBundle = None,
    fingerprints: run_options.Fingerprints = None,
    timeout: run_options.Timeout = 5.0,
    deadline: run_options.Deadline = None,
    concurrency: run_options.Concurrency = 32,
    workers: run_options.Workers = None,
    vantage: run_options.Vantage = None,
    control_vantage: run_options.ControlVantage = None,
    vantage_file: run_options.VantageFile = None,
    proxy: run_options.Proxy = None,
    output: run_options.Output = None,
    results_dir: run_options.ResultsDir = Path("results"),
    fail_on: run_options.FailOnOption = None,
    check: run_options.Check = False,
    junit: run_options.Junit = None,
    json_out: run_options.JsonOut = False,
    lock: run_options.Lock = LockMode.wait,
    resume: run_options.Resume = False,
    keep: run_options.Keep = None,
    repeat: run_options.Repeat = None,
    ipv6: run_options.IPv6 = IPv6Mode.auto,
    quic: run_options.Quic = QuicMode.auto,
    port_map: run_options.PortMap = None,
    treat_as_public: run_options.TreatAsPublic = None,
    max_body: run_options.MaxBody = 1 << 20,
    control_addresses: run_options.ControlAddresses = 2,
    no_geo: geo.NoGeo = False,
    geo_from: geo.GeoFrom = "control",
    whoami: geo.Whoami = None,
    resolver_whoami: geo.ResolverWhoami = None,
    geo_db: geo.GeoDB = None,
    output_format: run_options.OutputFormat = Format.table,
    summary: run_options.Summary = False,
    quiet: run_options.Quiet = False,
    strict: run_options.Strict = False,
) -> None:
    """Measure targets and write the run document.

    Exit codes: 0 done, no test case failed (or skipped by --lock skip); 1 done, a test case
    failed (a verdict --fail-on names, or a --check mismatch); 2 bad usage or input; 3 nothing
    could be measured (no probe resolver, or no control, answered); 4 results could not be
    written; 5 a worker process died (the journal keeps what was measured); 130 Ctrl-C and 143
    SIGTERM during a run (the journal keeps what was measured).
    """
    atexit.register(collector.spare_exit)
    from censorcheck.cli.measuring import Outputs, new_run, resume_run
    from censorcheck.cli.plans import runnable, vantage_plans
    from censorcheck.settings import Settings, choose_control

    out = Outputs(output, results_dir, json_out, quiet, fail_on, check, junit, keep, lock,
                  output_format, summary, workers)  # fmt: skip
    with user_errors():
        if output_format is Format.tsv and out.to_stdout:
            raise ConfigError(
                "--format tsv prints rows on stdout; the document cannot go there too"
            )
        every: int | None = None
        if repeat:
            # Imported here: it brings the systemd and cron code, which only --repeat needs.
            from censorcheck.unattended import schedule

            every = schedule.parse_duration(repeat, "--repeat")
        if resume:
            if every is not None:
                raise ConfigError("--resume finishes one run; it does not go with --repeat")
            _loop(lambda: resume_run(targets or [], out, control_token), None)
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
        _loop(lambda: new_run(targets, settings, out, plans, control_settings, strict), every)


def _loop(once: Callable[[], int], every: int | None) -> NoReturn:
    """One run, or (with --repeat) one every ``every`` seconds until Ctrl-C between runs.

    A repeated run that fails for a passing reason (no resolver answered, a full disk) is logged
    and tried again next time; usage errors end the loop at once.
    """
    from censorcheck.measure.running import interrupt

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
        from censorcheck.unattended import schedule

        # Between runs nothing is in flight: Ctrl-C, or SIGTERM (systemd stopping a unit), ends
        # the loop at once and in the same way, said on stderr.
        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            log(f"next run in {max(0, round(began + every - time.monotonic()))} s (Ctrl-C stops)")
            schedule.sleep_until(began + every)
        except KeyboardInterrupt:
            log("stopped")
            raise typer.Exit(0) from None
        finally:
            signal.signal(signal.SIGTERM, previous)


@app.command()
def demo(
    results_dir: Annotated[Path, Opt(help="Where to write the run document.")] = Path("results"),
    quiet: Annotated[bool, Opt("--quiet", "-q")] = False,
    namespace: Annotated[Namespace, Opt(help=NAMESPACE_HELP)] = Namespace.auto,
) -> None:
    """Run the shipped Kazakhstan list against the built-in censorship lab (no Internet needed)."""
    from censorcheck.cli.measuring import Outputs, new_run
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
        new_run([str(shipped_list())], settings, out)
