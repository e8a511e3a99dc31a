"""Every lab scenario through the real CLI, from both vantages: the table is the specification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from censorcheck.lab import Lab
from censorcheck.lab.scenarios import SCENARIOS
from censorcheck.models import Run
from tests.conftest import run_cli

REAL_NETWORK = True  # the namespace lab where the test run allows it (see conftest's lab)


def lab_flags(lab: Lab, censored: bool) -> list[str]:
    """The issue's acceptance command: ordinary flags only on the namespace lab; the loopback
    lab's network must also be named as public (the probe has no loopback heuristic). The
    control is named (the lab's resolver alone) so that no run falls to the public default; a
    test that wants another gives a later --control, which wins."""
    topo = lab.topology
    flags = [
        "--resolver",
        topo.resolver_uri(censored=censored),
        "--control-resolver",
        topo.resolver_uri(censored=False),
        "--source-address",
        topo.censored_vantage if censored else topo.free_vantage,
        "--ca-bundle",
        str(lab.ca_bundle),
        "--timeout",
        "3",
        "--control",
        "none",
    ]
    return flags + (["--treat-as-public", str(topo.network)] if topo.loopback else [])


@pytest.fixture(scope="module")
def targets_file(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lab") / "lab-targets.txt"
    path.write_text("\n".join(lab.topology.target_urls()) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def censored_run(lab: Lab, targets_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The issue's acceptance command, verbatim apart from the lab's addresses."""
    out = tmp_path_factory.mktemp("out") / "run.json"
    result = run_cli("run", str(targets_file), *lab_flags(lab, True), "--output", str(out))
    assert result.code == 1, result.stderr  # 1: done, and something is blocked
    return Run.model_validate_json(out.read_text(encoding="utf-8"))


def misses(lab: Lab, run: Run, control: bool, ooni: bool = False) -> list[str]:
    """Each result whose verdict, or QUIC verdict (None where no QUIC is to be tried), is not
    the scenario's in the set-up ``control`` and ``ooni`` name (see ``Scenario.expected``)."""
    wrong = []
    for result in run.results:
        scenario = lab.topology.names[result.target.domain]
        want = scenario.expected(control, ooni)
        got = result.verdict
        if (got.status, got.blocking, got.outcome) != (want.status, want.blocking, want.outcome):
            wrong.append(f"{result.target.domain}: {got.status}/{got.outcome}: {got.reason}")
        want_quic = scenario.expected_quic(control, ooni)
        quic = result.quic_verdict
        seen = None if quic is None else (quic.status, quic.blocking, quic.outcome)
        if seen != (None if want_quic is None else (want_quic.status, want_quic.blocking,
                                                    want_quic.outcome)):  # fmt: skip
            wrong.append(f"{result.target.domain} over QUIC: {seen}: {quic and quic.reason}")
    return wrong


def test_every_scenario_gets_its_verdict(lab: Lab, censored_run: Run) -> None:
    wrong = misses(lab, censored_run, control=False)
    assert not wrong, "\n".join(wrong)
    assert len(censored_run.results) == len(lab.topology.names)


def test_every_verdict_is_explained(censored_run: Run) -> None:
    for result in censored_run.results:
        v = result.verdict
        assert v.reason and v.evidence, result.target.url
        doc = json.loads(result.model_dump_json())
        for evidence in v.evidence:
            # Each evidence pointer resolves inside the result it explains.
            node = doc
            for part in evidence.ref.strip("/").split("/"):
                node = node[int(part)] if isinstance(node, list) else node[part]
            assert node is not None, evidence.ref


def test_free_vantage_sees_no_blocking(lab: Lab, targets_file: Path, tmp_path: Path) -> None:
    """The same lab from the free vantage with the honest resolver: the false-positive check."""
    out = tmp_path / "free.json"
    result = run_cli("run", str(targets_file), *lab_flags(lab, False), "--output", str(out))
    assert result.code == 0, result.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    statuses = {r.target.domain: r.verdict.status for r in run.results}
    assert "blocked" not in statuses.values()
    quic = {r.target.domain: r.quic_verdict.status for r in run.results if r.quic_verdict}
    assert "blocked" not in quic.values()
    assert quic["quic-sni-drop.lab.test"] == quic["quic-udp-drop.lab.test"] == "accessible"
    assert "quic-absent.lab.test" not in quic
    assert statuses["tls-sni-reset.lab.test"] == "accessible"
    assert statuses["gone.lab.test"] == "down"
    assert statuses["tarpit.lab.test"] == "inconclusive"


def test_run_document_records_the_vantage_not_the_person(censored_run: Run) -> None:
    assert censored_run.vantage.ipv6 is False
    assert {s.role for s in censored_run.vantage.resolvers} == {"probe", "control"}
    assert all(s.alive for s in censored_run.vantage.resolvers)
    # Paths on the user's disk would name them: only file names are kept.
    assert "/" not in str(censored_run.settings["ca_bundle"])
    assert censored_run.summary.total == len(censored_run.results)
    assert censored_run.summary.by_status["blocked"] == sum(
        r.verdict.status == "blocked" for r in censored_run.results
    )


def test_the_namespace_lab_needs_no_lab_only_flag(lab: Lab, censored_run: Run) -> None:
    """Where the test run has a network namespace of its own, the table above ran as in the
    field: public-looking addresses, the real ports, and no flag naming the lab."""
    if lab.topology.loopback:
        pytest.skip("the loopback lab runs here (no namespace, or CENSORCHECK_TEST_LAB=loopback)")
    assert not {"--treat-as-public", "--port-map"} & set(lab_flags(lab, True))
    assert censored_run.settings["treat_as_public"] == []
    assert censored_run.settings["port_map"] == {}
    assert all(":" not in r.target.url.split("//")[1] for r in censored_run.results)


def test_the_kernel_rows_ran(lab: Lab, censored_run: Run) -> None:
    """The censor in the kernel (lab/kernel_scenarios.py), beside the table's verdicts above:
    the frozen connection carried less than its 64 KiB, the throttled one some of its page."""
    if lab.kernel_skipped is not None:
        pytest.skip(lab.kernel_skipped)
    by_name = {r.target.domain: r.http for r in censored_run.results}
    frozen, throttled = by_name["kernel-freeze.lab.test"], by_name["kernel-throttle.lab.test"]
    assert frozen and frozen.hops[-1].response and throttled and throttled.hops[-1].response
    assert frozen.hops[-1].response.body_length < 64 * 1024
    assert 0 < throttled.hops[-1].response.body_length < censored_run.settings["max_body"]
    # The throttled page is weighed against the run's other big pages (huge, huge-http, slow).
    (baseline,) = censored_run.baselines
    assert baseline.throughput_samples >= 3 and baseline.throughput is not None
    transfer = throttled.hops[-1].response.transfer
    assert transfer is not None and transfer.throughput is not None
    assert transfer.throughput * 10 <= baseline.throughput


def test_a_quic_blocked_site_is_never_expected_accessible_over_quic() -> None:
    """The table itself: a site whose QUIC the censor cuts is blocked or inconclusive over QUIC
    in every set-up, and a QUIC verdict is expected exactly where the site advertises HTTP/3."""
    setups = [(False, False), (True, False), (True, True)]
    cut = [s for s in SCENARIOS if s.censor in ("udp_drop", "quic_sni_drop")]
    assert cut
    for row in cut:
        for control, ooni in setups:
            e = row.expected_quic(control, ooni)
            assert e is not None and e.status in ("blocked", "inconclusive"), row.name
    for row in SCENARIOS:
        hidden = row.dns == "strip_https"  # the censor's resolver hides the only announcement
        assert (row.expect_quic is None) == (row.quic == "none" or hidden), row.name


def test_an_https_record_alone_leads_to_quic(censored_run: Run) -> None:
    """``--quic auto`` tries QUIC for a site that announces HTTP/3 only in its HTTPS DNS record;
    a record stripped, or an HTTPS query that failed, is recorded and changes no verdict (the
    table above holds them to the same verdicts as their A and AAAA answers alone)."""
    by_name = {r.target.domain: r for r in censored_run.results}
    announced = by_name["quic-https-record.lab.test"]
    assert announced.http is not None
    headers = [n.lower() for h in announced.http.hops if h.response for n, _ in h.response.headers]
    assert headers and "alt-svc" not in headers
    (query,) = announced.dns_https
    assert query.qtype == "HTTPS" and query.answer is not None
    assert [r.alpn for r in query.answer.records] == [["h3"]]
    assert announced.quic and all(fetch.failure is None for fetch in announced.quic)
    stripped = by_name["quic-https-record-stripped.lab.test"]
    (query,) = stripped.dns_https
    assert query.failure is None and query.answer is not None and query.answer.records == []
    assert stripped.quic == [] and stripped.quic_verdict is None
    assert [q.failure for q in by_name["dns-silence.lab.test"].dns_https] == ["dns.timeout"]
    assert [q.failure for q in by_name["dns-nxdomain.lab.test"].dns_https] == ["dns.nxdomain"]
    # Asked only for https targets.
    assert by_name["static-http.lab.test"].dns_https == []
