"""The lab's control server: ``censorcheck control serve`` on the free vantage, in the lab's loop.

It measures as an uncensored network would: through the honest resolver, from the free vantage's
address, trusting the lab CA, and dialling nothing outside the lab's own network. It needs the
``control`` extra (FastAPI, uvicorn); without it the lab runs with no control server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from censorcheck.lab.topology import Topology
from censorcheck.settings import Settings

# Generous: the lab's control serves tests and demos, not strangers.
_RATE = 10_000.0
_IN_FLIGHT = 512
_DEADLINE = 12.0


def available() -> bool:
    """Whether the control extra is installed."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


def private_text(path: Path, text: str) -> None:
    """Write ``path`` whole (through a temporary file renamed over it), readable by the owner
    only from its first byte: ``control.args`` holds the lab's control token."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode otherwise
        f.write(text)
    tmp.replace(path)  # a script waiting for the file never reads half of it


class LabControl:
    """A control server for one lab topology; ``start`` and ``close`` run in the lab's loop."""

    def __init__(self, topology: Topology, ca_bundle: Path, token_file: Path) -> None:
        self._topology = topology
        self._ca_bundle = ca_bundle
        self.token = secrets.token_urlsafe(24)
        private_text(token_file, self.token + "\n")
        self.token_file = token_file
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self._topology.control_url()

    def settings(self) -> Settings:
        topo = self._topology
        return Settings(
            vantage="lab-control",
            resolvers=[topo.resolver_uri(censored=False)],
            control_resolvers=[],
            source_address=topo.free_vantage,
            ca_bundle=self._ca_bundle,
            ipv6="off",
            # On loopback the lab's /24 is its Internet, and the demo's real names, fetched on
            # 80/443, are served on the lab's own ports; a namespace lab needs neither.
            treat_as_public=[str(topo.network)] if topo.loopback else [],
            port_map=topo.port_map(),
            timeout=2.0,
        )

    async def start(self) -> None:
        """Listen on the free vantage; raises OSError when the port is taken."""
        import uvicorn

        from censorcheck.control.protocol import SERVER_KEEP_ALIVE
        from censorcheck.control.server import ServerConfig, create_app

        topo = self._topology
        config = ServerConfig(
            tokens=(self.token,),
            settings=self.settings(),
            only_networks=(ipaddress.ip_network(topo.network),),
            rate=_RATE,
            burst=int(_RATE),
            max_in_flight=_IN_FLIGHT,
            max_deadline=_DEADLINE,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((topo.free_vantage, topo.ports.control))
            sock.listen(256)
        except BaseException:
            sock.close()
            raise
        server = _quiet_server(uvicorn)(
            uvicorn.Config(
                create_app(config),
                log_level="warning",
                access_log=False,
                server_header=False,
                timeout_keep_alive=SERVER_KEEP_ALIVE,
                timeout_graceful_shutdown=1,
                lifespan="on",
            )
        )
        self._server = server
        self._sock = sock
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():  # startup failed: surface why
                sock.close()
                self._task.result()
                raise OSError("the lab's control server did not start")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._sock.close()
        self._task = None


def _quiet_server(uvicorn: Any) -> Any:
    """uvicorn's Server, minus its signal handlers: the lab may run in the main thread
    (``censorcheck lab``, the demo), where the CLI owns Ctrl-C; a server taking it would leave
    the lab running."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server
