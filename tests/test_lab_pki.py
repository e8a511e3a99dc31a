"""The lab's certificates: the right issuers, and compact name lists for crowded hosts."""

from __future__ import annotations

import contextlib
import ssl

from censorcheck.lab.pki import WILDCARD_AFTER, identities
from censorcheck.measure.probes.tls import name_matches
from censorcheck.models import Certificate


def test_crowded_parent_becomes_a_wildcard() -> None:
    many = {f"t{i:04d}.bench.test" for i in range(WILDCARD_AFTER + 1)}
    few = {"static.lab.test", "twitter.com", "www.facebook.com"}
    sans = identities(many | few)
    assert "*.bench.test" in sans and not any(s.startswith("t0") for s in sans)
    assert set(few) <= set(sans)


def test_wildcard_covers_exactly_one_label() -> None:
    cert = Certificate(subject="CN=x", issuer="CN=lab", sans=["*.bench.test"], not_before="",
                       not_after="", sha256="00")  # fmt: skip
    assert name_matches(cert, "t0001.bench.test")
    assert not name_matches(cert, "a.t0001.bench.test")
    assert not name_matches(cert, "bench.test")


def test_wildcard_certificate_validates_in_openssl() -> None:
    """The same wildcard rule in the real validator the probe uses."""
    from censorcheck.lab.pki import LabPKI
    from censorcheck.lab.topology import Host

    pki = LabPKI()
    host = Host("127.0.0.10", "static", {f"t{i:04d}.bench.test" for i in range(40)})
    server = pki.host_context(host)
    client = ssl.create_default_context()
    client.load_verify_locations(cadata=pki.ca_pem().decode())
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    cli = client.wrap_bio(c_in, c_out, server_hostname="t0007.bench.test")
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):  # pump the handshake between the two in memory
        for side in (cli, srv):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert cli.version() is not None and srv.version() is not None
