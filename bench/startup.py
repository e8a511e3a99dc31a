"""How fast the CLI starts: ``--help``, ``version`` and a few commands' ``--help`` against Python
importing typer and rich, the floor any typer CLI stands on.

Each command runs ``repeats`` times in a child process of its own; the figure is the median of
its CPU time (user + system, read from ``os.wait4``, so this process's load does not count) and
of its wall time. The goal (issue 17) is CPU within 3x of the floor's. Run alone, it prints the
table: ``.venv/bin/python bench/startup.py [--repeats N] [--all] [--json]``, where ``--all`` adds
the ``--help`` of every command and subcommand; probe_bench.py calls ``startup_figures`` too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from figures import Figures, print_figures

GOAL_RATIO = 3.0
FLOOR = "import typer, rich"
COMMANDS = ("--help", "version", "--version", "run --help", "report --help", "lab --help")

# The command paths, listed by the CLI itself in its own interpreter (this one need not import it).
_LIST_PATHS = """
import typer
from typer._click.core import Context
from typer.core import TyperGroup
from censorcheck.cli import common  # the package, imported first, registers its own commands

def paths(group, prefix=""):
    ctx = Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + name
        if isinstance(command, TyperGroup):
            yield from paths(command, prefix + name + " ")

print("\\n".join(paths(typer.main.get_command(common.app))))
"""


def every_help() -> tuple[str, ...]:
    """``COMMANDS``, then the ``--help`` of every command and subcommand not in it."""
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_PATHS], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    more = [f"{path} --help" for path in listed if path]
    return (*COMMANDS, *(line for line in more if line not in COMMANDS))


def _cli() -> list[str]:
    """The console script beside this Python, as a user runs it; else ``-m censorcheck``."""
    script = Path(sys.executable).with_name("censorcheck")
    return [str(script)] if script.exists() else [sys.executable, "-m", "censorcheck"]


def timed(argv: Sequence[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv``, its output thrown away."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def median_of(argv: Sequence[str], repeats: int) -> Figures:
    """The medians of ``repeats`` runs (one more first, to warm the file cache, not counted)."""
    timed(argv)
    runs = [timed(argv) for _ in range(repeats)]
    return {
        "wall_s": statistics.median(w for w, _ in runs),
        "cpu_s": statistics.median(c for _, c in runs),
    }


def startup_figures(repeats: int = 10, lines: Sequence[str] = COMMANDS) -> Figures:
    """The floor and every command line of ``lines``, each with its CPU ratio to the floor."""
    floor = median_of([sys.executable, "-c", FLOOR], repeats)
    commands: Figures = {}
    for command in lines:
        one = median_of([*_cli(), *command.split()], repeats)
        one["cpu_ratio"] = one["cpu_s"] / floor["cpu_s"]
        commands[command] = one
    return {
        "repeats": repeats,
        "floor": floor,
        "commands": commands,
        "goal_ratio": GOAL_RATIO,
        "within_goal": all(c["cpu_ratio"] <= GOAL_RATIO for c in commands.values()),
    }


def render(figures: Figures) -> list[str]:
    """The start-up table, as lines."""
    floor = figures["floor"]
    width = max(31, *(len("censorcheck " + command) for command in figures["commands"]))
    lines = [
        "",
        f"start-up (median of {figures['repeats']} runs each; CPU is user + system; goal:"
        f" CPU within {figures['goal_ratio']:g}x of Python's `{FLOOR}`)",
        f"  {'python -c ' + repr(FLOOR):{width}} CPU {floor['cpu_s']:6.3f} s   wall"
        f" {floor['wall_s']:6.3f} s",
    ]
    for command, c in figures["commands"].items():
        mark = "met" if c["cpu_ratio"] <= figures["goal_ratio"] else "MISSED"
        lines.append(
            f"  {'censorcheck ' + command:{width}} CPU {c['cpu_s']:6.3f} s"
            f"   wall {c['wall_s']:6.3f} s   {c['cpu_ratio']:4.1f}x  {mark}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs of each command")
    parser.add_argument(
        "--all", action="store_true", help="also every command's and subcommand's --help"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    lines = every_help() if args.all else COMMANDS
    print_figures(
        startup_figures(args.repeats, lines), args.json, lambda f: "\n".join(render(f)[1:])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
