"""``censorcheck control serve``: run the control server (needs the ``control`` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from censorcheck.cli.common import Opt, app, fatal, log, user_errors
from censorcheck.errors import ConfigError
from censorcheck.measure.bogons import IPNetwork, networks

control_app = typer.Typer(no_args_is_help=True, help="The control server: an uncensored view.")
app.add_typer(control_app, name="control")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` into its parts."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = 0
    if not sep or not 0 < number < 65536:
        raise ConfigError(f"--listen {value!r}: expected IP:PORT, e.g. 0.0.0.0:8080")
    return host, number


def _networks(cidrs: list[str], flag: str) -> tuple[IPNetwork, ...]:
    try:
        return networks(cidrs)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from exc


def _check_tls(cert: Path, key: Path) -> None:
    """ConfigError unless ``cert`` and ``key`` load without a passphrase: said once, here,
    rather than by each worker process as it fails to start (a worker has no terminal to ask
    on; one process serving alone still asks, as uvicorn does)."""
    import ssl

    asked: list[bool] = []

    def passphrase() -> str:
        asked.append(True)
        return ""

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=passphrase)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        if asked:
            raise ConfigError(
                f"--tls-key {key}: the key is encrypted, which only --workers 1 can use (it "
                "asks for the passphrase on the terminal)"
            ) from None
        raise ConfigError(f"--tls-cert {cert} --tls-key {key}: {exc}") from None


@control_app.command()
def serve(
    token_file: Annotated[
        Path, Opt(help="Bearer tokens, one per line (at least 16 characters each).")
    ],
    listen: Annotated[str, Opt(help="Address and port to listen on.")] = "127.0.0.1:8080",
    resolver: Annotated[
        list[str], Opt("--resolver", "-r", help="Resolver URI of the server (repeatable).")
    ] = ["system"],  # noqa: B006
    source_address: Annotated[
        str | None, Opt(help="Bind every measurement socket to this local address.")
    ] = None,
    ca_bundle: Annotated[Path | None, Opt(help="Extra trusted CA certificates (PEM).")] = None,
    allow_private: Annotated[
        bool,
        Opt(
            "--allow-private",
            help="Also connect to loopback, private and link-local addresses (labs only).",
        ),
    ] = False,
    only_network: Annotated[
        list[str] | None,
        Opt(help="Dial only inside this CIDR, private or not (repeatable; closed labs)."),
    ] = None,
    treat_as_public: Annotated[
        list[str] | None,
        Opt(
            help="Measure addresses in this CIDR as routable although they are not (repeatable; "
            "--only-network implies it for its networks)."
        ),
    ] = None,
    timeout: Annotated[float, Opt(help="Seconds for each network operation.")] = 5.0,
    max_deadline: Annotated[float, Opt(help="Most seconds for one measurement.")] = 30.0,
    rate: Annotated[float, Opt(help="Measurements per second per token.", min=0.01)] = 20.0,
    burst: Annotated[int, Opt(help="Measurements a token may start at once.", min=1)] = 100,
    max_in_flight: Annotated[
        int, Opt(help="Measurements one token may have running at once.", min=1)
    ] = 32,
    ipv6: Annotated[bool, Opt("--ipv6/--no-ipv6", help="Measure IPv6 addresses too.")] = False,
    tls_cert: Annotated[
        Path | None,
        Opt(
            help="Serve HTTPS with this certificate chain (PEM); needs --tls-key. Without TLS "
            "the tokens cross the network in clear: use it, or a TLS proxy in front."
        ),
    ] = None,
    tls_key: Annotated[Path | None, Opt(help="The private key of --tls-cert (PEM).")] = None,
    workers: Annotated[
        int,
        Opt(
            help="Processes that serve and measure, each with its own event loop, on one "
            "socket (for a server whose one core is the limit; each costs some 75 MiB). The "
            "per-token limits are the whole server's, shared by its workers. A worker that "
            "dies is started again.",
            min=1,
        ),
    ] = 1,
) -> None:
    """Serve POST /v1/measure to probes holding a token. Client addresses are never logged.

    Exit codes: 2 bad usage or an address it cannot listen on; 5 a worker process stopped
    before it served or did not serve within 30 s, or workers died more than 5 times a minute;
    130 Ctrl-C and 143 SIGTERM (the measurements in flight get 5 s to end).
    """
    with user_errors():
        try:
            from censorcheck.control.server import ServerConfig, load_tokens, serve
            from censorcheck.measure.probes.context import check_ca_bundle
            from censorcheck.settings import Settings
        except ImportError as exc:
            raise ConfigError(
                f"the control server needs the control extra: pip install 'censorcheck[control]' "
                f"({exc.name} is missing)"
            ) from exc
        host, port = parse_listen(listen)
        if ca_bundle is not None:
            check_ca_bundle(ca_bundle)
        only = _networks(only_network or [], "--only-network")
        public = _networks(treat_as_public or [], "--treat-as-public")
        settings = Settings(
            vantage="control",
            # --only-network adds its networks when serving (ServerConfig.measuring).
            treat_as_public=[str(n) for n in public],
            resolvers=resolver,
            control_resolvers=[],
            source_address=source_address,
            ca_bundle=ca_bundle,
            timeout=timeout,
            ipv6="on" if ipv6 else "off",
        )
        config = ServerConfig(
            tokens=load_tokens(token_file),
            settings=settings,
            allow_private=allow_private,
            only_networks=only,
            rate=rate,
            burst=burst,
            max_in_flight=max_in_flight,
            max_deadline=max_deadline,
        )
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
        for given in tls or ():
            if not given.is_file():
                raise ConfigError(f"{given}: no such file")
        if tls is not None and workers > 1:
            _check_tls(*tls)
        processes = workers
        count = len(config.tokens)
        scheme = "https" if tls else "http"
        log(
            f"control server on {scheme}://{listen}/v1 ({count} token{'s' * (count != 1)}, "
            f"{processes} worker{'s' * (processes != 1)})"
        )
        try:
            serve(config, host, port, tls, processes, log)
        except OSError as exc:
            fatal(f"--listen {listen}: {exc.strerror or exc}")
