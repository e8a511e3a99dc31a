"""The fast DNS reply reader against dnspython: the same record of every reply it reads.

Whenever ``read_reply`` reads a reply, dnspython must read the same bytes without error, and the
DNSAnswer, rcode and flags the probe records must be the ones ``read_answer`` gives from
dnspython's message. Whenever it does not, the probe falls back to dnspython, so what the
transport does (a reply kept or refused as malformed) and what it records are unchanged.
Replies come from the lab's resolvers (every one to an A or AAAA question must be read here),
from a table of shapes, and from a generator of replies of the usual shapes and odd ones, with
byte-level mutations.
"""

from __future__ import annotations

import random
import struct
from urllib.parse import urlsplit

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
from hypothesis import event, example, given
from hypothesis import strategies as st

from censorcheck.lab.dns import respond
from censorcheck.lab.topology import Topology
from censorcheck.measure.probes import dnstransport
from censorcheck.measure.probes.dns import _read, read_answer
from censorcheck.measure.probes.dnsreply import Reply, read_reply
from censorcheck.measure.probes.dnswire import Query
from tests.fuzz.inputs import mutated

A, NS, CNAME, SOA, TXT, AAAA, OPT, HTTPS = 1, 2, 5, 6, 16, 28, 41, 65


def compare(wire: bytes) -> bool:
    """Check ``wire`` both ways; whether the fast reader read it."""
    try:
        message: dns.message.Message | None = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        message = None
    fast = read_reply(wire)
    if fast is not None:
        assert message is not None, f"read here, refused by dnspython: {wire.hex()}"
        expected = read_answer(message, 0.25)
        got = _read(fast, 0.25)
        assert got.model_dump_json() == expected.model_dump_json(), wire.hex()
        assert got.model_fields_set == expected.model_fields_set
        assert fast.rcode() == message.rcode() and fast.flags == message.flags
    # The transport's view: a reply kept exactly when dnspython keeps it, recorded alike.
    try:
        reply = Reply.of_wire(wire)
    except dns.exception.DNSException:
        assert message is None
    else:
        assert message is not None
        assert _read(reply, 0.25) == read_answer(message, 0.25)
    return fast is not None


# --- replies as the lab's resolvers send them ---------------------------------------------------


def test_every_lab_reply_is_read_here(topology: Topology) -> None:
    hosts = sorted({urlsplit(url).hostname or "" for url in topology.target_urls()})
    hosts += ["nowhere.invalid", "WwW.Lab.TEST"]
    compared = 0
    for host in hosts:
        for qtype in ("A", "AAAA", "HTTPS"):
            query = Query.build(host, qtype, query_id=4321)
            for censored in (False, True):
                for wire in respond(topology, query.wire, censored) or []:
                    # Replies holding HTTPS records are dnspython's to read.
                    assert compare(wire) or qtype == "HTTPS", (host, qtype, censored)
                    assert dnstransport._parse(query, wire, 0.0).response is not None
                    compared += 1
    assert compared > 100


# --- a table of shapes ---------------------------------------------------------------------------


def _message(qname: str, qtype: str, *records: tuple[str, int, str, str]) -> dns.message.Message:
    query = dns.message.make_query(qname, qtype, use_edns=0, payload=1232)
    reply = dns.message.make_response(query)
    for name, ttl, rtype, data in records:
        reply.answer.append(dns.rrset.from_text(name, ttl, "IN", rtype, data))
    return reply


def _nxdomain() -> dns.message.Message:
    reply = _message("gone.example.", "A")
    reply.set_rcode(dns.rcode.NXDOMAIN)
    soa = "ns.example. Host.Example. 2026 7200 3600 1209600 300"
    reply.authority.append(dns.rrset.from_text("example.", 300, "IN", "SOA", soa))
    return reply


def _with_glue() -> dns.message.Message:
    reply = _message("a.example.", "A", ("a.example.", 60, "A", "192.0.2.1"))
    reply.authority.append(dns.rrset.from_text("example.", 300, "IN", "NS", "ns1.example."))
    reply.additional.append(dns.rrset.from_text("ns1.example.", 300, "IN", "A", "192.0.2.53"))
    reply.additional.append(dns.rrset.from_text("ns1.example.", 300, "IN", "AAAA", "2001:db8::53"))
    return reply


