"""The architecture as the README draws it, checked on the code itself.

The import rules live in pyproject.toml as import-linter contracts; these tests run them on the
real tree, then break each rule on purpose in a copy of the tree to show the check can fail.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

TERMINAL = "Only the CLI talks to the terminal (typer, rich, click)"
PURE_VERDICT = "The verdict rules do no I/O"
QUIET_RESULTS = "Results never send a packet: no probes, pipeline, journal, control or scan"
NO_LAB = "Nothing in the library imports the lab"
ONE_WAY = "Measuring never reads results back or runs unattended"
CONTRACTS = (TERMINAL, PURE_VERDICT, QUIET_RESULTS, NO_LAB, ONE_WAY)


def lint_imports(tree: Path) -> tuple[int, dict[str, str]]:
    """Runs import-linter on ``tree`` (a checkout); the exit code and each contract's state."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    states = {}
    for line in done.stdout.splitlines():
        for name in CONTRACTS:
            if line.startswith(name + " "):
                states[name] = line.rsplit(" ", 1)[1]
    return done.returncode, states


def test_the_import_rules_hold() -> None:
    code, states = lint_imports(ROOT)
    assert states == dict.fromkeys(CONTRACTS, "KEPT")
    assert code == 0


# Each line added to a module, and every rule it breaks: rules count indirect imports, so
# making the verdict import a probe also makes results (which re-judge) reach the probes.
BREAKS = [
    ("measure/pipeline.py", "import rich", {TERMINAL}),
    ("results/diff.py", "import typer", {TERMINAL}),
    ("measure/verdict/dns.py", "import socket", {PURE_VERDICT}),
    (
        "measure/verdict/facts.py",
        "from censorcheck.measure.probes import tcp",
        {PURE_VERDICT, QUIET_RESULTS},
    ),
    ("measure/bogons.py", "import httpx", {PURE_VERDICT}),
    ("results/history.py", "from censorcheck.measure import pipeline", {QUIET_RESULTS}),
    ("unattended/junit.py", "import censorcheck.control.client", {QUIET_RESULTS}),
    ("measure/api.py", "from censorcheck import lab", {NO_LAB}),
    ("results/store.py", "import censorcheck.lab.pki", {NO_LAB}),
    ("scan/scanner.py", "from censorcheck.results import warehouse", {ONE_WAY}),
    ("measure/probes/tls.py", "from censorcheck.unattended import lock", {ONE_WAY}),
]


@pytest.mark.parametrize(("module", "line", "broken"), BREAKS)
def test_breaking_a_rule_fails_the_check(
    tmp_path: Path, module: str, line: str, broken: set[str]
) -> None:
    shutil.copytree(
        ROOT / "censorcheck",
        tmp_path / "censorcheck",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "censorcheck" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")

    code, states = lint_imports(tmp_path)

    assert code != 0
    assert {name for name, state in states.items() if state == "BROKEN"} == broken
    assert len(states) == len(CONTRACTS)


# Builtins through which a rule could reach the outside world without an import.
IO_BUILTINS = {"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"}


def test_verdict_rules_call_no_io_builtin() -> None:
    calls = []
    for path in sorted((ROOT / "censorcheck/measure/verdict").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in IO_BUILTINS
            ):
                calls.append(f"{path.name}:{node.lineno} {node.func.id}()")
    assert calls == []


def test_no_module_is_over_500_lines() -> None:
    long = {}
    for folder in ("censorcheck", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > 500:
                long[str(path.relative_to(ROOT))] = lines
    assert long == {}


SUBSYSTEMS = ("measure", "results", "unattended", "control", "scan", "lab", "cli")


@pytest.mark.parametrize("package", SUBSYSTEMS)
def test_each_subsystem_says_what_it_owns_and_may_import(package: str) -> None:
    init = ROOT / "censorcheck" / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert "may import" in doc.lower()
