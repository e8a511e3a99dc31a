"""``censorcheck man``: the manual page, written from the commands and options themselves, so that
it cannot drift from them (docs/censorcheck.1 is this output; a test compares the two)."""

from __future__ import annotations

from collections.abc import Iterator

import typer
from typer._click.core import Command, Context
from typer.core import TyperArgument, TyperGroup, TyperOption

from censorcheck.cli.common import app

_SEE_ALSO = "The README, for the methodology, the JSON contract and the lab."


def _roff(text: str) -> str:
    """``text`` safe for roff: backslashes doubled, a leading dot or quote neutralised."""
    # Help texts escape rich's markup as \[; the page shows the bracket itself.
    text = " ".join(text.replace("\\[", "[").replace("\\", "\\e").split())
    text = text.replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def _commands(group: TyperGroup, path: str) -> Iterator[tuple[str, Command]]:
    ctx = Context(group, info_name=path)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, TyperGroup):
            yield from _commands(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def _options(command: Command) -> Iterator[str]:
    for param in command.params:
        if not isinstance(param, TyperOption) or param.hidden:
            continue
        names = ", ".join(param.opts + param.secondary_opts)
        metavar = "" if param.is_flag else f" \\fI{(param.name or 'value').upper()}\\fR"
        yield ".TP"
        yield f"\\fB{_roff(names)}\\fR{metavar}"
        yield _roff(param.help or "")


def manual() -> str:
    """The man page, in roff."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    lines = [
        '.TH CENSORCHECK 1 "" "censorcheck" "User Commands"',
        ".SH NAME",
        "censorcheck \\- measure Internet censorship, with verdicts explained by their evidence",
        ".SH SYNOPSIS",
        r"\fBcensorcheck\fR [\fB\-\-version\fR] \fICOMMAND\fR [\fIOPTIONS\fR] [\fIARGS\fR]",
        ".SH DESCRIPTION",
        _roff(root.help or ""),
        ".SH COMMANDS",
    ]
    for path, command in _commands(root, "censorcheck"):
        arguments = " ".join(
            (p.name or "").upper() for p in command.params if isinstance(p, TyperArgument)
        )
        lines += [".SS " + _roff(f"{path} {arguments}".strip()), _roff(command.help or "")]
        lines += list(_options(command))
    lines += [".SH SEE ALSO", _roff(_SEE_ALSO), ""]
    return "\n".join(lines)


@app.command()
def man() -> None:
    """Print the manual page (roff): censorcheck man > censorcheck.1; man ./censorcheck.1."""
    print(manual(), end="")