def _bare(rcode: dns.rcode.Rcode) -> dns.message.Message:
    reply = _message("x.example.", "A")
    reply.question = []
    reply.set_rcode(rcode)
    return reply


SHAPES = {
    "one A": _message("a.example.", "A", ("a.example.", 60, "A", "192.0.2.1")),
    "two A": _message(
        "a.example.",
        "A",
        ("a.example.", 60, "A", "192.0.2.1"),
        ("A.example.", 30, "A", "192.0.2.2"),
    ),
    "AAAA": _message("a.example.", "AAAA", ("a.example.", 60, "AAAA", "2001:db8::1")),
    "mapped AAAA": _message("a.example.", "AAAA", ("a.example.", 60, "AAAA", "::ffff:192.0.2.1")),
    "CNAME chain": _message(
        "www.Example.",
        "A",
        ("WWW.example.", 60, "CNAME", "Edge.cdn.example."),
        ("edge.CDN.example.", 50, "CNAME", "e1.cdn.example."),
        ("e1.cdn.example.", 40, "A", "192.0.2.7"),
        ("E1.cdn.example.", 20, "A", "192.0.2.7"),
        ("e1.cdn.example.", 30, "A", "192.0.2.8"),
        ("other.example.", 5, "A", "192.0.2.99"),
    ),
    "CNAME loop": _message(
        "a.example.",
        "A",
        ("a.example.", 60, "CNAME", "b.example."),
        ("b.example.", 60, "CNAME", "A.example."),
    ),
    "two CNAMEs of a name": _message(
        "a.example.",
        "A",
        ("a.example.", 60, "CNAME", "b.example."),
        ("a.example.", 60, "CNAME", "c.example."),
        ("c.example.", 60, "A", "192.0.2.3"),
        ("b.example.", 60, "A", "192.0.2.2"),
    ),
    "CNAME to the root": _message("a.example.", "A", ("a.example.", 60, "CNAME", ".")),
    "big TTL": _message("a.example.", "A", ("a.example.", 2**31 - 1, "A", "192.0.2.1")),
    "A to an AAAA question": _message("a.example.", "AAAA", ("a.example.", 60, "A", "192.0.2.1")),
    "empty NOERROR": _message("a.example.", "AAAA"),
    "HTTPS question, no record": _message(
        "a.example.",
        "HTTPS",
        ("a.example.", 60, "CNAME", "b.example."),
        ("b.example.", 60, "A", "192.0.2.1"),
    ),
    "NXDOMAIN with SOA": _nxdomain(),
    "NS and glue": _with_glue(),
    "REFUSED without question": _bare(dns.rcode.REFUSED),
    "SERVFAIL without question": _bare(dns.rcode.SERVFAIL),
    "BADVERS": _message("a.example.", "A"),
}
SHAPES["BADVERS"].set_rcode(dns.rcode.BADVERS)


def test_usual_shapes_are_read_here_alike() -> None:
    for label, message in SHAPES.items():
        assert compare(message.to_wire()), label
        assert compare(message.to_wire(max_size=65535, prepend_length=False)), label


def test_other_shapes_are_left_to_dnspython() -> None:
    txt = _message("a.example.", "A", ("a.example.", 60, "TXT", '"x"'))
    https = _message("a.example.", "HTTPS", ("a.example.", 60, "HTTPS", '1 . alpn="h3"'))
    options = _message("a.example.", "A", ("a.example.", 60, "A", "192.0.2.1"))
    options.use_edns(0, options=[dns.edns.GenericOption(65001, b"x")])
    escaped = _message("a.example.", "A", ("a.example.", 60, "CNAME", "b\\.c.example."))
    for label, message in {"TXT": txt, "HTTPS": https, "EDNS option": options}.items():
        assert not compare(message.to_wire()), label
    assert not compare(escaped.to_wire())
    wire = SHAPES["one A"].to_wire()
    assert not compare(wire + b"\x00")  # trailing bytes: dnspython refuses the message
    assert not compare(wire[:-1])


# --- generated replies ------------------------------------------------------------------------

LABELS = (b"www", b"a", b"cdn", b"Edge", b"e1", b"example", b"test", b"x-y", b"_s", b"a*b")
ODD_LABELS = (b"a.b", b"\x00", b"\xc3\xa9", b"@", b"a b", b"x" * 63, b"\\")
V4 = (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]), bytes([0, 0, 0, 0]), bytes([10, 0, 0, 1]))
V6 = (bytes(16), bytes.fromhex("20010db8" + "0" * 23 + "1"), bytes(10) + b"\xff\xff" + V4[0])


