"""One run carried out for ``run`` and ``demo``: lock the results folder, measure (or finish an
interrupted run from its journal) with a progress bar, write, judge and report.

Imported only when a command measures, never for its help.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from censorcheck.cli.common import (
    SUMMARY_COLUMNS,
    FailOn,
    LockMode,
    fatal,
    log,
    skip_row,
    stderr,
    summary_rows,
    summary_table,
    table_console,
)
from censorcheck.cli.text import Format, write_tsv
from censorcheck.errors import ConfigError
from censorcheck.unattended.lock import RunLock

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

    if out.fmt is Format.tsv:
        write_tsv(SUMMARY_COLUMNS, summary_rows(run, out.summary))
    elif not out.quiet:
        table_console(to_stderr=out.to_stdout).print(summary_table(run, out.summary))
    if out.junit is not None:
        # Only then: its XML library and pattern cost a run without --junit about 5 ms.
        from censorcheck.unattended.junit import write_junit

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


def new_run(
    targets: Sequence[str],
    settings: Settings,
    out: Outputs,
    vantages: Sequence[VantagePlan] = (),
    control_vantage: Settings | None = None,
    strict: bool = False,
) -> int:
    """Measure ``targets`` as a new run, from each of ``vantages`` if given; the exit code."""

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


def resume_run(where: Sequence[str], out: Outputs, control_token: str | None) -> int:
    """Finish the interrupted run of the journal (or run document) ``where`` names, else of the
    newest journal in the results folder; the exit code."""
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
