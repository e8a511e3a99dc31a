"""``dns-scan``: many remote resolvers, every domain of a list, a verdict per pair."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from censorcheck.cli.common import (
    Opt,
    app,
    fatal,
    log,
    parse_port_map,
    skip_row,
    stderr,
    user_errors,
)
from censorcheck.cli.text import Format, console, escape, literal, write_tsv
from censorcheck.errors import ConfigError, NothingMeasured

# The models and the library load when the command runs, so that `dns-scan --help` starts at once.
if TYPE_CHECKING:
    from rich.progress import Progress

    from censorcheck.scan.models import ScanDocument, ScanSettings
    from censorcheck.scan.resolvers import ResolverSpec

# ScanSettings' default rate, which --help shows without importing the models (a test keeps the
# two equal).
POLITE_RATE = 5.0
_TABLE_ROWS = 60
_STYLE = {"accessible": "green", "blocked": "bold red", "down": "yellow", "inconclusive": "cyan"}
_STATUSES = ("accessible", "blocked", "down", "inconclusive")


@app.command("dns-scan")
def dns_scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Target files (.yaml .csv .txt), URLs or domains: their names."),
    ] = None,
    resolvers: Annotated[
        Path | None,
        Opt(
            help=escape("Resolver file: ADDRESS[:PORT] [country=CC] [asn=N] [# note], one a line.")
        ),
    ] = None,
    control_resolver: Annotated[
        list[str] | None,
        Opt(help="Control resolver URI (repeatable); default: DoH to 1.1.1.1 and 8.8.8.8."),
    ] = None,
    asn_db: Annotated[
        Path | None, Opt(help="MaxMind-format ASN database (GeoLite2-ASN .mmdb), offline.")
    ] = None,
    rate: Annotated[float, Opt(help="Queries per second per resolver (be polite).")] = POLITE_RATE,
    burst: Annotated[int, Opt(help="Queries a resolver may get back to back.")] = 1,
    concurrency: Annotated[int, Opt(help="Queries in flight at once, in all.")] = 256,
    retries: Annotated[int, Opt(help="Repeats of a query that got no reply (only those).")] = 2,
    timeout: Annotated[float, Opt(help="Seconds to wait for each reply or handshake.")] = 5.0,
    probe_domain: Annotated[
        list[str] | None,
        Opt(help="Name with one stable address, to check each resolver (repeatable)."),
    ] = None,
    everywhere: Annotated[
        float, Opt(help="Share of domains an address must be given for to be discounted.")
    ] = 0.8,
    output: Annotated[
        str | None, Opt("--output", "-o", help="Scan document path; '-' for stdout.")
    ] = None,
    results_dir: Annotated[Path, Opt(help="Folder for results/<time>-dns-scan.json.")] = Path(
        "results"
    ),
    source_address: Annotated[
        str | None, Opt(help="Bind every socket to this local address.")
    ] = None,
    ca_bundle: Annotated[Path | None, Opt(help="Extra trusted CA certificates (PEM).")] = None,
    port_map: Annotated[
        list[str] | None, Opt(help="PORT=OTHER: dial OTHER where PORT is meant (443 for TLS).")
    ] = None,
    treat_as_public: Annotated[
        list[str] | None, Opt(help="CIDR not to count as bogon (labs).")
    ] = None,
    output_format: Annotated[
        Format,
        Opt(
            "--format",
            "-f",
            help="table, tsv (one row per resolver and domain) or json (the "
            "scan document on stdout).",
        ),
    ] = Format.table,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar and no tables.")] = False,
    schema: Annotated[
        bool, Opt("--schema", help="Print the JSON Schema of the scan document and exit.")
    ] = False,
    strict: Annotated[
        bool, Opt("--strict", help="A bad row in a target list is an error (default: skip it).")
    ] = False,
) -> None:
    """Ask many resolvers about every domain and compare with the control (exit 1: blocked)."""
    from censorcheck.measure.bogons import is_ip
    from censorcheck.measure.targets import load_targets
    from censorcheck.scan.models import ScanDocument, ScanSettings
    from censorcheck.scan.resolvers import load_resolvers

    with user_errors():
        if schema:
            print(json.dumps(ScanDocument.model_json_schema(), indent=2))
            return
        if not targets:
            raise ConfigError("no targets: give target files, URLs or domains")
        if resolvers is None:
            raise ConfigError("--resolvers FILE is required: the resolvers to scan, one a line")
        specs = load_resolvers(resolvers)
        listed = load_targets(targets, on_skip=None if strict else skip_row)
        domains = [t.domain for t in listed if not is_ip(t.domain)]
        if not domains:
            raise ConfigError("no domain names among the targets (IP addresses need no lookup)")
        values: dict[str, Any] = {
            "rate": rate,
            "burst": burst,
            "concurrency": concurrency,
            "retries": retries,
            "timeout": timeout,
            "everywhere_fraction": everywhere,
            "asn_db": asn_db,
            "source_address": source_address,
            "ca_bundle": ca_bundle,
            "port_map": parse_port_map(port_map or []),
            "treat_as_public": treat_as_public or [],
        }
        if control_resolver:
            values["control_resolvers"] = control_resolver
        if probe_domain:
            values["probe_domains"] = probe_domain
        settings = ScanSettings(**values)
        if settings.rate > POLITE_RATE:
            log(
                f"warning: --rate {settings.rate:g} is above the polite {POLITE_RATE:g} queries "
                "a second per resolver; see the README on the ethics of remote measurement"
            )
        if output == "-" and output_format is not Format.table:
            raise ConfigError(f"--format {output_format.value} and --output -: one of them")
        document = _scan(domains, specs, settings, quiet)
        _write(document, "-" if output_format is Format.json else output, results_dir)
        if output_format is Format.tsv:
            write_tsv(TSV_COLUMNS, _tsv_rows(document))
        elif not quiet:
            tables = console(stderr=True)
            tables.print(resolver_table(document))
            blocked = domain_table(document)
            if blocked is not None:
                tables.print(blocked)
        if all(r.status == "unresponsive" for r in document.resolvers):
            raise NothingMeasured(
                f"none of the {len(document.resolvers)} resolvers answered; is this machine online?"
            )
    raise typer.Exit(1 if document.summary.by_status.get("blocked") else 0)


TSV_COLUMNS = ("resolver", "domain", "status", "outcome", "reason")


def _tsv_rows(document: ScanDocument) -> list[tuple[object, ...]]:
    return [(r.resolver, r.domain, r.verdict.status, r.verdict.outcome, r.verdict.reason)
            for r in document.results]  # fmt: skip


def _scan(
    domains: list[str], specs: Sequence[ResolverSpec], settings: ScanSettings, quiet: bool
) -> ScanDocument:
    from censorcheck.scan import scan_sync  # the probes load only when scanning

    progress, on_progress = _progress(quiet)
    try:
        with progress:
            return scan_sync(domains, specs, settings, on_progress)
    except KeyboardInterrupt:
        fatal("interrupted; nothing was written", 130)


def _progress(quiet: bool) -> tuple[Progress, Callable[[int, int], None]]:
    from censorcheck.cli.progress import bar

    progress = bar("scanning", quiet, stderr)
    task = progress.add_task("", total=None)

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return progress, on_progress


def _write(document: ScanDocument, output: str | None, results_dir: Path) -> None:
    from censorcheck.results.store import default_output, unused_output, write_text

    text = document.model_dump_json(indent=2) + "\n"
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if output and Path(output).is_dir():
        raise ConfigError(f"--output {output}: is a folder; give a file name")
    path = (
        Path(output)
        if output
        else unused_output(default_output(results_dir, document.started_at, "dns-scan"))
    )
    write_text(text, path)
    log(f"results written to {path}")


def resolver_table(document: ScanDocument) -> Table:
    """One row per resolver: its status and its verdicts by status; those blocking most first."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for result in document.results:
        counts[result.resolver][result.verdict.status] += 1
        if result.verdict.status == "blocked":
            outcomes[result.resolver][result.verdict.outcome] += 1
    table = Table(
        title=literal(
            f"dns-scan · {len(document.resolvers)} resolvers · {len(document.domains)} domains"
        )
    )
    for column in ("resolver", "country", "asn", "resolver status"):
        table.add_column(column, overflow="fold")
    for status in _STATUSES:
        # Counts are short; the header folds rather than be cut to "a…".
        table.add_column(status, justify="right", style=_STYLE[status], overflow="fold")
    table.add_column("how blocked", ratio=1, overflow="fold")
    rows = []
    for resolver in document.resolvers:
        host = f"[{resolver.address}]" if ":" in resolver.address else resolver.address
        label = f"{host}:{resolver.port}"
        rows.append((label, resolver))
    rows.sort(key=lambda row: -counts[row[0]]["blocked"])
    for label, resolver in rows[:_TABLE_ROWS]:
        table.add_row(
            literal(label),
            literal(resolver.country),
            str(resolver.asn or ""),
            literal(resolver.status),
            *(str(counts[label][s] or "") for s in _STATUSES),
            literal(", ".join(f"{o} {n}" for o, n in outcomes[label].most_common())),
        )
    if len(rows) > _TABLE_ROWS:
        table.add_row(f"... {len(rows) - _TABLE_ROWS} more (see the JSON)", *[""] * 8)
    resolvers = ", ".join(
        f"{k} {n}" for k, n in sorted(document.summary.resolvers_by_status.items())
    )
    results = ", ".join(f"{k} {n}" for k, n in sorted(document.summary.by_status.items()))
    table.caption = literal(f"resolvers: {resolvers} · verdicts: {results}")
    return table


def domain_table(document: ScanDocument) -> Table | None:
    """The domains some resolver blocks, with how many resolvers and how; None if none."""
    blocked: dict[str, Counter[str]] = defaultdict(Counter)
    for result in document.results:
        if result.verdict.status == "blocked":
            blocked[result.domain][result.verdict.outcome] += 1
    if not blocked:
        return None
    trusted = sum(r.status in ("ok", "answers_everything") for r in document.resolvers)
    table = Table(title=literal(f"blocked domains (of {trusted} trusted resolvers)"))
    table.add_column("domain", overflow="fold")
    table.add_column("resolvers", justify="right", style=_STYLE["blocked"], overflow="fold")
    table.add_column("how", ratio=1, overflow="fold")
    ranked = sorted(blocked.items(), key=lambda item: -sum(item[1].values()))
    for domain, how in ranked[:_TABLE_ROWS]:
        said = ", ".join(f"{o} {n}" for o, n in how.most_common())
        table.add_row(literal(domain), str(sum(how.values())), literal(said))
    if len(ranked) > _TABLE_ROWS:
        table.add_row(f"... {len(ranked) - _TABLE_ROWS} more (see the JSON)", "", "")
    return table
