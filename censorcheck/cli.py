"""The command line: parse, call the library, render. The only module that imports typer or rich."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from censorcheck import __version__
from censorcheck.api import measure, utc_now
from censorcheck.errors import CensorcheckError, ConfigError
from censorcheck.models import Result, Run
from censorcheck.settings import Settings
from censorcheck.store import Journal, default_output, journal_path, write_run
from censorcheck.targets import load_targets, shipped_list

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Measure Internet censorship: DNS, TCP, TLS and HTTP checks with blocking verdicts.",
)
stderr = Console(stderr=True)


class FailOn(str, Enum):
    blocked = "blocked"
    down = "down"
    any = "any"
    never = "never"


class IPv6Mode(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


def fatal(message: str, code: int = 2) -> NoReturn:
    """One line, no traceback: what went wrong and, where possible, what to do."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Translate the library's user-facing exceptions into one-line errors and exit codes."""
    try:
        yield
    except CensorcheckError as exc:
        fatal(str(exc), exc.exit_code)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "value"
        fatal(f"--{where.replace('_', '-')}: {first['msg']}")


def _port_map(values: Sequence[str]) -> dict[int, int]:
    mapping: dict[int, int] = {}
    for value in values:
        try:
            a, b = value.split("=", 1)
            mapping[int(a)] = int(b)
        except ValueError:
            fatal(f"--port-map {value!r}: expected URLPORT=PORT, e.g. 443=10443")
    return mapping


def exit_code(run: Run, fail_on: FailOn) -> int:
    """0 nothing to report, 1 something matched --fail-on (see the README's table)."""
    statuses = {r.verdict.status for r in run.results}
    if fail_on is FailOn.never:
        return 0
    if fail_on is FailOn.any:
        return 1 if statuses - {"accessible"} else 0
    return 1 if fail_on.value in statuses else 0


_STYLE = {"accessible": "green", "blocked": "bold red", "down": "yellow", "inconclusive": "cyan"}


def _short(url: str) -> str:
    """``https://host/`` is shown as ``host``; anything else in full."""
    if url.startswith("https://") and url.count("/") == 3 and url.endswith("/"):
        return url[8:-1]
    return url


