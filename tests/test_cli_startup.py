"""The CLI starts without its heavy libraries: `--help`, `version` and every command's `--help`
import no pydantic, duckdb, httpx, aioquic, measuring API or control client (issue 17).

Checked by what is imported, never by a timing: bench/startup.py prints the timings.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from censorcheck import settings
from censorcheck.cli import common, scan
from censorcheck.cli.lazy import COMMANDS, LazyGroup
from censorcheck.scan.models import ScanSettings
from tests.conftest import run_cli

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


def _fresh(code: str, *args: str) -> str:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
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
