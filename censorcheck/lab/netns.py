"""The lab as a real network: addresses that look routable, and a censor in the kernel.

Inside a network namespace of its own (``unshare --net --map-root-user``, no root needed where
user namespaces are allowed) a process may give the loopback interface any address and load
nftables rules. The lab's hosts can then sit on ordinary-looking public addresses, so the tool
under test needs no lab-only flag (no ``--treat-as-public``), and the censor can act where real
ones do: dropping SYNs, resetting connections, stalling every connection to an address after
its handshake, dropping UDP. Nothing leaves such a namespace: it
has no route anywhere but its own loopback.

This module refuses to touch the network of a namespace it does not own: it works only where
the current network namespace is not the machine's (see ``private_namespace``). ``where`` decides
where a lab runs: in the namespace this process already has, in a new one (the CLI re-executes
itself under ``unshare``, see ``unshare_argv``), or on loopback where neither is possible.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

TABLE = "censorcheck_lab"
# Set by the CLI in the process it re-executes inside a new namespace, which is then the lab's
# own: the commands it prints must enter it (``enter_prefix``), and it must not unshare again.
CREATED = "CENSORCHECK_LAB_NETNS"

Where = Literal["here", "new", "loopback"]
UNSHARE = ["unshare", "--net", "--map-root-user"]
BURST = 65536  # a throttle's burst: one loopback segment can be that large

KernelAction = Literal["drop_syn", "reset", "stall", "drop_udp", "freeze", "throttle"]


@dataclass(frozen=True)
class KernelRule:
    """One act of the kernel-level censor: what it does to traffic between ``source`` and
    ``address`` on ``port``. ``amount`` is the bytes the server may send before the connection
    freezes (``freeze``), or the bytes per second it may send (``throttle``)."""

    action: KernelAction
    source: str
    address: str
    port: int
    amount: int = 0

    @property
    def hook(self) -> Literal["input", "output"]:
        """Where the rule acts. A datagram dropped on output fails its sender's ``send`` with
        EPERM, which no censor on the path can cause: UDP is dropped on input, in silence."""
        return "input" if self.action == "drop_udp" else "output"

    def nft(self) -> str:
        """The rule in nftables' syntax, for its hook (on loopback every packet of both
        directions passes both; matching the source keeps to the client's direction)."""
        where = f"ip saddr {self.source} ip daddr {self.address}"
        tcp = f"{where} tcp dport {self.port}"
        # The server's direction, for the actions that meter what it sends.
        answer = f"ip saddr {self.address} ip daddr {self.source} tcp sport {self.port}"
        return {
            "drop_syn": f"{tcp} tcp flags & (syn | ack) == syn drop",
            # A reset in answer to the SYN: what a refusing host sends, forged by the path.
            "reset": f"{tcp} reject with tcp reset",
            # The SYN passes, so connect() succeeds; then nothing the client sends arrives.
            "stall": f"{tcp} tcp flags & (syn | ack) != syn drop",
            "drop_udp": f"{where} udp dport {self.port} drop",
            # conntrack counts the bytes (nft turns its accounting on for this match); every
            # packet past the threshold, retransmissions too, is dropped: a frozen connection.
            "freeze": f"{answer} ct reply bytes > {self.amount} drop",
            # A token bucket over every matching packet: what exceeds the rate is dropped, and
            # TCP slows to it.
            "throttle": f"{answer} limit rate over {self.amount} bytes/second burst {BURST} bytes"
            " drop",
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


def unavailable(nft: bool = True) -> str | None:
    """Why the kernel-level lab cannot run here, or None; ``nft=False`` when it needs only
    addresses, no censor rules."""
    if not private_namespace():
        return "not in a network namespace of its own (run under unshare --net --map-root-user)"
    for tool in ("ip", "nft") if nft else ("ip",):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (nftables and iproute2 are Debian's packages)"
    return None


def cannot_unshare() -> str | None:
    """Why this process cannot start a network namespace of its own, or None."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux and iproute2 are Debian's packages)"
    try:
        done = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return f"user namespaces are not allowed here ({why[-1] if why else 'unshare failed'})"
    return None


def where(choice: Literal["auto", "new", "off"]) -> tuple[Where, str]:
    """Where a lab runs for the user's ``choice``, and the reason when that is loopback.

    ``auto`` uses the namespace this process already has when it is private, starts a new one
    when it may, and falls back to loopback otherwise; ``new`` insists on a new one (nested when
    this one is private already); ``off`` is loopback."""
    if choice == "off":
        return "loopback", "asked for with --namespace off"
    created = os.environ.get(CREATED) == str(os.getpid())
    if created or (choice == "auto" and private_namespace()):
        why = unavailable(nft=False)
        return ("here", "") if why is None else ("loopback", why)
    why = cannot_unshare()
    if why is not None:
        if choice == "new":
            raise RuntimeError(f"cannot start a network namespace: {why}")
        return "loopback", why
    return "new", ""


def unshare_argv(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command and environment that, given to ``os.execvpe``, run ``python -m censorcheck
    ARGV`` again in a network namespace of its own. Neither exec nor unshare (without --fork)
    changes the PID, so the environment can name the PID that owns the namespace."""
    command = [*UNSHARE, sys.executable, "-m", "censorcheck", *argv]
    return command, {**os.environ, CREATED: str(os.getpid())}


def enter_prefix() -> list[str]:
    """The words that run a command inside this process's namespace from outside it: empty
    unless this process created it (a caller in the same namespace needs none)."""
    if os.environ.get(CREATED) != str(os.getpid()):
        return []
    return ["nsenter", "--target", str(os.getpid()), "--user", "--net", "--preserve-credentials"]


class KernelLab:
    """Addresses on loopback and a table of censor rules, added together and removed together."""

    def __init__(self, addresses: Iterable[str], rules: Iterable[KernelRule] = ()) -> None:
        self.addresses = list(dict.fromkeys(addresses))
        self.rules = list(rules)
        # Labs of parallel test workers share one namespace: each its own table.
        self.table = f"{TABLE}_{secrets.token_hex(4)}"
        self._added: list[str] = []  # only these are ours to remove

    def start(self) -> None:
        why = unavailable(nft=bool(self.rules))
        if why is not None:
            raise RuntimeError(f"the kernel-level lab cannot run: {why}")
        _run(["ip", "link", "set", "lo", "up"])
        for address in self.addresses:
            try:
                _run(["ip", "address", "add", f"{address}/32", "dev", "lo"])
            except RuntimeError as exc:
                # Most often another lab in this namespace holds it: an OSError, which a
                # caller picking a random network retries with another.
                self.close()
                raise OSError(errno.EADDRINUSE, f"{address}: {exc}") from None
            self._added.append(address)
        if not self.rules:
            return
        chains = "".join(
            f"  chain {hook} {{\n    type filter hook {hook} priority 0;\n"
            + "".join(f"    {rule.nft()}\n" for rule in self.rules if rule.hook == hook)
            + "  }\n"
            for hook in ("output", "input")
        )
        _run(["nft", "-f", "-"], f"table inet {self.table} {{\n{chains}}}\n")

    def close(self) -> None:
        if self.rules:
            subprocess.run(
                ["nft", "delete", "table", "inet", self.table], capture_output=True, check=False
            )
        while self._added:
            subprocess.run(
                ["ip", "address", "del", f"{self._added.pop()}/32", "dev", "lo"],
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
