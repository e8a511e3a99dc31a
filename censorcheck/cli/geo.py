"""The network-identity knobs of ``run`` and ``censorcheck update-db``, which fetches the
IP-to-ASN table they look addresses up in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from censorcheck.cli.common import Opt, app, log, user_errors
from censorcheck.errors import ConfigError

# ``CENSORCHECK_GEO=off`` in a shell profile or a systemd unit: never detect, as --no-geo.
GEO_ENV = "CENSORCHECK_GEO"

NoGeo = Annotated[
    bool, Opt("--no-geo", help="Do not look up the vantage's AS and country (see README).")
]
GeoFrom = Annotated[
    str, Opt("--geo-from", help="Who tells the public address: control (its server) or whoami.")
]
Whoami = Annotated[
    str | None, Opt(help="[TYPE:]NAME answered with the asker's address, at the control resolvers.")
]
ResolverWhoami = Annotated[
    str | None, Opt(help="[TYPE:]NAME asked through each probe resolver for its own address.")
]
GeoDB = Annotated[Path | None, Opt(help="IP-to-ASN table (default: the one update-db keeps).")]


def geo_settings(
    no_geo: bool, geo_from: str, whoami: str | None, resolver_whoami: str | None, db: Path | None
) -> dict[str, Any]:
    """The Settings values of the options above."""
    if geo_from not in ("control", "whoami"):
        raise ConfigError(f"--geo-from {geo_from}: control or whoami")
    if geo_from == "whoami" and whoami is None:
        raise ConfigError("--geo-from whoami needs --whoami NAME (see README)")
    off = no_geo or os.environ.get(GEO_ENV, "").lower() in ("off", "0", "no")
    return {
        "geo": not off,
        "geo_source": geo_from,
        "whoami": whoami,
        "resolver_whoami": resolver_whoami,
        "geo_db": db,
    }


@app.command("update-db")
def update_db(
    url: Annotated[
        str | None, Opt(help="Where to fetch ip2asn-combined.tsv(.gz) (or CENSORCHECK_IPDB_URL).")
    ] = None,
    output: Annotated[
        Path | None, Opt("--output", "-o", help="Where to keep it (default: the data folder).")
    ] = None,
    timeout: Annotated[float, Opt(help="Seconds the download may stall.")] = 60.0,
) -> None:
    """Fetch or refresh the offline IP-to-ASN-and-country table (IPtoASN, PDDL)."""
    from censorcheck.measure import ipdb, ipdb_update

    source = url or os.environ.get(ipdb_update.URL_ENV) or ipdb_update.DEFAULT_URL
    dest = output or ipdb.default_path()
    with user_errors():
        done = ipdb_update.update(source, dest, timeout)
    log(f"{done.ranges} address ranges ({done.downloaded} bytes fetched) written to {done.path}")
