"""The CLI starts without its heavy libraries: `--help`, `version` and every command's `--help`
import no pydantic, duckdb, httpx, aioquic, measuring API or control client, nor the Markdown
and traceback renderers (and markdown-it and pygments under them) that typer's help formatter
imports for uses this CLI's help does not have (issue 17).

Checked by what is imported, never by a timing: bench/startup.py prints the timings.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from censorcheck import settings
from censorcheck.cli import common, scan
from censorcheck.cli.lazy import COMMANDS, LazyGroup
from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.scan.models import ScanSettings
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags

HEAVY = (
    "pydantic",
    "duckdb",
    "httpx",
    "aioquic",
    "yaml",
    "censorcheck.models",
    "censorcheck.settings",
    "censorcheck.measure.api",
    "censorcheck.control.client",
    # typer's help formatter imports these for Markdown help and crash tracebacks (helpformat).
    "rich.markdown",
    "rich.traceback",
    "markdown_it",
    "pygments",
)

# Runs each command line in turn in one fresh interpreter, as the console script does, and
# prints the modules loaded after each.
_AFTER_EACH = """
import contextlib, io, json, sys
from censorcheck.cli import main
seen = {}
for argv in json.loads(sys.argv[1]):
    sys.argv = ["censorcheck", *argv]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit:
            pass
    seen[" ".join(argv)] = sorted(sys.modules)
print(json.dumps(seen))
"""


def _fresh_process(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("TYPER_STANDARD_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _fresh(code: str, *args: str) -> str:
    proc = _fresh_process(code, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _root() -> LazyGroup:
    import censorcheck.cli  # noqa: F401 - the package registers `schema` and `version`

    root = typer.main.get_command(common.app)
    assert isinstance(root, LazyGroup)
    return root


def _paths(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below ``group``, as the words that name it."""
    ctx = Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((*prefix, name))
        if isinstance(command, TyperGroup):
            found += _paths(command, (*prefix, name))
    return found


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY))]


def test_help_version_and_every_commands_help_load_nothing_heavy() -> None:
    lines = [["--help"], ["version"], ["--version"]]
    lines += [[*path, "--help"] for path in _paths(_root())]
    seen = json.loads(_fresh(_AFTER_EACH, json.dumps(lines)))
    assert list(seen) == [" ".join(argv) for argv in lines]
    # Modules only accumulate: the first line that shows a heavy one is the line that loaded it.
    for line, modules in seen.items():
        assert _heavy(modules) == [], f"censorcheck {line}"


def test_every_command_is_listed_with_its_own_help() -> None:
    root = _root()
    ctx = Context(root)
    listed = {}
    for name, lazy in COMMANDS.items():
        command = root.get_command(ctx, name)
        assert command is not None and command.help is not None, name
        listed[name] = lazy.help
        assert lazy.help == inspect.cleandoc(command.help).split("\n\n")[0], name
    # Built again now that every module is imported: no command escapes the list.
    assert set(typer.main.get_group(common.app).commands) == set(listed)


def test_the_listing_is_the_same_before_and_after_the_commands_load() -> None:
    code = """
import sys
from censorcheck.cli import main
from censorcheck.cli.lazy import COMMANDS
import importlib
def show() -> None:
    sys.argv = ["censorcheck", "--help"]
    try:
        main()
    except SystemExit:
        pass
show()
print("=" * 20)
for lazy in COMMANDS.values():
    importlib.import_module("censorcheck.cli" + ("." + lazy.module if lazy.module else ""))
show()
"""
    lazily, sep, loaded = _fresh(code).partition("=" * 20 + "\n")
    assert sep and "reanalyze" in lazily and "vantage" in lazily
    assert lazily == loaded


def test_help_texts_kept_apart_from_the_models_agree_with_them() -> None:
    assert (common.CONTROL_ENV, common.CONTROL_FORMS) == (
        settings.CONTROL_ENV,
        settings.CONTROL_FORMS,
    )
    assert ScanSettings.model_fields["rate"].default == scan.POLITE_RATE


def test_a_mistyped_command_is_matched_against_every_command() -> None:
    result = run_cli("reprot")
    assert result.code == 2
    assert "'report'" in result.stderr and "'export'" in result.stderr


def test_a_run_without_a_control_server_loads_no_control_client() -> None:
    """What measures (``durable`` and all it imports) loads the clients of a control server and
    of OONI's helpers only when the run names one: ``--control none``, the control resolvers
    and a control vantage do without them."""
    code = """
import json, sys
from censorcheck.measure import durable
from censorcheck.measure.controls import server_for
from censorcheck.settings import Settings
assert server_for(Settings(control_url=None), None) is None
print(json.dumps(sorted(sys.modules)))
"""
    modules = json.loads(_fresh(code))
    assert "censorcheck.measure.api" in modules and "censorcheck.measure.pipeline" in modules
    clients = ("censorcheck.control.client", "censorcheck.control.ooni_client")
    assert [m for m in modules if m in clients or m == "censorcheck.control.protocol"] == []


