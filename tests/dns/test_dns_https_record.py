"""The HTTPS record (DNS type 65, RFC 9460): asked of the lab's resolvers over every transport,
its failures recorded as codes, its records read, and how ``--quic auto`` reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import dns.message
import dns.rrset
import httpx
import pytest

from censorcheck.lab.topology import Topology
from censorcheck.measure.pipeline import Partial, https_h3_port
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.dns import https_name, https_record, parse_resolver, read_answer
from censorcheck.models import DNSAnswer, DNSQuery, HTTPSRecord, Result
from censorcheck.settings import Settings
from tests.dns.support import LAB, Env, at
from tests.dns.test_dns_odd_replies import FakeServer

SITE = f"quic-https-record.{LAB}"


def _record(query: DNSQuery) -> list[HTTPSRecord]:
    assert query.answer is not None, query.failure
    return query.answer.records


def test_https_name_has_a_port_prefix_off_443() -> None:
    assert https_name("example.org", 443) == "example.org"
    assert https_name("example.org", 8443) == "_8443._https.example.org"


@pytest.mark.parametrize("scheme", ["udp", "tcp", "tls", "https"])
def test_every_transport_carries_the_record(
    in_lab: Callable[..., Any], topology: Topology, scheme: str
) -> None:
    port = topology.ports.https

    async def body(env: Env) -> list[DNSQuery]:
        return [
            await https_record(SITE, port, env.resolver(scheme, honest), env.ctx)
            for honest in (True, False)
        ]

    for query in in_lab(body):
        assert (query.qtype, query.failure) == ("HTTPS", None)
        assert query.hostname == https_name(SITE, port)
        assert _record(query) == [HTTPSRecord(priority=1, target=".", alpn=["h3"], port=port)]
        assert https_h3_port(query, port) == port


# name, failure of the HTTPS query at the censored resolver (the row's A lie or refusal)
CENSORED = [
    ("static", None),  # a site with no record: NOERROR, nothing in it
    ("quic-https-record-stripped", None),  # the record withheld
    ("dns-nxdomain", "dns.nxdomain"),
    ("dns-refused", "dns.refused"),
    ("dns-servfail", "dns.servfail"),
    ("dns-silence", "dns.timeout"),
    ("dns-zero", None),  # an address lie is "no data" for other types
]


@pytest.mark.parametrize(("scenario", "failure"), CENSORED)
def test_failures_are_codes(
    in_lab: Callable[..., Any], topology: Topology, scenario: str, failure: str | None
) -> None:
    port = topology.ports.https

    async def body(env: Env) -> DNSQuery:
        return await https_record(f"{scenario}.{LAB}", port, env.resolver("udp"), env.ctx)

    query = in_lab(body, timeout=0.5)
    assert query.failure == failure
    assert query.answer is None or query.answer.records == []
    assert https_h3_port(query, port) is None


def _answer(text: list[str], name: str = "example.org.") -> DNSAnswer:
    query = dns.message.make_query(name, "HTTPS")
    reply = dns.message.make_response(query)
    if text:
        reply.answer.append(dns.rrset.from_text_list(name, 60, "IN", "HTTPS", text))
    return read_answer(dns.message.from_wire(reply.to_wire()), 0.01)


def test_every_recorded_parameter_is_read() -> None:
    answer = _answer(
        [
            '1 . alpn="h3,h2" port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1 '
            "ech=AEX+DQBBpQAgACBDL9Lhx1ZkdDuyRuvSSVrJKWgd/Gv9FN/dU6ZGJiZwIgAEAAEAAQASY2xvdWRmbGFyZS1lY2guY29tAAA=",
            "0 cdn.example.net.",
        ]
    )
    assert answer.addresses == []
    assert answer.ttl == 60
    by_priority = sorted(answer.records, key=lambda r: r.priority)
    assert by_priority == [
        HTTPSRecord(priority=0, target="cdn.example.net."),
        HTTPSRecord(
            priority=1,
            target=".",
            alpn=["h3", "h2"],
            port=8443,
            ipv4hint=["192.0.2.1", "192.0.2.2"],
            ipv6hint=["2001:db8::1"],
            ech=True,
        ),
    ]


def _query(records: list[str], hostname: str = "example.org", rcode: str = "NOERROR") -> DNSQuery:
    answer = _answer(records, hostname + ".").model_copy(update={"rcode": rcode})
    return DNSQuery(
        resolver="udp://192.0.2.53",
        hostname=hostname,
        qtype="HTTPS",
        answer=answer,
        failure=None if rcode == "NOERROR" else "dns.servfail",
        t=0.01,
    )


# the records of example.org; the port QUIC is tried on (None: not tried)
TRIGGERS = [
    (['1 . alpn="h3"'], 443),
    (['1 . alpn="h2,h3" port=8443'], 8443),
    (['1 example.org. alpn="h3"'], 443),  # the origin named in full
    (['1 . alpn="h2"'], None),  # no h3
    (['1 other.example.net. alpn="h3"'], None),  # another name, whose addresses are not ours
    (["0 other.example.net."], None),  # AliasMode: nothing about protocols
    ([], None),  # NOERROR, no record
    (['2 . alpn="h2"', '1 . alpn="h3" port=9443'], 9443),  # the preferred record decides
]


@pytest.mark.parametrize(("records", "port"), TRIGGERS)
def test_what_triggers_quic(records: list[str], port: int | None) -> None:
    assert https_h3_port(_query(records), 443) == port


def test_a_port_prefixed_name_is_the_origin() -> None:
    query = _query(['1 _8443._https.example.org. alpn="h3"'], "_8443._https.example.org")
    assert https_h3_port(query, 8443) == 8443


def test_a_failed_query_triggers_nothing() -> None:
    assert https_h3_port(_query(['1 . alpn="h3"'], rcode="SERVFAIL"), 443) is None


def _malformed(query: dns.message.Message, _n: int) -> list[bytes]:
    """A reply with one HTTPS record whose alpn holds a zero-length id, which RFC 9460 forbids."""
    wire = bytearray(dns.message.make_response(query).to_wire())
    wire[6:8] = (1).to_bytes(2, "big")  # one answer record
    # priority 1, target ".", key 1 (alpn) of length 1: a single empty protocol id
    rdata = b"\x00\x01" + b"\x00" + b"\x00\x01\x00\x01\x00"
    # the question's name (a pointer to it), type 65, class IN, TTL 60
    head = b"\xc0\x0c" + (65).to_bytes(2, "big") + b"\x00\x01" + (60).to_bytes(4, "big")
    return [bytes(wire) + head + len(rdata).to_bytes(2, "big") + rdata]


def test_a_malformed_record_is_a_bad_response(
    in_lab: Callable[..., Any], topology: Topology
) -> None:
    address = at(topology, 77)
    port = topology.ports.dns

    async def body(env: Env) -> DNSQuery:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: FakeServer(_malformed), local_addr=(address, port)
        )
        try:
            resolver = parse_resolver(f"udp://{address}:{port}")
            return await https_record("example.org", 443, resolver, env.ctx)
        finally:
            transport.close()

    query = in_lab(body, timeout=0.5)
    assert (query.failure, query.answer) == ("dns.bad_response", None)


def test_a_document_from_before_the_record_loads() -> None:
    """Schema 1.6 had no HTTPS query and no ``records``: its results load with none."""
    old = {
        "target": {"url": "https://example.org/", "domain": "example.org"},
        "started_at": "2026-01-01T00:00:00.000Z",
        "t": 0.5,
        "dns": [
            {
                "resolver": "udp://192.0.2.53:53",
                "hostname": "example.org",
                "qtype": "A",
                "answer": {"rcode": "NOERROR", "addresses": ["192.0.2.1"], "t": 0.01},
                "t": 0.01,
            }
        ],
        "control": {"source": "resolvers"},
        "verdict": {
            "status": "accessible",
            "outcome": "accessible",
            "confidence": 0.9,
            "reason": "-",
        },
    }
    result = Result.model_validate(old)
    assert result.dns_https == []
    assert result.dns[0].answer is not None and result.dns[0].answer.records == []


@pytest.mark.parametrize(
    ("url", "settings", "asked"),
    [
        ("https://example.org/", {}, True),
        ("https://example.org:8443/", {}, True),
        ("http://example.org/", {}, False),
        ("https://192.0.2.1/", {}, False),
        ("https://example.org/", {"quic": "always"}, False),
        ("https://example.org/", {"quic": "never"}, False),
        # Behind a proxy no QUIC is tried, so there is nothing for the record to decide.
        (
            "https://example.org/",
            {"proxy": "socks5://127.0.0.1:1080", "resolvers": ["tcp://127.0.0.1"]},
            False,
        ),
    ],
)
def test_when_the_record_is_asked_for(url: str, settings: dict[str, Any], asked: bool) -> None:
    async def main() -> bool:
        ctx = ProbeContext.create(Settings(**settings), ipv6=False)
        partial = Partial()
        try:
            # A resolver that is never reached: the query is cancelled before it is sent.
            partial.ask_https_record(httpx.URL(url), [parse_resolver("udp://192.0.2.53")], ctx)
            return partial.https_asked is not None
        finally:
            await partial.aclose()
            await ctx.aclose()

    assert asyncio.run(main()) == asked
