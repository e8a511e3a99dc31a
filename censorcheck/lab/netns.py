"""The lab as a real network: addresses that look routable, and a censor in the kernel.

Inside a network namespace of its own (``unshare --net --map-root-user``, no root needed where
user namespaces are allowed) a process may give the loopback interface any address and load
nftables rules. The lab's hosts can then sit on ordinary-looking public addresses, so the tool
under test needs no lab-only flag (no ``--treat-as-public``), and the censor can act where real
ones do: dropping SYNs, resetting connections, stalling every connection to an address after
its handshake, dropping UDP. Nothing leaves such a namespace: it
has no route anywhere but its own loopback.

This module refuses to touch the network of a namespace it does not own: it works only where
the current network namespace is not the machine's (see ``private_namespace``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

TABLE = "censorcheck_lab"

KernelAction = Literal["drop_syn", "reset", "stall", "drop_udp"]


@dataclass(frozen=True)
class KernelRule:
    """One act of the kernel-level censor: what it does to traffic from ``source`` to
    ``address`` on ``port``."""

    action: KernelAction
    source: str
    address: str
    port: int

    def nft(self) -> str:
        """The rule in nftables' syntax, for the output hook (on loopback every packet of both
        directions passes there; matching the source keeps to the client's direction)."""
        where = f"ip saddr {self.source} ip daddr {self.address}"
        tcp = f"{where} tcp dport {self.port}"
        return {
            "drop_syn": f"{tcp} tcp flags & (syn | ack) == syn drop",
            # A reset in answer to the SYN: what a refusing host sends, forged by the path.
            "reset": f"{tcp} reject with tcp reset",
            # The SYN passes, so connect() succeeds; then nothing the client sends arrives.
            "stall": f"{tcp} tcp flags & (syn | ack) != syn drop",
            "drop_udp": f"{where} udp dport {self.port} drop",
        }[self.action]


def private_namespace() -> bool:
    """Does this process run in a network namespace of its own, where changing addresses and
    rules cannot touch the machine's network? Either its namespace is not PID 1's, or (where a
    user namespace hides PID 1's) it holds no interface but loopback, so no packet can leave."""
    try:
        return os.stat("/proc/self/ns/net").st_ino != os.stat("/proc/1/ns/net").st_ino
    except OSError:
        pass
    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]
    except OSError:
        return False  # cannot tell: assume the machine's own, and touch nothing


def unavailable() -> str | None:
    """Why the kernel-level lab cannot run here, or None."""
    if not private_namespace():
        return "not in a network namespace of its own (run under unshare --net --map-root-user)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (nftables and iproute2 are Debian's packages)"
    return None


class KernelLab:
    """Addresses on loopback and a table of censor rules, added together and removed together."""

    def __init__(self, addresses: Iterable[str], rules: Iterable[KernelRule] = ()) -> None:
        self.addresses = list(dict.fromkeys(addresses))
        self.rules = list(rules)

    def start(self) -> None:
        why = unavailable()
        if why is not None:
            raise RuntimeError(f"the kernel-level lab cannot run: {why}")
        _run(["ip", "link", "set", "lo", "up"])
        for address in self.addresses:
            _run(["ip", "address", "add", f"{address}/32", "dev", "lo"])
        chain = "\n".join(f"    {rule.nft()}" for rule in self.rules)
        _run(
            ["nft", "-f", "-"],
            f"table inet {TABLE} {{\n  chain out {{\n"
            f"    type filter hook output priority 0;\n{chain}\n  }}\n}}\n",
        )

    def close(self) -> None:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True, check=False)
        for address in self.addresses:
            subprocess.run(
                ["ip", "address", "del", f"{address}/32", "dev", "lo"],
                capture_output=True,
                check=False,
            )

    def __enter__(self) -> KernelLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run(argv: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip() or done.returncode}")
