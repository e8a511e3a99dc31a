"""dns-scan against the resolver lab: every (resolver, domain) verdict as the lab's table says,
counted from the servers' side (retries, pacing), and the command as users meet it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from censorcheck.lab.resolver_kinds import BY_NAME
from censorcheck.lab.resolvers import PROBE, ResolverLab, ResolverLabThread, write_asn_db
from censorcheck.scan import ScanDocument, parse_resolvers, scan_sync
from tests.conftest import run_cli

SCHEMA = Path(__file__).parent.parent / "schema" / "dns-scan.schema.json"
RETRIES = 1


@pytest.fixture(scope="module")
def scan_lab() -> Iterator[ResolverLab]:
    """The default resolver lab: every kind of the table, 53 resolvers, 13 target names."""
    with ResolverLabThread() as running:
        yield running


@pytest.fixture(scope="module")
def asn_db(scan_lab: ResolverLab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("asn") / "lab-asn.mmdb"
    return write_asn_db(path, scan_lab.asn_table())


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def wrong_cells(document: ScanDocument, lab: ResolverLab, asn_db: bool) -> list[str]:
    """Every (resolver, domain) whose verdict differs from the lab table's, and any resolver
    whose profile status does."""
    by_label = {f"{r.address}:{lab.dns_port}": r for r in lab.resolvers}
    wrong = []
    for resolver in document.resolvers:
        kind = by_label[f"{resolver.address}:{resolver.port}"].kind
        if resolver.status != kind.status:
            wrong.append(f"{kind.name} {resolver.address}: {resolver.status} ({resolver.reason})")
    for result in document.results:
        lab_resolver = by_label[result.resolver]
        want = lab.expected(lab_resolver, result.domain, asn_db)
        got = (result.verdict.status, result.verdict.outcome)
        if got != (want.status, want.outcome):
            wrong.append(f"{lab_resolver.kind.name} {result.domain}: {got}, want {want}")
    assert len(document.results) == len(lab.resolvers) * len(lab.targets)
    return wrong


def pointer(document: Any, ref: str) -> Any:
    """Follow a JSON pointer (RFC 6901) into ``document``."""
    node = document
    for part in ref.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_every_cell_with_an_asn_database(scan_lab: ResolverLab, asn_db: Path) -> None:
    specs = parse_resolvers(scan_lab.resolver_file(), "lab")
    before = Counter(scan_lab.queries)
    document = scan_sync(scan_lab.targets, specs, scan_lab.scan_settings(asn_db=asn_db))
    asked = Counter(scan_lab.queries)
    asked.subtract(before)
    assert wrong_cells(document, scan_lab, asn_db=True) == []

    # Every piece of evidence points at something in the document.
    data = json.loads(document.model_dump_json())
    for result in data["results"]:
        for evidence in result["verdict"]["evidence"]:
            pointer(data, evidence["ref"])
    assert ScanDocument.model_validate(data) == document

    # Retries only on silence, counted at the servers: a reply is final, silence is asked
    # 1 + retries times (and followed by the probe domain as a canary).
    kinds: dict[str, list[str]] = {}
    for r in scan_lab.resolvers:
        kinds.setdefault(r.kind.name, []).append(r.address)
    listed, other = scan_lab.listed[0], scan_lab.names[0]
    for kind in ("nxdomain", "refused", "servfail", "blockpage", "honest"):
        for address in kinds[kind]:
            assert asked[(address, listed)] == 1, (kind, address)
    for address in kinds["silent"]:
        assert asked[(address, listed)] == 1 + RETRIES
        assert asked[(address, other)] == 1
        assert asked[(address, PROBE)] == 1 + len(scan_lab.listed)  # profile, then canaries
    for address in kinds["unresponsive"]:  # dropped after the profile: never asked a target
        assert asked[(address, PROBE)] == 1 + RETRIES
        assert all(asked[(address, name)] == 0 for name in scan_lab.targets)
    for address in kinds["closed"] + kinds["hijacker"]:
        assert all(asked[(address, name)] == 0 for name in scan_lab.targets)

    # Truncated replies were asked again over TCP; the document says so.
    truncating = {f"{a}:{scan_lab.dns_port}" for a in kinds["truncating"]}
    for result in document.results:
        if result.resolver in truncating:
            assert result.observation is not None and result.observation.transport == "tcp"
    assert document.stats.tcp_fallbacks == len(truncating) * (len(scan_lab.targets) + 2)
    assert document.stats.tls_checks > 0


def test_rate_limit_is_respected_at_the_server() -> None:
    rate, burst = 40.0, 1
    honest = replace(BY_NAME["honest"], count=1)
    with ResolverLabThread(kinds=[honest], names=30) as lab:
        specs = parse_resolvers(lab.resolver_file(), "lab")
        settings = lab.scan_settings(rate=rate, burst=burst, retries=0)
        document = scan_sync(lab.targets, specs, settings)
        arrivals = sorted(lab.arrivals[lab.resolvers[0].address])
    assert document.stats.queries == len(arrivals) == len(lab.targets) + 2  # + the profile
    # End to end, the queries were spread over at least the paced time. Whether each window
    # held at most its share is the pacer's schedule, checked exactly in test_scan_verdict.py:
    # a busy machine can delay a slot until it arrives beside the next, which says nothing about
    # the pacer.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1 - burst) / rate * 0.9


def test_cli_scan_writes_results_and_exits_1(scan_lab: ResolverLab, tmp_path: Path) -> None:
    files = scan_lab.write_files(tmp_path / "lab")
    flags = ["--rate", "100", "--timeout", "0.5", "--retries", str(RETRIES)]
    result = run_cli(
        "dns-scan",
        str(files["targets.txt"]),
        "--resolvers",
        str(files["resolvers.txt"]),
        *scan_lab.scan_arguments(),
        *flags,
        cwd=tmp_path,
    )
    assert result.code == 1, result.stderr  # something is blocked
    (path,) = (tmp_path / "results").glob("*-dns-scan.json")
    document = ScanDocument.model_validate_json(path.read_text(encoding="utf-8"))
    assert wrong_cells(document, scan_lab, asn_db=False) == []
    assert f"results written to {Path('results') / path.name}" in result.stderr
    assert "dns-scan · 53 resolvers · 13 domains" in result.stderr
    assert "blocked domains" in result.stderr and "polite" in result.stderr
    assert document.settings["ca_bundle"] == "lab-ca.pem"  # local paths only as names


def test_cli_nothing_blocked_exits_0_and_prints_json(scan_lab: ResolverLab, tmp_path: Path) -> None:
    honest = [r for r in scan_lab.resolvers if r.kind.name == "honest"][:2]
    resolvers = tmp_path / "honest.txt"
    resolvers.write_text("".join(f"{r.address}:{scan_lab.dns_port}\n" for r in honest))
    result = run_cli(
        "dns-scan",
        *scan_lab.names[:3],
        "--resolvers",
        str(resolvers),
        *scan_lab.scan_arguments(),
        "--rate",
        "50",
        "-o",
        "-",
        "--quiet",
    )
    assert result.code == 0, result.stderr
    document = ScanDocument.model_validate_json(result.stdout)
    assert document.summary.by_status == {"accessible": 6}


@pytest.mark.parametrize(
    ("resolver_file", "args", "needle"),
    [
        ("127.0.0.53\n203.0.113.5 country=Kazakhstan\n", [], "bad.txt line 2: country="),
        ("dns.example\n", [], "bad.txt line 1: 'dns.example' is not an IP address"),
        (None, ["--asn-db", "/nonexistent/asn.mmdb"], "--asn-db /nonexistent/asn.mmdb: no such"),
        (None, ["--rate", "0"], "--rate"),
        (None, ["--probe-domain", "bad..name"], "--probe-domain 'bad..name'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    resolver_file: str | None, args: list[str], needle: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(resolver_file or "127.0.0.53\n")
    result = run_cli("dns-scan", "example.org", "--resolvers", str(path), *args)
    assert result.code == 2, result.stderr
    assert needle in one_line_error(result.stderr)
    assert not (tmp_path / "results").exists()


def test_unreachable_control_resolver_is_exit_2(scan_lab: ResolverLab, tmp_path: Path) -> None:
    files = scan_lab.write_files(tmp_path)
    dead = f"udp://{scan_lab.addresses['ad']}:{scan_lab.dns_port}"  # nothing listens there
    flags = [*scan_lab.scan_arguments(), "--control-resolver", dead, "--timeout", "0.3"]
    flags.remove(scan_lab.scan_settings().control_resolvers[0])
    flags.remove("--control-resolver")
    result = run_cli("dns-scan", *scan_lab.names[:2], "--resolvers", str(files["resolvers.txt"]),
                     *flags, "-o", str(tmp_path / "out.json"))  # fmt: skip
    assert result.code == 2, result.stderr
    line = one_line_error(result.stderr)
    assert f"control resolver {dead} did not answer" in line and "--control-resolver" in line
    assert not (tmp_path / "out.json").exists()


def test_schema_is_committed() -> None:
    """The scan document's JSON Schema, as published. When a model changes on purpose:
    ``censorcheck dns-scan --schema > schema/dns-scan.schema.json``, and bump the version."""
    assert ScanDocument.model_json_schema() == json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_a_bad_row_of_the_target_list_is_skipped_unless_strict(
    scan_lab: ResolverLab, tmp_path: Path
) -> None:
    files = scan_lab.write_files(tmp_path)
    listed = tmp_path / "names.txt"
    listed.write_text(f"{scan_lab.names[0]}\nhtps://x.com\n", encoding="utf-8")
    flags = [*scan_lab.scan_arguments(), "--resolvers", str(files["resolvers.txt"])]
    out = tmp_path / "out.json"
    result = run_cli("dns-scan", str(listed), *flags, "-q", "-o", str(out))
    assert result.code in (0, 1), result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "names.txt line 2" in warning and warning.endswith("; skipped")
    assert json.loads(out.read_text())["domains"] == [scan_lab.names[0]]
    strict = run_cli("dns-scan", str(listed), *flags, "--strict", "-o", str(tmp_path / "s.json"))
    assert "names.txt line 2" in one_line_error(strict.stderr)
    assert strict.code == 2 and not (tmp_path / "s.json").exists()