@st.composite
def names(draw: st.DrawFn) -> list[bytes]:
    labels = st.one_of(st.sampled_from(LABELS), st.sampled_from(ODD_LABELS))
    picked = draw(st.lists(labels, min_size=0, max_size=4))
    return [label.swapcase() if draw(st.booleans()) else label for label in picked]


class Writer:
    """A message on the wire, its names compressed (or not) against names written before."""

    def __init__(self, header: bytes) -> None:
        self.data = bytearray(header)
        self.seen: dict[tuple[bytes, ...], int] = {}

    def name(self, labels: list[bytes], compress: bool) -> None:
        for i in range(len(labels)):
            suffix = tuple(labels[i:])
            if compress and suffix in self.seen:
                self.data += struct.pack("!H", 0xC000 | self.seen[suffix])
                return
            if len(self.data) < 0x3FFF:
                self.seen.setdefault(suffix, len(self.data))
            self.data += bytes([len(labels[i])]) + labels[i]
        self.data += b"\x00"

    def record(
        self, owner: list[bytes], rtype: int, rclass: int, ttl: int, rdata: object, compress: bool
    ) -> None:
        self.name(owner, compress)
        self.data += struct.pack("!HHI", rtype, rclass, ttl)
        at = len(self.data)
        self.data += b"\x00\x00"
        if isinstance(rdata, list):
            self.name(rdata, compress)
        elif isinstance(rdata, tuple):  # SOA: two names and five numbers
            self.name(rdata[0], compress)
            self.name(rdata[1], compress)
            self.data += struct.pack("!IIIII", *rdata[2])
        else:
            assert isinstance(rdata, bytes)
            self.data += rdata
        self.data[at : at + 2] = struct.pack("!H", len(self.data) - at - 2)


TTLS = st.sampled_from((0, 1, 60, 300, 2**31 - 1, 2**31, 2**32 - 1))


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    """A reply of the usual shape, or near it: CNAME chains and loops, duplicates, odd case,
    compression or not, other types and classes now and then."""
    pool = [draw(names()) for _ in range(draw(st.integers(1, 4)))]

    def owner() -> list[bytes]:
        base = draw(st.sampled_from(pool))
        return [label.swapcase() if draw(st.booleans()) else label for label in base]

    qname = pool[0]
    qtype = draw(st.sampled_from((A,) * 5 + (AAAA,) * 5 + (HTTPS, TXT)))
    qclass = draw(st.sampled_from((1,) * 19 + (3,)))
    rcode = draw(st.sampled_from((0, 0, 0, 2, 3, 5, 15)))
    flags = 0x8180 | rcode | draw(st.sampled_from((0, 0, 0, 0x0200, 0x0800, 0x0070)))
    kinds = st.sampled_from((A,) * 6 + (AAAA,) * 6 + (CNAME,) * 6 + (TXT, NS, HTTPS))
    answer = draw(
        st.lists(st.tuples(kinds, st.sampled_from((1,) * 28 + (3, 254)), TTLS), max_size=8)
    )
    soa = draw(st.sampled_from((None, SOA, SOA, NS)))
    glue = draw(st.lists(st.tuples(st.sampled_from((A, AAAA, CNAME, TXT)), TTLS), max_size=2))
    opt = draw(st.sampled_from((None, 0, 0, 0x8000, 0x01000000, 0xFF000000)))
    options = draw(st.sampled_from((b"", b"", b"", b"\xfd\xe9\x00\x01x")))
    questions = draw(st.sampled_from((1, 1, 1, 1, 0, 2)))
    compress = draw(st.booleans())
    counts = (questions, len(answer), soa is not None, len(glue) + (opt is not None))
    writer = Writer(struct.pack("!HHHHHH", draw(st.integers(0, 65535)), flags, *counts))
    for _ in range(questions):
        writer.name(qname, compress)
        writer.data += struct.pack("!HH", qtype, qclass)
    for rtype, rclass, ttl in answer:
        if rtype in (CNAME, NS):
            rdata: object = owner()
        elif rtype == TXT:
            rdata = b"\x03abc"
        elif rtype == HTTPS:
            rdata = b"\x00\x01\x00\x00\x01\x00\x03\x02h3"  # 1 . alpn=h3
        else:
            rdata = draw(st.sampled_from(V4 if rtype == A else V6))
            if draw(st.integers(0, 19)) == 0:
                rdata = rdata[:-1]
        writer.record(owner(), rtype, rclass, ttl, rdata, compress)
    if soa is not None:
        rdata = owner() if soa == NS else (owner(), owner(), (2026, 7200, 3600, 1209600, 300))
        writer.record(pool[-1], soa, 1, 300, rdata, compress)
    for rtype, ttl in glue:
        rdata = {A: V4[0], AAAA: V6[1], CNAME: owner(), TXT: b"\x01x"}[rtype]
        writer.record(owner(), rtype, 1, ttl, rdata, compress)
    if opt is not None:
        writer.record([], OPT, 1232, opt, options, compress)
    return bytes(writer.data)


