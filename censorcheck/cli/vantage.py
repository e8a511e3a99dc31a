"""``vantage add | list | remove``: the named ways out that ``run --vantage`` measures from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from censorcheck.cli.common import Opt, app, log, user_errors
from censorcheck.cli.text import FORMAT_HELP, Format, console, literal, write_json, write_tsv
from censorcheck.cli.text import table as text_table
from censorcheck.errors import ConfigError, first_error

vantage_app = typer.Typer(no_args_is_help=True, help="Vantage points: where a run measures from.")
app.add_typer(vantage_app, name="vantage")

FileOpt = Annotated[
    Path | None,
    Opt("--file", help="The vantage file to change (default: the user's, see `vantage list`)."),
]


@vantage_app.command()
def add(
    name: Annotated[str, typer.Argument(help="A short name: letters, digits, '.', '_', '-'.")],
    source_address: Annotated[
        str | None, Opt(help="Leave from this local address (a second uplink, a VPN interface).")
    ] = None,
    proxy: Annotated[
        str | None, Opt(help="Leave through this socks5:// or http:// proxy (a VPN gateway, Tor).")
    ] = None,
    resolver: Annotated[
        list[str] | None,
        Opt("--resolver", "-r", help="Resolver URI (repeatable); default: the system's."),
    ] = None,
    country: Annotated[
        str | None, Opt(help="ISO 3166 country code of the network, e.g. KZ.")
    ] = None,
    asn: Annotated[int | None, Opt(help="Autonomous system number of the network.")] = None,
    network_type: Annotated[
        str | None, Opt(help="home, mobile, office, university, public-wifi, datacenter, vpn, tor")
    ] = None,
    notes: Annotated[str | None, Opt(help="Free text kept with the vantage.")] = None,
    file: FileOpt = None,
    replace: Annotated[bool, Opt("--replace", help="Overwrite a vantage of that name.")] = False,
) -> None:
    """Add a vantage."""
    from pydantic import ValidationError

    from censorcheck.cli.plans import runnable
    from censorcheck.measure import vantages
    from censorcheck.settings import Settings

    with user_errors():
        try:
            vantage = vantages.Vantage(
                name=name,
                source_address=source_address,
                proxy=proxy,
                resolvers=resolver or [],
                country=country,
                asn=asn,
                network_type=network_type,
                notes=notes,
            )
        except ValidationError as exc:
            raise ConfigError(f"vantage {name}: {first_error(exc)}") from exc
        # Checked as `run` checks a vantage, so that what is saved can be measured from.
        runnable(vantage.apply(Settings()), name)
        path = file or vantages.user_file()
        vantages.add(path, vantage, replace)
        log(f"vantage {name} saved in {path}")


LIST_COLUMNS = ("name", "way out", "resolvers", "country", "ASN", "type", "notes")


@vantage_app.command("list")
def list_(
    output_format: Annotated[Format, Opt("--format", "-f", help=FORMAT_HELP)] = Format.table,
    json_out: Annotated[bool, Opt("--json", help="Same as --format json.")] = False,
    file: Annotated[Path | None, Opt("--file", help="Also read this vantage file.")] = None,
) -> None:
    """List the configured vantages (the user's file, then the project's)."""
    from censorcheck.measure import vantages

    with user_errors():
        found = vantages.load([file] if file else [])
    if json_out or output_format is Format.json:
        write_json([v.model_dump(exclude_none=True) for v in found.values()])
        return
    rows = []
    for v in found.values():
        way = f"proxy {v.proxy}" if v.proxy else f"from {v.source_address or 'default route'}"
        rows.append((v.name, way, ", ".join(v.resolvers) or "system", v.country or "",
                     str(v.asn or ""), v.network_type or "", v.notes or ""))  # fmt: skip
    if output_format is Format.tsv:
        write_tsv(LIST_COLUMNS, rows)
        return
    table = text_table("vantages", LIST_COLUMNS, f"user file: {vantages.user_file()}")
    for row in rows:
        table.add_row(*map(literal, row))
    console().print(table)


@vantage_app.command()
def remove(name: str, file: FileOpt = None) -> None:
    """Remove a vantage."""
    from censorcheck.measure import vantages

    with user_errors():
        path = file or vantages.user_file()
        vantages.remove(path, name)
        log(f"vantage {name} removed from {path}")
