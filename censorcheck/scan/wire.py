"""Reading a DNS reply to an A question straight from the wire, for the scan's hot path.

dnspython builds a whole object tree for each message, which costs more than everything else a
query needs together. A scan needs only the header, and the A records and CNAMEs of the answer
section; this reads those and nothing else, with the same meaning as
:func:`censorcheck.measure.probes.dns.read_answer`: the CNAME chain from the question's name, and
the A records of the names on that chain. Anything malformed in what it reads is a ValueError.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import dns.rcode

TC = 0x0200
_TYPE_A, _TYPE_CNAME, _CLASS_IN = 1, 5, 1
_MAX_CHAIN = 16
_MAX_POINTERS = 64
RCODES = {int(code): dns.rcode.to_text(code) for code in dns.rcode.Rcode}


@dataclass(frozen=True)
class Parsed:
    rcode: int
    truncated: bool
    addresses: list[str]
    cnames: list[str]


def _name(wire: bytes, offset: int) -> tuple[bytes, int]:
    """The name at ``offset``, lower case, labels joined by '.'; and the offset after it."""
    labels: list[bytes] = []
    end = -1  # where the name ends in place, once a pointer has been followed
    jumps = 0
    while True:
        if offset >= len(wire):
            raise ValueError("name runs past the end of the message")
        length = wire[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(wire):
                raise ValueError("truncated compression pointer")
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise ValueError("compression loop")
            if end < 0:
                end = offset + 2
            offset = (length & 0x3F) << 8 | wire[offset + 1]
            continue
        if length & 0xC0:
            raise ValueError("unknown label type")
        labels.append(wire[offset + 1 : offset + 1 + length].lower())
        offset += 1 + length
    return b".".join(labels), end if end >= 0 else offset


def parse_reply(wire: bytes) -> Parsed:
    """The rcode, the TC flag, and the A records along the CNAME chain of a reply."""
    if len(wire) < 12:
        raise ValueError("shorter than a DNS header")
    flags = wire[2] << 8 | wire[3]
    questions = wire[4] << 8 | wire[5]
    answers = wire[6] << 8 | wire[7]
    offset = 12
    qname = b""
    for i in range(questions):
        name, offset = _name(wire, offset)
        if i == 0:
            qname = name
        offset += 4
    a_records: list[tuple[bytes, str]] = []  # (owner, address)
    cname_records: dict[bytes, bytes] = {}  # owner -> target; the first one counts
    for _ in range(answers):
        owner, offset = _name(wire, offset)
        if offset + 10 > len(wire):
            raise ValueError("record header runs past the end of the message")
        rtype = wire[offset] << 8 | wire[offset + 1]
        rclass = wire[offset + 2] << 8 | wire[offset + 3]
        size = wire[offset + 8] << 8 | wire[offset + 9]
        start, offset = offset + 10, offset + 10 + size
        if offset > len(wire):
            raise ValueError("record data runs past the end of the message")
        if rclass != _CLASS_IN:
            continue
        if rtype == _TYPE_A:
            if size != 4:
                raise ValueError("an A record that is not 4 bytes")
            a_records.append((owner, socket.inet_ntoa(wire[start:offset])))
        elif rtype == _TYPE_CNAME:
            cname_records.setdefault(owner, _name(wire, start)[0])
    chain = [qname]
    while len(chain) <= _MAX_CHAIN:
        target = cname_records.get(chain[-1])
        if target is None or target in chain:  # the end of the chain, or a loop
            break
        chain.append(target)
    on_chain = set(chain)
    return Parsed(
        rcode=flags & 0x000F,
        truncated=bool(flags & TC),
        addresses=[address for owner, address in a_records if owner in on_chain],
        cnames=[name.decode("ascii", "replace") for name in chain[1:]],
    )
