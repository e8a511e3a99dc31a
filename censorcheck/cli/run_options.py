"""The options of ``run``: each one's flags, checks and help, as a type its parameter takes.

They live apart from the command so that ``run`` reads as what it does with them (its help lists
them in the order of its parameters); those about the vantage's network identity are in ``geo``.
Only what their help needs is imported here: ``run --help`` starts at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from censorcheck.cli.common import (
    CONTROL_ENV,
    CONTROL_FORMS,
    FailOn,
    IPv6Mode,
    LockMode,
    Opt,
    QuicMode,
)
from censorcheck.cli.text import FORMAT_HELP, Format

# What to measure, and with which resolvers.
Targets = Annotated[
    list[str] | None,
    typer.Argument(
        help="Target files (.yaml .csv .txt), URLs, domains; with --resume, the journal."
    ),
]
Resolver = Annotated[
    list[str],
    Opt(
        "--resolver",
        "-r",
        help="Probe resolver URI (repeatable): system, udp://IP[:PORT], tcp://, tls://, https://HOST/PATH.",
    ),
]
ControlResolver = Annotated[
    list[str] | None,
    Opt(help="Control resolver URI (repeatable); default: DoH to 1.1.1.1 and 8.8.8.8."),
]

# The control: who measures each target from elsewhere.
Control = Annotated[
    str | None,
    Opt(
        help=f"What measures each target from elsewhere: {CONTROL_FORMS} (see README). "
        f"Default: {CONTROL_ENV} if set, else ooni (OONI's public test helpers)."
    ),
]
NoControlOk = Annotated[
    bool, Opt("--no-control-ok", help="Measure even when no control answers (else exit 3).")
]
ControlToken = Annotated[
    str | None,
    Opt(
        envvar="CENSORCHECK_CONTROL_TOKEN",
        show_envvar=True,
        help="Bearer token for --control; prefer the environment variable (argv is public).",
    ),
]

# How each target is measured.
SourceAddress = Annotated[str | None, Opt(help="Bind every socket to this local address.")]
CaBundle = Annotated[Path | None, Opt(help="Extra trusted CA certificates (PEM).")]
Fingerprints = Annotated[
    list[Path] | None, Opt(help="Extra blockpage fingerprint file (repeatable).")
]
Timeout = Annotated[float, Opt(help="Seconds for each network operation.")]
Deadline = Annotated[float | None, Opt(help="Seconds for a whole target (default 6 x timeout).")]
Concurrency = Annotated[int, Opt(help="Targets measured at once.")]
Workers = Annotated[
    int | None,
    Opt(
        help="Processes that measure, sharing --concurrency (default: one per core, but "
        "none with fewer than 2,500 targets to measure: starting one costs about a second "
        "of CPU).",
        min=1,
    ),
]

# Where from: vantages and proxies.
Vantage = Annotated[
    list[str] | None,
    Opt(
        help="A configured vantage to measure from (repeatable; see `censorcheck vantage`). "
        "A single name that is not configured just names this machine's view."
    ),
]
ControlVantage = Annotated[
    str | None, Opt(help="A configured vantage whose view is the control (no server needed).")
]
VantageFile = Annotated[
    list[Path] | None,
    Opt(help="Also read vantages from this file (repeatable; after the user's and project's)."),
]
Proxy = Annotated[
    str | None,
    Opt(help="Leave through this socks5:// or http:// proxy, DNS included (see README)."),
]

# Where the results go, and how the run is judged.
Output = Annotated[str | None, Opt("--output", "-o", help="Run document path; '-' for stdout.")]
ResultsDir = Annotated[Path, Opt(help="Folder for results/<time>-<vantage>.json.")]
FailOnOption = Annotated[
    FailOn | None,
    Opt(help="Exit 1 when any verdict is this (default blocked; with --check, never)."),
]
Check = Annotated[
    bool, Opt("--check", help="Exit 1 when a verdict differs from its target's 'expect:'.")
]
Junit = Annotated[Path | None, Opt(help="Also write the verdicts as JUnit XML here.")]
JsonOut = Annotated[
    bool, Opt("--json", help="Print the run document on stdout (and still write it).")
]
Lock = Annotated[
    LockMode, Opt(help="When another run holds the results folder: wait, or skip (exit 0).")
]
Resume = Annotated[
    bool, Opt("--resume", help="Finish an interrupted run (newest journal, or the one given).")
]
Keep = Annotated[
    float | None, Opt(help="After the run, delete result files older than DAYS.", min=0)
]
Repeat = Annotated[str | None, Opt(help="Run again every DURATION (30m, 1h, 1d) until Ctrl-C.")]

# What the probes may do.
IPv6 = Annotated[IPv6Mode, Opt(help="Use IPv6: auto-detect, on, off.")]
Quic = Annotated[
    QuicMode,
    Opt(
        help="HTTP/3 over QUIC: when the site advertises it (auto), for every https target, "
        "or never."
    ),
]
PortMap = Annotated[list[str] | None, Opt(help="URLPORT=PORT: dial PORT where a URL says URLPORT.")]
TreatAsPublic = Annotated[list[str] | None, Opt(help="CIDR not to count as bogon (labs).")]
MaxBody = Annotated[int, Opt(help="Most body bytes read per response.")]
ControlAddresses = Annotated[
    int,
    Opt(
        help="When the probe's DNS fails or disagrees with the control's, also measure up "
        "to N of the control's addresses from here (0: off).",
        min=0,
        max=8,
    ),
]

# What is shown.
OutputFormat = Annotated[Format, Opt("--format", "-f", help=FORMAT_HELP)]
Summary = Annotated[
    bool, Opt("--summary", help="Show the counts and the targets not accessible only.")
]
Quiet = Annotated[bool, Opt("--quiet", "-q", help="No progress bar and no table.")]
Strict = Annotated[
    bool, Opt("--strict", help="A bad row in a target list is an error (default: skip it).")
]