# The CLI in a fresh interpreter, which writes the modules it loaded, and how many objects are
# frozen out of the collector once its own exit handlers have run, to the file named first.
_RUN_LISTING_MODULES = """
import atexit, gc, json, runpy, sys
listing = sys.argv.pop(1)

@atexit.register
def write() -> None:
    with open(listing, "w", encoding="utf-8") as out:
        json.dump({"modules": sorted(sys.modules), "frozen": gc.get_freeze_count()}, out)

sys.argv[0] = "censorcheck"
runpy.run_module("censorcheck", run_name="__main__", alter_sys=True)
"""


def test_a_run_loads_only_what_it_was_asked_for(lab: Lab, tmp_path: Path) -> None:
    """Without --proxy no proxy library, without --junit no JUnit writer, without --repeat no
    scheduler: each is imported by the option that needs it, on sites that fail in several
    ways (whose failures are classified without the proxy library too). And the run leaves its
    objects frozen for the exit, whose last collection then does not scan them."""
    names = ("static.lab.test", "tls-sni-reset.lab.test", "dns-nxdomain.lab.test", "gone.lab.test")
    listing = tmp_path / "modules.json"
    out = tmp_path / "run.json"
    proc = _fresh_process(
        _RUN_LISTING_MODULES, str(listing), "run", *(lab.topology.url(n) for n in names),
        *lab_flags(lab, True), "-o", str(out), "-q", "--fail-on", "never",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(Run.model_validate_json(out.read_text(encoding="utf-8")).results) == len(names)
    seen = json.loads(listing.read_text(encoding="utf-8"))
    modules = seen["modules"]
    assert seen["frozen"] > 10_000
    assert "censorcheck.measure.pipeline" in modules and "censorcheck.measure.failures" in modules
    unasked = ("python_socks", "censorcheck.unattended.junit", "censorcheck.unattended.schedule")
    assert [m for m in modules if m in unasked or m.startswith("python_socks.")] == []


# After the CLI has loaded typer's help formatter, the classes it left for later still work.
_LATER_USES = '''
import sys
import typer
from censorcheck.cli import main  # noqa: F401 - loads the help formatter
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules

markdown = typer.Typer(rich_markup_mode="markdown")

@markdown.command()
def shown() -> None:
    """Help in **Markdown**."""

try:
    markdown(["--help"], standalone_mode=False)
except SystemExit:
    pass
print("=" * 20)

crashing = typer.Typer()

@crashing.command()
def crash() -> None:
    raise RuntimeError("the crash itself")

try:
    crashing([], standalone_mode=False)
except RuntimeError:
    typer.main.except_hook(*sys.exc_info())

# Used once, each stand-in gave its place in typer's module to the real class.
import rich.markdown, rich.traceback, typer.rich_utils
print(typer.rich_utils.Markdown is rich.markdown.Markdown)
print(typer.rich_utils.Traceback is rich.traceback.Traceback)
'''


def test_markdown_help_and_crash_tracebacks_still_work_after_the_cli_loads() -> None:
    proc = _fresh_process(_LATER_USES)
    assert proc.returncode == 0, proc.stderr
    markdown, sep, rest = proc.stdout.partition("=" * 20)
    assert sep and "Help in Markdown." in markdown and "**" not in markdown
    assert "RuntimeError: the crash itself" in proc.stderr
    assert rest.split() == ["True", "True"]


# A typer whose help formatter takes from rich.markdown a name the stand-in lacks.
_TAKES_MORE = """
import sys
from censorcheck.cli import helpformat, main
del sys.modules["typer.rich_utils"]
helpformat._LATER = {"rich.markdown": "NotInTyper", "rich.traceback": "Traceback"}
helpformat.load()
import rich.markdown, typer.rich_utils
print(typer.rich_utils.Markdown is rich.markdown.Markdown)
sys.argv = ["censorcheck", "--help"]
main()
"""


def test_a_formatter_the_stand_ins_do_not_fit_is_imported_whole() -> None:
    proc = _fresh_process(_TAKES_MORE)
    assert proc.returncode == 0, proc.stderr
    first, _, help_page = proc.stdout.partition("\n")
    assert first == "True"
    assert "reanalyze" in help_page and "Measure Internet censorship" in help_page


def test_the_start_up_bench_can_time_every_commands_help() -> None:
    bench = Path(__file__).resolve().parent.parent / "bench"
    sys.path.append(str(bench))  # the script imports its sibling ``figures`` by name
    try:
        spec = importlib.util.spec_from_file_location("startup", bench / "startup.py")
        assert spec is not None and spec.loader is not None
        startup = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(startup)
    finally:
        sys.path.remove(str(bench))
    lines = startup.every_help()
    assert lines[: len(startup.COMMANDS)] == startup.COMMANDS
    assert {f"{' '.join(path)} --help" for path in _paths(_root())} <= set(lines)
