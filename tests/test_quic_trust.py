"""The QUIC probe's certificate check (``probes/quictrust.py``): the same verdicts on a chain
as aioquic's own check, against a store loaded once. Certificates from trustme, no network."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from censorcheck.measure.probes.quictrust import TrustStore


def _leaf(
    ca: trustme.CA, *names: str, **dates: datetime
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    pems = ca.issue_cert(*names, **dates).cert_chain_pems
    certs = [x509.load_pem_x509_certificate(p.bytes()) for p in pems]
    return certs[0], certs[1:]


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def test_a_chain_from_the_bundle_for_the_name_is_valid(bundle: tuple[trustme.CA, Path]) -> None:
    ca, path = bundle
    store = TrustStore(path)
    leaf, chain = _leaf(ca, "h3.example", "192.0.2.7")
    assert store.check(leaf, chain, "h3.example") is None
    assert store.check(leaf, chain, "192.0.2.7") is None
    # The store is loaded once and kept: a second check reads the same one.
    assert store.check(leaf, chain, "h3.example") is None


def test_another_name_another_ca_and_dates_are_each_refused(
    bundle: tuple[trustme.CA, Path],
) -> None:
    ca, path = bundle
    store = TrustStore(path)
    leaf, chain = _leaf(ca, "h3.example")
    stranger, stranger_chain = _leaf(trustme.CA(), "h3.example")
    now = datetime.now(timezone.utc)
    old, old_chain = _leaf(ca, "h3.example", not_before=now - timedelta(days=30),
                           not_after=now - timedelta(days=1))  # fmt: skip
    early, early_chain = _leaf(ca, "h3.example", not_before=now + timedelta(days=1),
                               not_after=now + timedelta(days=30))  # fmt: skip
    reasons = [
        store.check(leaf, chain, "other.example"),
        store.check(leaf, chain, "192.0.2.7"),
        store.check(stranger, stranger_chain, "h3.example"),
        store.check(old, old_chain, "h3.example"),
        store.check(early, early_chain, "h3.example"),
    ]
    assert all(reasons), reasons
    assert len(set(reasons)) == len(reasons)  # each says its own reason


def test_without_a_bundle_the_lab_ca_is_not_trusted(bundle: tuple[trustme.CA, Path]) -> None:
    ca, _ = bundle
    leaf, chain = _leaf(ca, "h3.example")
    assert TrustStore(None).check(leaf, chain, "h3.example")


def test_a_bundle_adds_to_the_system_store(bundle: tuple[trustme.CA, Path]) -> None:
    """As over TCP: with --ca-bundle the system's anchors still count, or every public site
    would fail its QUIC check on a machine given a bundle."""
    import ssl
    import warnings

    from OpenSSL import crypto

    cafile = ssl.get_default_verify_paths().cafile
    if cafile is None or not Path(cafile).is_file():
        pytest.skip("this machine has no system CA file")
    with warnings.catch_warnings():  # some system roots predate RFC 5280's serial rules
        warnings.simplefilter("ignore")
        roots = x509.load_pem_x509_certificates(Path(cafile).read_bytes())
        system_root = next(r for r in roots if r.serial_number > 0)
    _, path = bundle
    store = TrustStore(path)._load()
    crypto.X509StoreContext(store, crypto.X509.from_cryptography(system_root)).verify_certificate()