def _seeded_mutations(wire: bytes, seed: int, count: int = 40) -> list[bytes]:
    """``count`` damaged copies: bytes flipped (counts, pointers, lengths), the end cut."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(wire)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(4)
            at = rng.randrange(len(data)) if data else 0
            if kind == 0 and data:
                data[at] = rng.randrange(256)
            elif kind == 1 and data:
                data[at] = data[at] ^ (1 << rng.randrange(8))
            elif kind == 2 and len(data) > 12:
                data[rng.choice((5, 7, 9, 11))] = rng.randrange(4)  # a section count
            else:
                del data[at:]
        out.append(bytes(data))
    return out


@given(wire=replies(), seed=st.integers(0, 2**32))
def test_generated_replies(wire: bytes, seed: int) -> None:
    event("read here" if compare(wire) else "left to dnspython")
    for damaged in _seeded_mutations(wire, seed):
        compare(damaged)


@given(wire=replies().flatmap(mutated))
# A question name that points at itself.
@example(wire=SHAPES["CNAME chain"].to_wire()[:12] + b"\xc0\x0c\x00\x01\x00\x01")
# An A record whose data stops one byte in: the message ends inside it.
@example(wire=bytes.fromhex("0000818000010001000000000161000001000100c00c0001000100000000000400"))
def test_mutated_replies(wire: bytes) -> None:
    event("read here" if compare(wire) else "left to dnspython")


def _header(answers: int) -> bytes:
    return struct.pack("!HHHHHH", 7, 0x8180, 1, answers, 0, 0) + b"\x01a\x00\x00\x01\x00\x01"


def _a_record(owner: bytes, address: bytes = bytes([192, 0, 2, 1])) -> bytes:
    return owner + struct.pack("!HHIH", A, 1, 60, len(address)) + address


def _pointer_chain(hops: int) -> bytes:
    """Records whose owners each point at the one before, the first at the question: the last
    owner takes ``hops`` pointers to read."""
    wire = bytearray(_header(hops))
    before = 12
    for _ in range(hops):
        here = len(wire)
        wire += _a_record(struct.pack("!H", 0xC000 | before))
        before = here
    return bytes(wire)


def test_compression_pointers_as_dnspython_allows_them() -> None:
    assert compare(_pointer_chain(16))
    assert not compare(_pointer_chain(17))  # dnspython stops at 16 pointers in a row
    # A pointer into the record before, whose last byte (1, of 192.0.2.1) reads as a label
    # length running into the name that points there: dnspython refuses that overlap.
    first = _header(2) + _a_record(b"\xc0\x0c")
    overlap = first + _a_record(b"\x03\x00\x00\x00" + struct.pack("!H", 0xC000 | len(first) - 1))
    assert not compare(overlap)
    forward = _header(1) + _a_record(b"\xc0\x30")
    itself = _header(1)[:12] + b"\xc0\x0c\x00\x01\x00\x01"
    assert not compare(forward) and not compare(itself)


def test_names_of_at_most_255_octets() -> None:
    def reply(last: int) -> bytes:
        labels = [b"x" * 63] * 3 + [b"y" * last]
        name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
        header = struct.pack("!HHHHHH", 7, 0x8180, 1, 0, 0, 0)
        return header + name + b"\x00\x01\x00\x01"

    assert compare(reply(61))  # 255 octets with the root's
    assert not compare(reply(62))