def summary_table(run: Run) -> Table:
    table = Table(title=f"censorcheck · vantage {run.vantage.name} · {len(run.results)} targets")
    table.add_column("target", overflow="fold", max_width=32)
    table.add_column("verdict", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("conf.", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1, min_width=20)
    for r in run.results:
        v = r.verdict
        table.add_row(
            _short(r.target.url),
            f"[{_STYLE[v.status]}]{v.status}[/]",
            v.outcome,
            f"{v.confidence:.2f}",
            v.reason,
        )
    table.caption = ", ".join(f"{k} {n}" for k, n in sorted(run.summary.by_status.items()))
    return table


def _measure(targets_args: Sequence[str], settings: Settings, output: str | None, quiet: bool,
             results_dir: Path) -> tuple[Run, Path | None]:  # fmt: skip
    """Run the measurement with journal and progress; write the run document."""
    targets = load_targets(targets_args)
    started = utc_now()
    path = None if output == "-" else Path(output) if output else None
    path = path or (
        None if output == "-" else default_output(results_dir, started, settings.vantage)
    )
    journal = Journal(journal_path(path)).open() if path else None
    show = not quiet and stderr.is_terminal
    progress = Progress(
        TextColumn("[bold]measuring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr,
        disable=not show,
        transient=True,
    )
    task = progress.add_task("", total=len(targets))

    def on_result(result: Result) -> None:
        if journal is not None:
            journal.append(result)
        progress.update(task, advance=1, description=result.target.domain)

    with progress:
        try:
            run = measure(targets, settings, on_result)
        finally:
            if journal is not None:
                journal.close()
    if path is not None:
        write_run(run, path)
        if journal is not None:
            journal.close(remove=True)
    else:
        sys.stdout.write(run.model_dump_json(indent=2) + "\n")
    return run, path


def _report(run: Run, path: Path | None, quiet: bool) -> None:
    console = Console(stderr=path is None)
    if not quiet:
        console.print(summary_table(run))
    if path is not None:
        stderr.print(f"results written to {path}", highlight=False)
    dead = [s for s in run.vantage.resolvers if not s.alive]
    for s in dead:
        stderr.print(f"[yellow]warning:[/] {s.role} resolver {s.uri} did not answer ({s.failure})")


Opt = typer.Option


@app.command()
def run(
    targets: Annotated[
        list[str], typer.Argument(help="Target files (.yaml .csv .txt), URLs, domains.")
    ],
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
    vantage: Annotated[str, Opt(help="Name of this vantage point.")] = "local",
    output: Annotated[
        str | None, Opt("--output", "-o", help="Run document path; '-' for stdout.")
    ] = None,
    results_dir: Annotated[Path, Opt(help="Folder for results/<time>-<vantage>.json.")] = Path(
        "results"
    ),
    fail_on: Annotated[FailOn, Opt(help="Exit 1 when any verdict is this.")] = FailOn.blocked,
    ipv6: Annotated[IPv6Mode, Opt(help="Use IPv6: auto-detect, on, off.")] = IPv6Mode.auto,
    port_map: Annotated[
        list[str] | None, Opt(help="URLPORT=PORT: dial PORT where a URL says URLPORT.")
    ] = None,
    treat_as_public: Annotated[
        list[str] | None, Opt(help="CIDR not to count as bogon (labs).")
    ] = None,
    max_body: Annotated[int, Opt(help="Most body bytes read per response.")] = 1 << 20,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar and no table.")] = False,
) -> None:
    """Measure targets and write the run document (exit 0 clean, 1 blocked, 2 bad input, 3 nothing measured)."""  # noqa: E501
    with user_errors():
        values: dict[str, Any] = {
            "vantage": vantage,
            "resolvers": resolver,
            "source_address": source_address,
            "ca_bundle": ca_bundle,
            "fingerprints": fingerprints or [],
            "timeout": timeout,
            "deadline": deadline,
            "concurrency": concurrency,
            "ipv6": ipv6.value,
            "port_map": _port_map(port_map or []),
            "treat_as_public": treat_as_public or [],
            "max_body": max_body,
        }
        if control_resolver:
            values["control_resolvers"] = control_resolver
        settings = Settings(**values)
        result, path = _measure(targets, settings, output, quiet, results_dir)
    _report(result, path, quiet)
    raise typer.Exit(exit_code(result, fail_on))


@app.command()
def demo(
    results_dir: Annotated[Path, Opt(help="Where to write the run document.")] = Path("results"),
    quiet: Annotated[bool, Opt("--quiet", "-q")] = False,
) -> None:
    """Run the shipped Kazakhstan list against the built-in censorship lab (no Internet needed)."""
    from censorcheck.lab import LabThread

    with user_errors(), LabThread() as lab:
        if not quiet:
            stderr.print(
                f"lab up on {lab.topology.network}: censored vantage "
                f"{lab.topology.censored_vantage}, ISP resolver {lab.topology.censored_resolver}, "
                f"honest resolver {lab.topology.honest_resolver}",
                highlight=False,
            )
        settings = lab.settings(censored=True, vantage="lab-censored")
        result, path = _measure([str(shipped_list())], settings, None, quiet, results_dir)
    _report(result, path, quiet)


@app.command()
def lab(
    network: Annotated[str, Opt(help="A /24 inside 127.0.0.0/8 for the lab.")] = "127.77.0.0/24",
    workdir: Annotated[Path | None, Opt(help="Folder for the CA bundle and target list.")] = None,
) -> None:
    """Start the censorship lab alone and print how to point a run at it."""
    from censorcheck.lab import Lab

    async def serve() -> None:
        folder = workdir or Path.cwd() / "lab"
        folder.mkdir(parents=True, exist_ok=True)
        the_lab = Lab(network, workdir=folder)
        try:
            await the_lab.start()
        except OSError as exc:
            fatal(f"cannot start the lab on {network}: {exc.strerror or exc}")
        targets = folder / "lab-targets.txt"
        targets.write_text("\n".join(the_lab.topology.target_urls()) + "\n", encoding="utf-8")
        print(f"lab running on {network}; Ctrl-C to stop")
        print(f"censored view: censorcheck run {targets} {the_lab.command(censored=True)}")
        print(f"free view:     censorcheck run {targets} {the_lab.command(censored=False)}")
        sys.stdout.flush()
        try:
            await asyncio.Event().wait()
        finally:
            await the_lab.close()

    with user_errors(), _interruptible():
        asyncio.run(serve())


@contextmanager
def _interruptible() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        stderr.print("lab stopped")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the run document."""
    print(json.dumps(Run.model_json_schema(), indent=2))


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # pragma: no cover - user_errors catches these inside commands
        fatal(str(exc))
