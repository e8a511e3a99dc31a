"""Validating a QUIC server's certificate against a trust store loaded once per run.

aioquic can validate the chain itself, but it builds a fresh OpenSSL store from the CA files at
every handshake: loading the system bundle was the largest single cost of a QUIC handshake in the
bench profile (``bench/quic_cost.py``). So the QUIC probe asks aioquic for no validation and makes
the same checks here, in the same order and with the libraries aioquic uses (the dates, the name
by service_identity, the chain by OpenSSL), against one store built on first use. The trust is
the same as TLS over TCP: the system's store plus ``--ca-bundle``.

pyOpenSSL, service_identity and certifi (declared in pyproject.toml; aioquic needs them too) are
imported on first use: every probe context holds a ``TrustStore``, and most runs never check a
QUIC chain.
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from OpenSSL import crypto


class TrustStore:
    """The run's trust anchors for QUIC, loaded the first time a chain is checked."""

    def __init__(self, ca_bundle: Path | None) -> None:
        self._ca_bundle = ca_bundle
        self._store: crypto.X509Store | None = None

    def _load(self) -> crypto.X509Store:
        import certifi
        from cryptography import x509
        from OpenSSL import crypto

        store = crypto.X509Store()
        cafile = ssl.get_default_verify_paths().cafile
        if self._ca_bundle is not None:
            for cert in x509.load_pem_x509_certificates(self._ca_bundle.read_bytes()):
                store.add_cert(crypto.X509.from_cryptography(cert))
        elif cafile is None:
            cafile = certifi.where()  # what aioquic falls back to with no CA given at all
        if cafile is not None:
            store.load_locations(cafile)
        return store

    def check(
        self, certificate: x509.Certificate, chain: list[x509.Certificate], server_name: str
    ) -> str | None:
        """Why the peer's ``certificate`` (and ``chain``) is not valid for ``server_name``, or
        None when it is."""
        from OpenSSL import crypto

        now = datetime.now(timezone.utc)
        if now < certificate.not_valid_before_utc:
            return "Certificate is not valid yet"
        if now > certificate.not_valid_after_utc:
            return "Certificate is no longer valid"
        if (problem := _name_problem(certificate, server_name)) is not None:
            return problem
        if self._store is None:
            self._store = self._load()
        context = crypto.X509StoreContext(
            self._store,
            crypto.X509.from_cryptography(certificate),
            [crypto.X509.from_cryptography(c) for c in chain],
        )
        try:
            context.verify_certificate()
        except crypto.X509StoreContextError as exc:
            return str(exc.args[0])
        return None


def _name_problem(certificate: x509.Certificate, server_name: str) -> str | None:
    import service_identity
    import service_identity.cryptography

    try:
        ipaddress.ip_address(server_name)
        is_ip = True
    except ValueError:
        is_ip = False
    try:
        if is_ip:
            service_identity.cryptography.verify_certificate_ip_address(certificate, server_name)
        else:
            service_identity.cryptography.verify_certificate_hostname(certificate, server_name)
    except ValueError:  # an extension that does not parse
        return "Certificate extensions could not be parsed"
    except (service_identity.CertificateError, service_identity.VerificationError):
        patterns = service_identity.cryptography.extract_patterns(certificate)
        names = ", ".join(repr(p) for p in patterns) or "no name"
        return f"hostname {server_name!r} doesn't match {names}"
    return None
