"""The lab's certificates: a trusted lab CA, an interception CA, and a rogue CA nobody trusts.

Keys are made at start-up (ECDSA, fast); nothing is written to disk except the lab CA bundle that a
probe is given with ``--ca-bundle``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from censorcheck.lab.topology import Host

# Past this many names under one parent, a host's certificate names the parent's wildcard
# instead: a benchmark host serving 650 names would otherwise send 18 KB in every handshake.
WILDCARD_AFTER = 16


def identities(names: set[str]) -> list[str]:
    """The SAN list for a host serving ``names``: crowded parents collapse into a wildcard."""
    by_parent: dict[str, list[str]] = {}
    for name in names:
        parent = name.split(".", 1)[1] if name.count(".") >= 2 else ""
        by_parent.setdefault(parent, []).append(name)
    sans: list[str] = []
    for parent, group in sorted(by_parent.items()):
        if parent and len(group) > WILDCARD_AFTER:
            sans.append(f"*.{parent}")
        else:
            sans.extend(sorted(group))
    return sans


class LabPKI:
    """Certificate authorities and server SSL contexts for the lab's hosts."""

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="censorcheck lab CA")
        self.interception_ca = trustme.CA(organization_name="Qaznet-style interception CA")
        self.rogue_ca = trustme.CA(organization_name="Self-signed site CA")
        self._forged: dict[str, ssl.SSLContext] = {}

    def ca_pem(self) -> bytes:
        """The lab CA in PEM: the only CA a probe should add to its trust store."""
        return bytes(self.ca.cert_pem.bytes())

    def write_ca_bundle(self, path: Path) -> Path:
        path.write_bytes(self.ca_pem())
        return path

    def _context(self, ca: trustme.CA, identities: list[str]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*identities).configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def host_context(self, host: Host) -> ssl.SSLContext:
        """The real server's context: lab-CA certificate for its names (rogue CA if self-signed)."""
        ca = self.rogue_ca if host.service == "selfsigned" else self.ca
        return self._context(ca, identities(host.names) or [host.address])

    def write_host_pem(self, host: Host, path: Path) -> Path:
        """The key and certificate chain of ``host``'s names in one PEM file, for its QUIC side."""
        leaf = self.ca.issue_cert(*(identities(host.names) or [host.address]))
        leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
        return path

    def resolver_context(self, address: str) -> ssl.SSLContext:
        """For DoT and DoH on a resolver address (the certificate names the IP)."""
        return self._context(self.ca, [address])

    def forged_context(self, sni: str) -> ssl.SSLContext:
        """What an interception box presents: a certificate for ``sni`` from its own CA."""
        if sni not in self._forged:
            self._forged[sni] = self._context(self.interception_ca, [sni])
        return self._forged[sni]
