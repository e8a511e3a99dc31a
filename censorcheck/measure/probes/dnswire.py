"""DNS queries as wire bytes, and the check that a datagram answers one.

dnspython builds a query through several layers of objects (names, rdatasets, an OPT record),
which in the bench profile cost more CPU than parsing the replies. A query for a host name is a
fixed 12-byte header, the labels, and one OPT record, so it is written here directly; a name the
fast path does not cover (escapes, non-ASCII) still goes through dnspython, whose bytes are the
same (tests/dns/test_dns_wire.py compares the two).

The reply check runs on the raw bytes, before any parsing: junk and replies to other questions
are counted and dropped without building a message for them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import dns.message
import dns.rdatatype

EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 size: no IP fragmentation on any common path

_HEADER_FLAGS = b"\x01\x00"  # RD set, opcode QUERY
_COUNTS = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # one question, one additional (the OPT record)
_OPT = b"\x00\x00\x29" + EDNS_PAYLOAD.to_bytes(2, "big") + b"\x00\x00\x00\x00\x00\x00"
_CLASS_IN = b"\x00\x01"
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
_MAX_NAME = 255  # octets on the wire, the root's length byte included (RFC 1035 3.1)
# A reply to these may leave its question section empty (RFC 6891 7; dnspython accepts it too).
_BARE_RCODES = frozenset({1, 2, 4, 5})  # FORMERR, SERVFAIL, NOTIMP, REFUSED


def _random_id() -> int:
    return int.from_bytes(os.urandom(2), "big")


def _fast_name(hostname: str) -> bytes | None:
    """The wire form of a plain ASCII host name; None when dnspython must do it."""
    labels = hostname[:-1].split(".") if hostname.endswith(".") else hostname.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    wire = b"".join(len(label).to_bytes(1, "big") + label.encode() for label in labels) + b"\0"
    return wire if len(wire) <= _MAX_NAME else None


@dataclass(frozen=True, slots=True)
class Query:
    """One query: its bytes, and the question section a reply must echo."""

    wire: bytes
    question: bytes  # name (lower case), type and class, as in the query

    @staticmethod
    def _folded(question: bytes) -> bytes:
        # Case folds in the name only: a type or class byte may fall in b"A".."Z" too.
        return question[:-4].lower() + question[-4:]

    @property
    def id(self) -> int:
        return int.from_bytes(self.wire[:2], "big")

    @classmethod
    def build(cls, hostname: str, qtype: str, *, query_id: int | None = None) -> Query:
        """A recursive query with EDNS0 for ``hostname``.

        ValueError or a dns.exception.DNSException when the name cannot be put in a query.
        """
        qid = _random_id() if query_id is None else query_id
        name = _fast_name(hostname)
        if name is None:
            message = dns.message.make_query(hostname, qtype, use_edns=0, payload=EDNS_PAYLOAD)
            message.id = qid
            return cls.of_wire(message.to_wire())
        question = name + dns.rdatatype.from_text(qtype).to_bytes(2, "big") + _CLASS_IN
        wire = qid.to_bytes(2, "big") + _HEADER_FLAGS + _COUNTS + question + _OPT
        return cls(wire, cls._folded(question))

    @classmethod
    def of_wire(cls, wire: bytes) -> Query:
        """A query already in wire form (one question, names uncompressed, as we write them)."""
        end = 12
        while wire[end]:
            end += wire[end] + 1
        return cls(wire, cls._folded(wire[12 : end + 5]))  # the root byte, type and class

    def with_id(self, query_id: int) -> Query:
        return Query(query_id.to_bytes(2, "big") + self.wire[2:], self.question)

    def answered_by(self, data: bytes) -> bool:
        """Whether ``data`` is a reply to this query: same ID, QR set, same opcode, and the
        same question (names compared without regard to case, as 0x20 randomisation needs)."""
        if len(data) < 12 or data[:2] != self.wire[:2] or not data[2] & 0x80:
            return False
        if (data[2] >> 3) & 0xF != (self.wire[2] >> 3) & 0xF:
            return False
        count = int.from_bytes(data[4:6], "big")
        if count == 0:
            return data[3] & 0xF in _BARE_RCODES
        end = 12 + len(self.question)
        return count == 1 and self._folded(data[12:end]) == self.question
