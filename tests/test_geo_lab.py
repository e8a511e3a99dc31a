"""Network identity through the real CLI: the lab's control server reports the client's address,
a table the test builds gives its AS and country; configured values win; --no-geo; whoami."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rrset
import pytest

from censorcheck.lab import Lab
from censorcheck.models import SCHEMA_VERSION, Run
from tests.conftest import run_cli
from tests.geo_support import Row, write_table
from tests.nameserver import udp_nameserver
from tests.test_scenarios import lab_flags

pytest.importorskip("fastapi")

REAL_NETWORK = True  # the namespace lab where the test run allows it (see conftest's lab)


def _lab_table(lab: Lab, path: Path) -> Path:
    """The lab's /24 as a hosting network, each vantage's address an AS of its own."""
    topo = lab.topology
    mine = {
        ipaddress.IPv4Address(topo.censored_vantage): (64500, "KZ", "LAB-CENSORED"),
        ipaddress.IPv4Address(topo.free_vantage): (64502, "DE", "LAB-FREE"),
    }
    rows: list[Row] = []
    start = ipaddress.IPv4Address(topo.network[0])
    for address in sorted(mine):
        if address > start:
            rows.append((str(start), str(address - 1), 64501, "NL", "LAB-HOSTING"))
        rows.append((str(address), str(address), *mine[address]))
        start = address + 1
    rows.append((str(start), str(topo.network[-1]), 64501, "NL", "LAB-HOSTING"))
    return write_table(path, rows)


@pytest.fixture(scope="module")
def geo_db(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _lab_table(lab, tmp_path_factory.mktemp("geo") / "ip2asn.tsv")


def _control(lab: Lab) -> list[str]:
    assert lab.control is not None, "the lab runs a control server when fastapi is installed"
    return ["--control", lab.control.url, "--control-token", lab.control.token]


def _targets(lab: Lab) -> list[str]:
    return lab.topology.target_urls()[:2]


def _run(lab: Lab, out: Path, *extra: str, env: dict[str, str] | None = None) -> Run:
    result = run_cli(
        "run", *_targets(lab), *lab_flags(lab, True), *_control(lab), "-q", "-o", str(out), *extra,
        env=env,
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    return Run.model_validate_json(out.read_text(encoding="utf-8"))


def test_detected_from_the_control_servers_report(lab: Lab, geo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    run = _run(lab, out, "--geo-db", str(geo_db))
    v = run.vantage
    assert (v.country, v.asn) == ("KZ", 64500)
    assert v.network is not None
    assert (v.network.country_source, v.network.asn_source) == ("detected", "detected")
    assert (v.network.as_name, v.network.address_source) == ("LAB-CENSORED", "control")
    assert v.network.database is not None and v.network.database.startswith("ip2asn.tsv (")
    # The lab's ISP resolver is given by address: looked up with no query at all.
    (resolver,) = v.network.resolvers
    assert (resolver.asn, resolver.country, resolver.address_source) == (64501, "NL", "literal")
    network_text = v.network.model_dump_json()
    assert lab.topology.censored_vantage not in network_text
    if not lab.topology.loopback:  # there the address is public: redacted everywhere
        assert lab.topology.censored_vantage not in out.read_text(encoding="utf-8")
    assert json.loads(out.read_text())["schema_version"] == SCHEMA_VERSION


def test_configured_values_win(lab: Lab, geo_db: Path, tmp_path: Path) -> None:
    topo = lab.topology
    vantages = tmp_path / "vantages.yaml"
    for name, address, more in (
        ("kz-home", topo.censored_vantage, ["--country", "UZ", "--asn", "8193"]),
        ("free", topo.free_vantage, []),
    ):
        added = run_cli(
            "vantage", "add", name, "--source-address", address, "--file", str(vantages),
            "--resolver", topo.resolver_uri(censored=address == topo.censored_vantage), *more,
        )  # fmt: skip
        assert added.code == 0, added.stderr
    out = tmp_path / "run.json"
    run = _run(lab, out, "--vantage-file", str(vantages), "--vantage", "kz-home",
               "--vantage", "free", "--geo-db", str(geo_db))  # fmt: skip
    home, free = run.vantages
    assert (home.country, home.asn) == ("UZ", 8193)
    assert home.network is not None
    assert (home.network.country_source, home.network.asn_source) == ("configured", "configured")
    # What detection found stays beside it, so a wrong configuration can be seen.
    assert (home.network.detected_country, home.network.detected_asn) == ("KZ", 64500)
    assert (free.country, free.asn) == ("DE", 64502)
    assert free.network is not None and free.network.asn_source == "detected"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_detection_off(lab: Lab, geo_db: Path, tmp_path: Path, how: str) -> None:
    extra = ["--no-geo"] if how == "flag" else []
    env = {"CENSORCHECK_GEO": "off"} if how == "environment" else None
    run = _run(lab, tmp_path / "run.json", "--geo-db", str(geo_db), *extra, env=env)
    v = run.vantage
    assert (v.country, v.asn) == (None, None)
    assert v.network is not None and v.network.failure == "geo.disabled"
    assert v.network.resolvers == [] and v.network.database is None


def test_no_database_is_said(lab: Lab, tmp_path: Path) -> None:
    run = _run(lab, tmp_path / "run.json", "--geo-db", str(tmp_path / "absent.tsv"))
    assert run.vantage.network is not None
    assert run.vantage.network.failure == "geo.no_database"
    assert run.vantage.asn is None


# --- whoami -------------------------------------------------------------------------------

RESOLVER_EGRESS = "192.0.2.53"  # where a recursive resolver's own queries would leave from


def _whoami(query: dns.message.Message, peer: tuple[str, int]) -> list[dns.message.Message]:
    """Whoami names as the public ones answer them: TXT ``o-o.myaddr.test`` with the asker's
    address, A ``whoami.resolver.test`` with the resolver's own egress, and any other A name
    with a fixed address (the pre-flight's)."""
    reply = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text()
    if question.rdtype == dns.rdatatype.TXT and name == "o-o.myaddr.test.":
        data = [f'"{peer[0]}"']
        reply.answer.append(dns.rrset.from_text_list(name, 60, "IN", "TXT", data))
    elif question.rdtype == dns.rdatatype.A:
        answer = RESOLVER_EGRESS if name == "whoami.resolver.test." else "192.0.2.80"
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", answer))
    return [reply]


@pytest.fixture
def whoami_server() -> Iterator[int]:
    """A DNS server on loopback answering as ``_whoami``; yields its port."""
    with udp_nameserver(_whoami) as (_, port):
        yield port


def test_whoami_names(whoami_server: int, tmp_path: Path) -> None:
    db = write_table(
        tmp_path / "t.tsv",
        [("127.0.0.0", "127.255.255.255", 64511, "KZ", "LOOPBACK-ISP"),
         ("192.0.2.0", "192.0.2.255", 64496, "US", "RESOLVER-NET")],
    )  # fmt: skip
    resolver = f"udp://127.0.0.1:{whoami_server}"
    out = tmp_path / "run.json"
    result = run_cli(
        "run", "http://127.0.0.1:9/", "--resolver", resolver, "--control-resolver", resolver,
        "--control", "none", "--timeout", "1", "-q", "-o", str(out), "--geo-db", str(db),
        "--geo-from", "whoami", "--whoami", "TXT:o-o.myaddr.test",
        "--resolver-whoami", "whoami.resolver.test",
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    v = Run.model_validate_json(out.read_text(encoding="utf-8")).vantage
    assert (v.country, v.asn) == ("KZ", 64511)
    assert v.network is not None and v.network.address_source == "whoami"
    (seen,) = v.network.resolvers
    assert (seen.asn, seen.as_name, seen.address_source) == (64496, "RESOLVER-NET", "whoami")
    assert RESOLVER_EGRESS not in out.read_text(encoding="utf-8")


def test_whoami_needs_a_name(tmp_path: Path) -> None:
    result = run_cli("run", "http://127.0.0.1:9/", "--control", "none", "--geo-from", "whoami")
    assert result.code == 2 and "--geo-from whoami needs --whoami" in result.stderr


def test_a_whoami_setting_that_is_no_name(tmp_path: Path) -> None:
    result = run_cli(
        "run", "http://127.0.0.1:9/", "--control", "none", "--geo-from", "whoami",
        "--whoami", "MX:two words",
    )  # fmt: skip
    assert result.code == 2 and "expected [A:|AAAA:|TXT:]NAME" in result.stderr
