"""The verdict rules, one row per rule and per false-positive trap. No sockets: pure data.

The rows live in the cases_* modules, grouped by what they are about; this module runs them all.
"""

from __future__ import annotations

import pytest

from censorcheck.measure.bogons import networks
from censorcheck.measure.verdict import JudgeContext, Observations, judge
from censorcheck.models import Control, Target, TCPConnect
from tests.verdict.builders import SITE, Case, control, hs, ok_page, q
from tests.verdict.cases_dns import DNS_CASES
from tests.verdict.cases_elsewhere import ELSEWHERE_CASES
from tests.verdict.cases_field import FIELD_CASES
from tests.verdict.cases_ooni import OONI_CASES
from tests.verdict.cases_path import PATH_CASES
from tests.verdict.cases_qa import QA_CASES, QA_OONI_CASES
from tests.verdict.cases_server import SERVER_CASES
from tests.verdict.cases_transfer import TRANSFER_CASES
from tests.verdict.cases_traps import TRAP_CASES

CASES = (
    DNS_CASES
    + PATH_CASES
    + SERVER_CASES
    + TRAP_CASES
    + FIELD_CASES
    + OONI_CASES
    + ELSEWHERE_CASES
    + TRANSFER_CASES
    + QA_CASES
    + QA_OONI_CASES
)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    domain = case.url.split("/")[2]
    obs = Observations(
        target=Target(url=case.url, domain=domain),
        dns=case.dns,
        tcp=case.tcp,
        tls=case.tls,
        http=case.http,
        control=case.control,
        deadline_hit=case.deadline_hit,
        error=case.error,
        control_addresses=case.control_addresses,
    )
    verdict = judge(obs, JudgeContext(dead_resolvers=case.dead))
    assert (verdict.status, verdict.blocking, verdict.outcome) == case.expect, verdict.reason
    assert verdict.reason.endswith(".")
    refs = {e.ref for e in verdict.evidence}
    assert set(case.cites) <= refs, f"evidence cites {sorted(refs)}"
    if verdict.status == "blocked":
        # A claim must point at what it rests on, including the reference it was compared with.
        assert len(verdict.evidence) >= 1
        assert verdict.confidence >= 0.7


def test_lab_networks_are_not_bogons() -> None:
    obs = Observations(
        target=Target(url="https://site.example/", domain="site.example"),
        dns=[q(["127.77.0.10"])],
        tcp=[TCPConnect(address="127.77.0.10", port=443)],
        tls=[hs("127.77.0.10")],
        http=ok_page(address="127.77.0.10"),
        control=control("127.77.0.10"),
    )
    assert judge(obs).outcome == "dns.bogon"
    assert judge(obs, JudgeContext(public=networks(["127.77.0.0/24"]))).status == "accessible"


def test_ip_literal_target_needs_no_dns() -> None:
    obs = Observations(
        target=Target(url=f"https://{SITE}/", domain=SITE),
        tcp=[TCPConnect(address=SITE, port=443)],
        tls=[hs()],
        http=ok_page(),
        control=Control(),
    )
    assert judge(obs).status == "accessible"


def test_evidence_refs_point_into_the_result() -> None:
    case = next(c for c in CASES if c.id.startswith("forged answer"))
    target = Target(url=case.url, domain="site.example")
    obs = Observations(target, case.dns, case.tcp, case.tls, case.http, case.control)
    refs = [e.ref for e in judge(obs).evidence]
    assert "/dns/0" in refs and "/dns/0/late_answers" in refs and "/control/dns/0" in refs
