"""Reading a DNS reply of the usual shape straight from the wire, with dnspython's meaning.

dnspython builds an object for every name, record and set of a message; on the bench profile its
``from_wire`` was the largest single cost of a DNS lookup. Most replies the probe gets have one
shape: the question (A, AAAA, or HTTPS for a name without such a record), A, AAAA or CNAME
records in the answer, perhaps an SOA or NS records in the authority section and addresses as
glue, and an OPT record without options. :meth:`Reply.of_wire` reads those here and keeps what
:func:`censorcheck.measure.probes.dns.read_answer` takes from a message: the rcode, the CNAME
chain from the question's name, the addresses of the names on it and the smallest of their TTLs.

It follows dnspython where that decides what a reply says: names compared without regard to
(ASCII) case, records of one name and type merged into one set with the smallest TTL, a repeated
address kept once, the last of several CNAMEs of a name kept; and where it decides whether a
reply is read at all: compression pointers that point back, at most 16 of them, into a part
ending before the pointer; names of at most 255 octets; record data of exactly its length; one
OPT record, at the root, in the additional section; no trailing bytes. Anything else (another
record type or class, an HTTPS record, EDNS options, a question of another type) is left to
dnspython, which reads it or finds it malformed as before: a reply read here is one dnspython
reads alike (tests/dns/test_dns_reply.py compares the two on generated and mutated replies).
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass

import dns.ipv4
import dns.ipv6
import dns.message
import dns.rcode

_A, _NS, _CNAME, _SOA, _AAAA, _OPT, _HTTPS = 1, 2, 5, 6, 28, 41, 65
_IN = 1
_MAX_CHAIN = 16  # as read_answer
_MAX_POINTERS = 16  # dnspython's MAX_COMPRESSION_POINTER_CHAIN
_MAX_NAME = 255  # octets, the root's length byte included
_ADDRESS_LENGTH = {_A: 4, _AAAA: 16}
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QUESTION = struct.Struct("!HH")
# Labels dnspython writes as they are in a name's text (printable ASCII but for what it escapes).
_PLAIN = re.compile(rb"[\x21-\x7e]*").fullmatch
_ESCAPED = frozenset(b'"().;\\@$')


class _Unsure(Exception):
    """Not a reply this module is sure to read as dnspython does."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What read_answer takes from a reply besides its rcode; nothing from a ``bare`` one (no
    question)."""

    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    ttl: int | None = None
    bare: bool = False


class Reply:
    """A DNS reply: read here when it has the usual shape (``reading``), else by dnspython.

    ``message`` is dnspython's reading of the same bytes, parsed on first use when this module
    read the reply, for the few callers that need every record.
    """

    __slots__ = ("_message", "_rcode", "flags", "reading", "wire")

    def __init__(
        self,
        wire: bytes,
        flags: int,
        rcode: int,
        reading: Reading | None,
        message: dns.message.Message | None = None,
    ) -> None:
        self.wire = wire
        self.flags = flags
        self._rcode = rcode
        self.reading = reading
        self._message = message

    @classmethod
    def of_wire(cls, wire: bytes) -> Reply:
        """The reply in ``wire``; dnspython's DNSException when it finds the message malformed."""
        fast = read_reply(wire)
        if fast is not None:
            return fast
        message = dns.message.from_wire(wire)
        return cls(wire, int(message.flags), int(message.rcode()), None, message)

    def rcode(self) -> int:
        """The rcode with EDNS's extended bits, as Message.rcode()."""
        return self._rcode

    @property
    def message(self) -> dns.message.Message:
        if self._message is None:
            self._message = dns.message.from_wire(self.wire)
        return self._message


@functools.cache
def rcode_text(value: int) -> str:
    """dns.rcode.to_text, remembered: the same few values come back all the time."""
    return dns.rcode.to_text(value)  # type: ignore[arg-type]  # it takes any int in range


