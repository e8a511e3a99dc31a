"""Queries written by hand must be the bytes dnspython writes, and the raw-bytes reply check must
agree with dnspython's own ``is_response`` on every reply it can parse."""

from __future__ import annotations

import random

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from censorcheck.measure.probes.dnswire import EDNS_PAYLOAD, Query


def _reference(name: str, qtype: str, qid: int) -> bytes:
    message = dns.message.make_query(name, qtype, use_edns=0, payload=EDNS_PAYLOAD)
    message.id = qid
    return message.to_wire()


NAMES = [
    "example.org",
    "example.org.",
    "Mixed-Case.Example.ORG",
    "_dmarc.example.com",
    "a." * 100 + "com",  # long, still under 255 octets
    "xn--80ak6aa92e.com",  # IDNA already applied
    "a" * 63 + ".com",
    "bücher.example",  # non-ASCII: the dnspython path
    "with\\.dot.example",  # an escape: the dnspython path
    "1.2.3.4",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("qtype", ["A", "AAAA", "HTTPS", "CNAME"])
def test_query_bytes_match_dnspython(name: str, qtype: str) -> None:
    assert Query.build(name, qtype, query_id=4660).wire == _reference(name, qtype, 4660)


@pytest.mark.parametrize("name", ["a" * 64 + ".com", "a." * 130 + "com", "bad..name", ".."])
def test_names_that_cannot_be_asked_raise_like_dnspython(name: str) -> None:
    with pytest.raises(Exception) as ours:
        Query.build(name, "A", query_id=1)
    with pytest.raises(Exception) as theirs:
        _reference(name, "A", 1)
    assert isinstance(ours.value, ValueError | dns.exception.DNSException)
    assert type(theirs.value) is type(ours.value)


def _reply(query_wire: bytes, **change: object) -> dns.message.Message:
    reply = dns.message.make_response(dns.message.from_wire(query_wire))
    reply.answer.append(dns.rrset.from_text(reply.question[0].name, 60, "IN", "A", "192.0.2.1"))
    for key, value in change.items():
        setattr(reply, key, value)
    return reply


def _agree(query: Query, data: bytes) -> None:
    expected = False
    try:
        expected = dns.message.from_wire(query.wire).is_response(dns.message.from_wire(data))
    except dns.exception.DNSException:
        return  # unparseable: the transport drops it whatever the check says
    assert query.answered_by(data) == expected, data.hex()


def test_reply_check_cases() -> None:
    query = Query.build("Example.org", "A", query_id=99)
    good = _reply(query.wire)
    other_id = _reply(query.wire, id=100)
    not_reply = _reply(query.wire)
    not_reply.flags &= ~dns.flags.QR
    renamed = dns.message.make_query("example.net", "A", use_edns=0)
    renamed.id, renamed.flags = 99, renamed.flags | dns.flags.QR
    other_type = dns.message.make_query("example.org", "AAAA", use_edns=0)
    other_type.id, other_type.flags = 99, other_type.flags | dns.flags.QR
    refused_bare = _reply(query.wire)
    refused_bare.question, refused_bare.answer = [], []
    refused_bare.set_rcode(dns.rcode.REFUSED)
    noerror_bare = _reply(query.wire)
    noerror_bare.question = []
    cases = {
        "good": (good, True),
        "other id": (other_id, False),
        "QR unset": (not_reply, False),
        "other name": (renamed, False),
        "other type": (other_type, False),
        "REFUSED, no question": (refused_bare, True),
        "NOERROR, no question": (noerror_bare, False),
    }
    for label, (message, expected) in cases.items():
        data = message.to_wire()
        assert query.answered_by(data) is expected, label
        _agree(query, data)
    # 0x20: the resolver echoes the name in another case
    mixed = bytearray(good.to_wire())
    mixed[13:20] = mixed[13:20].swapcase()
    assert query.answered_by(bytes(mixed))
    _agree(query, bytes(mixed))


def test_reply_check_agrees_with_dnspython_on_mutations() -> None:
    """Seeded byte mutations of real replies: whenever dnspython can parse one, both checks say
    the same thing about it."""
    rng = random.Random(2026)
    queries = [Query.build(n, t, query_id=rng.randrange(65536)) for n in NAMES[:6] for t in "A"]
    compared = 0
    for query in queries:
        base = _reply(query.wire).to_wire()
        for _ in range(400):
            data = bytearray(base)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            _agree(query, bytes(data))
            compared += 1
    assert compared == 2400


def test_truncated_data_is_never_a_reply() -> None:
    query = Query.build("example.org", "A", query_id=7)
    whole = _reply(query.wire).to_wire()
    assert query.answered_by(whole)
    for size in range(12 + len(query.question)):
        assert not query.answered_by(whole[:size]), size
