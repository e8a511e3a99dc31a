"""dns-scan's pure parts, table-tested: the verdict rules, the resolver profile, the pacer, and
reading replies from the wire (against dnspython). No sockets."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from censorcheck.scan.models import (
    Canary,
    Checks,
    ControlAnswer,
    Observation,
    ScanResolver,
    TLSCheck,
)
from censorcheck.scan.profile import classify_resolver, everywhere_addresses
from censorcheck.scan.query import Pacer, Question
from censorcheck.scan.verdict import OUTCOMES, Where, judge
from censorcheck.scan.wire import parse_reply

SITE, EDGE, OTHER, AD = "198.51.100.10", "203.0.113.20", "203.0.113.30", "203.0.113.40"
WHERE = Where("/results/7", "/resolvers/1", "/controls/example.com")


def resolver(status: str = "ok", everywhere: list[str] | None = None) -> ScanResolver:
    return ScanResolver(
        address="192.0.2.53",
        port=53,
        status=status,  # type: ignore[arg-type]
        reason="why",
        everywhere=everywhere or [],
    )


def control(status: str = "resolved", addresses: list[str] | None = None) -> ControlAnswer:
    if addresses is None:
        addresses = [SITE] if status == "resolved" else []
    return ControlAnswer(status=status, addresses=addresses, asns=None)  # type: ignore[arg-type]


def obs(
    rcode: str | None = "NOERROR", addresses: list[str] | None = None, **kw: Any
) -> Observation:
    failure = kw.pop("failure", None)
    if failure is None and rcode not in (None, "NOERROR"):
        failure = {"NXDOMAIN": "dns.nxdomain", "REFUSED": "dns.refused"}.get(rcode, "dns.error")
        failure = "dns.servfail" if rcode == "SERVFAIL" else failure
    return Observation(
        name="example.com",
        rcode=rcode,
        addresses=addresses or [],
        failure=failure,
        attempts=kw.pop("attempts", 1),
        **kw,
    )


def tls(address: str, valid: bool, failure: str | None = None) -> TLSCheck:
    return TLSCheck(address=address, port=443, sni="example.com", valid=valid, failure=failure)


def checks(judged: list[str], **kw: Any) -> Checks:
    return Checks(judged=judged, **kw)


SILENT = {"rcode": None, "failure": "dns.timeout", "attempts": 3}
CANARY_OK = Canary(name="a.root-servers.net", rcode="NOERROR")
CANARY_LOST = Canary(name="a.root-servers.net", failure="dns.timeout")

Case = tuple[str, ScanResolver, ControlAnswer, Observation | None, Checks | None, str, str]
CASES: list[Case] = [
    # name, resolver, control, observation, checks, status, outcome
    ("unresponsive resolver", resolver("unresponsive"), control(), None, None,
     "inconclusive", "resolver.unresponsive"),
    ("failed control", resolver("failed_control"), control(), None, None,
     "inconclusive", "resolver.failed_control"),
    ("silent, canary answered", resolver(), control(), obs(**SILENT, canary=CANARY_OK), None,
     "blocked", "dns.timeout"),
    ("silent, canary lost too", resolver(), control(), obs(**SILENT, canary=CANARY_LOST), None,
     "inconclusive", "dns.timeout"),
    ("silent, no canary", resolver(), control(), obs(**SILENT), None,
     "inconclusive", "dns.timeout"),
    ("silent, name gone", resolver(), control("gone"), obs(**SILENT, canary=CANARY_OK), None,
     "down", "dns.timeout"),
    ("silent, control failed", resolver(), control("failed"), obs(**SILENT, canary=CANARY_OK),
     None, "inconclusive", "dns.timeout"),
    ("unreachable", resolver(), control(), obs(None, failure="dns.unreachable"), None,
     "inconclusive", "dns.unreachable"),
    ("garbage reply", resolver(), control(), obs(None, failure="dns.bad_response"), None,
     "inconclusive", "dns.bad_response"),
    ("nxdomain", resolver(), control(), obs("NXDOMAIN"), None, "blocked", "dns.nxdomain"),
    ("refused", resolver(), control(), obs("REFUSED"), None, "blocked", "dns.refused"),
    ("servfail", resolver(), control(), obs("SERVFAIL"), None, "blocked", "dns.servfail"),
    ("no address", resolver(), control(), obs("NOERROR"), None, "blocked", "dns.no_answer"),
    ("odd rcode", resolver(), control(), obs("NOTIMP"), None, "inconclusive", "dns.error"),
    ("nxdomain, gone for all", resolver(), control("gone"), obs("NXDOMAIN"), None,
     "down", "dns.nxdomain"),
    ("nxdomain, control failed", resolver(), control("failed"), obs("NXDOMAIN"), None,
     "inconclusive", "dns.nxdomain"),
    ("answers everything", resolver("answers_everything", [AD]), control(), obs(addresses=[AD]),
     checks([], discounted=[AD]), "inconclusive", "resolver.answers_everything"),
    ("address for a gone name", resolver(), control("gone"), obs(addresses=[OTHER]),
     checks([OTHER]), "inconclusive", "dns.inconsistent"),
    ("no control", resolver(), control("failed"), obs(addresses=[OTHER]), checks([OTHER]),
     "inconclusive", "control.failed"),
    ("zero", resolver(), control(), obs(addresses=["0.0.0.0"]), checks([], bogons=["0.0.0.0"]),
     "blocked", "dns.bogon"),
    ("overlap", resolver(), control(), obs(addresses=[SITE]), checks([SITE], overlap=[SITE]),
     "accessible", "accessible"),
    ("overlap beside a bogon", resolver(), control(), obs(addresses=["10.0.0.1", SITE]),
     checks([SITE], bogons=["10.0.0.1"], overlap=[SITE]), "accessible", "accessible"),
    ("same ASN", resolver(), control(), obs(addresses=[OTHER]),
     checks([OTHER], asns=[64500], asn_match=[64500]), "accessible", "accessible"),
    ("CDN edge with a valid certificate", resolver(), control(), obs(addresses=[EDGE]),
     checks([EDGE], tls=[tls(EDGE, True)]), "accessible", "accessible"),
    ("blockpage with another certificate", resolver(), control(), obs(addresses=[OTHER]),
     checks([OTHER], tls=[tls(OTHER, False, "tls.hostname_mismatch")]),
     "blocked", "dns.inconsistent"),
    ("untrusted certificate beside a dead address", resolver(), control(),
     obs(addresses=[OTHER, EDGE]),
     checks([OTHER, EDGE], tls=[tls(OTHER, False, "tls.untrusted"), tls(EDGE, False,
     "tls.timeout")]), "blocked", "dns.inconsistent"),
    ("nothing listens", resolver(), control(), obs(addresses=[OTHER]),
     checks([OTHER], tls=[tls(OTHER, False, "tls.refused")]), "inconclusive", "dns.inconsistent"),
    ("no handshake made", resolver(), control(), obs(addresses=[OTHER]), checks([OTHER]),
     "inconclusive", "dns.inconsistent"),
    ("a discounted address beside a good one", resolver("answers_everything", [AD]), control(),
     obs(addresses=[AD, SITE]), checks([SITE], discounted=[AD], overlap=[SITE]),
     "accessible", "accessible"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("res", "ctl", "seen", "found", "status", "outcome"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verdict_table(
    res: ScanResolver,
    ctl: ControlAnswer,
    seen: Observation | None,
    found: Checks | None,
    status: str,
    outcome: str,
) -> None:
    verdict = judge(res, ctl, seen, found, WHERE)
    assert (verdict.status, verdict.outcome) == (status, outcome), verdict.reason
    assert verdict.outcome in OUTCOMES
    assert (verdict.blocking == "dns") == (status == "blocked")
    assert verdict.reason.endswith(".") and verdict.evidence
    prefixes = (WHERE.result, WHERE.resolver, WHERE.control)
    assert all(e.ref.startswith(prefixes) for e in verdict.evidence), verdict.evidence


def test_blocked_only_with_a_resolved_control() -> None:
    """Whatever a resolver says, nothing is blocked unless the control resolved the name."""
    for case in CASES:
        for state in ("gone", "failed"):
            verdict = judge(case[1], control(state), case[3], case[4], WHERE)
            assert verdict.status != "blocked", (case[0], state, verdict)


# --- the resolver profile --------------------------------------------------------------------

PROBE = control("resolved", ["198.41.0.4"])
GONE = control("gone")


def probe_obs(rcode: str | None = "NOERROR", addresses: list[str] | None = None) -> Observation:
    seen = obs(rcode, addresses if addresses is not None else ["198.41.0.4"])
    if rcode is None:
        seen = obs(None, failure="dns.timeout", attempts=3)
    return seen.model_copy(update={"name": "a.root-servers.net"})


NX = obs("NXDOMAIN").model_copy(update={"name": "0123456789.a.root-servers.net"})
NX_SILENT = obs(None, failure="dns.timeout", attempts=3)


@pytest.mark.parametrize(
    ("probes", "nonexistent", "status"),
    [
        ([(probe_obs(), PROBE, True)], NX, "ok"),
        ([(probe_obs(None), PROBE, False)], NX_SILENT, "unresponsive"),
        ([(probe_obs(addresses=[AD]), PROBE, False)], NX, "failed_control"),
        ([(probe_obs("REFUSED"), PROBE, False)], NX, "failed_control"),
        ([(probe_obs(None), PROBE, False)], NX, "failed_control"),  # answers, but not the probe
        (
            [(probe_obs(), PROBE, True), (probe_obs(addresses=[AD]), PROBE, False)],
            NX,
            "failed_control",
        ),
        ([(probe_obs(), PROBE, True), (probe_obs(None), PROBE, False)], NX, "ok"),
        ([(probe_obs(), PROBE, True)], obs(addresses=[AD]), "answers_everything"),
        ([(probe_obs(), control("failed"), False)], NX, "ok"),  # nothing to check against
    ],
)
def test_profile_table(
    probes: list[tuple[Observation, ControlAnswer, bool]], nonexistent: Observation, status: str
) -> None:
    found, reason, everywhere = classify_resolver(probes, nonexistent, GONE)
    assert found == status, reason
    assert everywhere == ([AD] if status == "answers_everything" else [])


def test_nonexistent_name_that_exists_for_the_control_proves_nothing() -> None:
    """A zone with a wildcard answers any name: then an answer to it is no hijacking."""
    found, _, _ = classify_resolver([(probe_obs(), PROBE, True)], obs(addresses=[AD]), PROBE)
    assert found == "ok"


def test_everywhere_needs_a_share_of_the_domains_and_a_minimum() -> None:
    site = control("resolved", [SITE])
    ad = (obs(addresses=[AD]), site)
    honest = (obs(addresses=[SITE]), site)
    # Given for 8 of 10 domains: at the 0.8 threshold.
    found, why = everywhere_addresses([ad] * 8 + [honest] * 2, 10, 0.8, 3)
    assert found == [AD] and "8 of 10" in why
    assert everywhere_addresses([ad] * 7 + [honest] * 3, 10, 0.8, 3) == ([], "")
    # A blockpage for two domains of two is not "everything": the minimum is three.
    assert everywhere_addresses([ad] * 2, 2, 0.8, 3) == ([], "")
    # An address the control gives too (shared hosting) never counts.
    shared = (obs(addresses=[SITE]), site)
    assert everywhere_addresses([shared] * 10, 10, 0.8, 3) == ([], "")


# --- pacing ----------------------------------------------------------------------------------


def test_pacer_spaces_queries_evenly() -> None:
    pacer = Pacer(rate=10, burst=1)
    delays = [pacer.delay(100.0) for _ in range(4)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3])
    later = pacer.delay(101.0)  # idle for a while: no credit beyond the burst
    assert later == 0.0 and pacer.delay(101.0) == pytest.approx(0.1)


def test_pacer_burst() -> None:
    pacer = Pacer(rate=10, burst=3)
    assert [pacer.delay(0.0) for _ in range(5)] == pytest.approx([0, 0, 0, 0.1, 0.2])


# --- replies from the wire -------------------------------------------------------------------


def _reply(qname: str, rcode: int = dns.rcode.NOERROR, *records: tuple[str, str, str]) -> bytes:
    query = dns.message.make_query(qname, "A", use_edns=0)
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.Rcode(rcode))
    for owner, rtype, value in records:
        reply.answer.append(dns.rrset.from_text(owner, 60, "IN", rtype, value))
    return reply.to_wire()


WIRES = {
    "one address": _reply("example.com", 0, ("example.com.", "A", SITE)),
    "two addresses": _reply(
        "example.com", 0, ("example.com.", "A", SITE), ("example.com.", "A", EDGE)
    ),
    "cname chain": _reply(
        "www.example.com",
        0,
        ("www.example.com.", "CNAME", "edge.cdn.example."),
        ("edge.cdn.example.", "CNAME", "e1.cdn.example."),
        ("e1.cdn.example.", "A", EDGE),
        ("unrelated.example.", "A", OTHER),
    ),
    "cname loop": _reply(
        "a.example", 0, ("a.example.", "CNAME", "b.example."), ("b.example.", "CNAME", "a.example.")
    ),
    "other types": _reply(
        "example.com", 0, ("example.com.", "AAAA", "2001:db8::1"), ("example.com.", "A", SITE)
    ),
    "case differs": _reply("Example.COM", 0, ("example.com.", "A", SITE)),
    "nxdomain": _reply("gone.example", dns.rcode.NXDOMAIN),
    "servfail": _reply("example.com", dns.rcode.SERVFAIL),
}


@pytest.mark.parametrize("wire", WIRES.values(), ids=WIRES.keys())
def test_wire_reading_agrees_with_dnspython(wire: bytes) -> None:
    from censorcheck.measure.probes.dns import read_answer

    expected = read_answer(dns.message.from_wire(wire), 0.0)
    parsed = parse_reply(wire)
    assert dns.rcode.to_text(dns.rcode.Rcode(parsed.rcode)) == expected.rcode
    assert parsed.addresses == expected.addresses
    assert parsed.cnames == expected.cnames
    assert not parsed.truncated


def test_wire_reading_sees_truncation() -> None:
    query = dns.message.make_query("example.com", "A")
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.TC
    assert parse_reply(reply.to_wire()).truncated


@pytest.mark.parametrize("cut", [3, 11, 20, 30, 40, 60, 90])
def test_wire_reading_refuses_broken_messages(cut: int) -> None:
    wire = WIRES["cname chain"]
    broken = wire[:cut]
    with pytest.raises(ValueError):
        parse_reply(broken)


def test_wire_reading_refuses_a_compression_loop() -> None:
    header = bytes([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError):
        parse_reply(header + bytes([0xC0, 12, 0, 1, 0, 1]))  # a name pointing at itself


def test_question_wire_is_a_query_for_the_name() -> None:
    question = Question.for_name("Example.com")
    query = dns.message.from_wire(question.wire)
    assert query.question[0].name.to_text() == "Example.com."
    assert query.flags & dns.flags.RD and query.edns == 0
    assert question.question == b"\x07example\x03com\x00\x00\x01\x00\x01"  # lower case