def _name(wire: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """The name at ``pos`` as uncompressed labels (each after its length byte, without the
    root's), and the offset after it in place; read no further than ``end``.

    dnspython's dns.name.from_wire_parser, step for step: a pointer must point before the start
    of the name and before every earlier pointer, at most 16 of them, and what it points to must
    end before the part of the name that pointed to it.
    """
    parts: list[bytes] = []
    start = biggest = pos
    after = -1
    hops = 0
    while True:
        if pos >= end:
            raise _Unsure
        count = wire[pos]
        if count == 0:
            pos += 1
            break
        if count < 64:
            following = pos + 1 + count
            if following > end:
                raise _Unsure
            parts.append(wire[pos:following])
            pos = following
        elif count >= 192:
            if pos + 1 >= end:
                raise _Unsure
            target = ((count & 0x3F) << 8) | wire[pos + 1]
            if after < 0:
                after = pos + 2
            if target >= biggest:
                raise _Unsure
            biggest = target
            hops += 1
            if hops > _MAX_POINTERS:
                raise _Unsure
            end = start  # the part pointed to must end before this one starts
            pos = start = target
        else:
            raise _Unsure
    name = b"".join(parts)
    if len(name) + 1 > _MAX_NAME:
        raise _Unsure
    return name, pos if after < 0 else after


def _text(name: bytes) -> str:
    """The name as Name.to_text(omit_final_dot=True) writes it, for labels it writes as they
    are."""
    if not name:
        return "."
    labels = []
    pos = 0
    while pos < len(name):
        label = name[pos + 1 : pos + 1 + name[pos]]
        if not _PLAIN(label) or not _ESCAPED.isdisjoint(label):
            raise _Unsure
        labels.append(label)
        pos += 1 + name[pos]
    return b".".join(labels).decode("ascii")


def read_reply(wire: bytes) -> Reply | None:
    """The reply in ``wire`` read here, when it has the usual shape and dnspython would read it
    alike; None when dnspython must decide (it may also find the message malformed)."""
    try:
        return _read(wire)
    except _Unsure:
        return None


def _read(wire: bytes) -> Reply:
    size = len(wire)
    if size < 12:
        raise _Unsure
    _, flags, questions, answers, authority, additional = _HEADER.unpack_from(wire)
    if flags & 0x7800 or questions > 1:  # only QUERY replies with at most one question
        raise _Unsure
    pos = 12
    qname = b""
    qtype = 0
    if questions:
        qname, pos = _name(wire, pos, size)
        if pos + 4 > size:
            raise _Unsure
        qtype, qclass = _QUESTION.unpack_from(wire, pos)
        pos += 4
        if qclass != _IN or qtype not in (_A, _AAAA, _HTTPS):
            raise _Unsure
    # The answer's sets, keyed by folded owner and type: [smallest TTL, data], first seen first.
    sets: dict[tuple[bytes, int], list[object]] = {}
    edns: int | None = None
    for section, count in ((1, answers), (2, authority), (3, additional)):
        for _ in range(count):
            owner, pos = _name(wire, pos, size)
            if pos + 10 > size:
                raise _Unsure
            rtype, rclass, ttl, length = _RR.unpack_from(wire, pos)
            start = pos + 10
            pos = start + length
            if pos > size:
                raise _Unsure
            if rtype == _OPT and section == 3 and not owner and not length and edns is None:
                edns = ttl  # its TTL carries the rcode's upper bits; the payload size is its class
                continue
            if rclass != _IN:
                raise _Unsure
            # Outside the answer, and of types read_answer passes over, records are only
            # checked to be ones dnspython reads: NS and SOA in authority, glue in additional.
            if _ADDRESS_LENGTH.get(rtype) == length:
                data: object = wire[start:pos]
            elif rtype in (_CNAME, _NS):
                data, after = _name(wire, start, pos)
                if after != pos:
                    raise _Unsure
            elif rtype == _SOA:
                _, after = _name(wire, start, pos)
                _, after = _name(wire, after, pos)
                if after + 20 != pos:
                    raise _Unsure
                continue
            else:
                raise _Unsure
            if section != 1 or rtype == _NS:
                continue
            _add(sets, owner.lower(), rtype, 0 if ttl > 0x7FFFFFFF else ttl, data)
    if pos != size:
        raise _Unsure  # trailing bytes: dnspython refuses them
    rcode = (flags & 0xF) | ((edns or 0) >> 20 & 0xFF0)
    if not questions:
        return Reply(wire, flags, rcode, Reading(bare=True))
    return Reply(wire, flags, rcode, _reading(qname, qtype, sets))


def _add(
    sets: dict[tuple[bytes, int], list[object]], owner: bytes, rtype: int, ttl: int, data: object
) -> None:
    """One record into its set, as Rdataset.add: TTL lowered first, then a CNAME set emptied
    (it holds one record, the last), then the data added unless already there."""
    entry = sets.get((owner, rtype))
    if entry is None:
        sets[(owner, rtype)] = [ttl, data]
        return
    if ttl < entry[0]:  # type: ignore[operator]
        entry[0] = ttl
    if rtype == _CNAME:
        entry[1:] = [data]
    elif data not in entry[1:]:
        entry.append(data)


def _reading(qname: bytes, qtype: int, sets: dict[tuple[bytes, int], list[object]]) -> Reading:
    """read_answer's reading: the CNAME chain from the question's name, then the addresses of
    the asked type of the names on it."""
    chain = [qname.lower()]
    cnames: list[str] = []
    while len(chain) <= _MAX_CHAIN:
        entry = sets.get((chain[-1], _CNAME))
        if entry is None:
            break
        target = entry[1]
        assert isinstance(target, bytes)
        folded = target.lower()
        if folded in chain:  # a loop
            break
        chain.append(folded)
        cnames.append(_text(target))
    addresses: list[str] = []
    ttls: list[int] = []
    on_chain = set(chain)
    convert = dns.ipv4.inet_ntoa if qtype == _A else dns.ipv6.inet_ntoa
    for (owner, rtype), entry in sets.items():
        if rtype == qtype and owner in on_chain:
            addresses += [convert(data) for data in entry[1:]]  # type: ignore[arg-type]
            ttls.append(entry[0])  # type: ignore[arg-type]
    return Reading(tuple(addresses), tuple(cnames), min(ttls) if ttls else None)
