"""The control server tests' fixtures: servers that run for a module, loopback listeners.

fastapi and uvicorn come with the optional ``control`` extra, so the fixtures import what runs a
server when they are used: the modules using them skip themselves without the extra, and this
folder's tests that need no server still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.control.support import Listeners


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """A server with two tokens, generous limits and a small body cap, confined to ``NET``."""
    from tests.control.support import confined, serving

    with serving(confined()) as url:
        yield url


@pytest.fixture(scope="module")
def default_guard() -> Iterator[str]:
    """A server with the default guard: no ``allow_private``, no ``only_networks``. Its source
    address is loopback, so a dial the guard wrongly let through could only stay on the machine."""
    from censorcheck.control.server import ServerConfig
    from tests.control.support import TOKEN, serving, settings

    config = ServerConfig(tokens=(TOKEN,), settings=settings(source_address="127.0.0.1"))
    assert not config.allow_private and not config.only_networks
    with serving(config) as url:
        yield url


@pytest.fixture
def loopback_listeners() -> Iterator[Listeners]:
    """A listener on 127.0.0.1, and on ::1 with the same port where the machine has IPv6."""
    from tests.control.support import Listener, Listeners, listening

    with listening("127.0.0.1") as v4:
        try:
            v6: Listener | None = Listener("::1", v4.port)
        except OSError:
            v6 = None
        try:
            yield Listeners(v4, v6)
        finally:
            if v6 is not None:
                v6.close()
