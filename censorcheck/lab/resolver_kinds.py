"""The resolver lab's table: one row per kind of resolver a DNS scan meets, honest or not.

Each row says what a resolver of that kind answers for each class of name, and the verdict a
correct ``dns-scan`` reaches for each. The lab serves from this table and the tests and the
benchmark check every (resolver, domain) verdict against it. Adding a kind is adding a row.

Classes of name: the probe domain (``probe``); target names on the censor's list (``listed``);
the other target names (``other``); a target name that exists for no one (``gone``); and any
other name (``nonexistent``), such as the random one the scan asks to catch hijackers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from censorcheck.scan.models import ResolverState

NameClass = Literal["probe", "listed", "other", "gone", "nonexistent"]
Behaviour = Literal[
    "honest",  # the zone's truth: the web host's address, or NXDOMAIN
    "nxdomain",  # NXDOMAIN
    "refused",  # REFUSED
    "servfail",  # SERVFAIL
    "zero",  # A 0.0.0.0
    "private",  # A 10.10.34.35, a private address (as Iran's resolvers answer)
    "blockpage",  # the blockpage host, whose certificate is for another name
    "silence",  # no reply at all
    "ad",  # the ad server's address (a hijacker's answer to anything)
    "edge",  # a CDN edge of the site: another address, with a valid certificate
    "sibling",  # another address in the web host's autonomous system, where nothing listens
    "truncate",  # over UDP an empty reply with TC set; over TCP the truth
]


@dataclass(frozen=True)
class Expect:
    """The verdict a correct scan reaches for one (resolver, name)."""

    status: Literal["accessible", "blocked", "down", "inconclusive"]
    outcome: str


ACCESSIBLE = Expect("accessible", "accessible")
GONE = Expect("down", "dns.nxdomain")


@dataclass(frozen=True)
class Kind:
    """One row: how resolvers of this kind answer, and the verdicts they must get."""

    name: str
    count: int  # resolvers of this kind in the default lab
    listed: Behaviour
    expect_listed: Expect
    other: Behaviour = "honest"
    gone: Behaviour = "honest"
    nonexistent: Behaviour = "honest"
    probe: Behaviour = "honest"
    expect_other: Expect = ACCESSIBLE
    expect_gone: Expect = GONE
    # For listed names when the scan has no ASN database, where that changes the verdict.
    expect_listed_without_asn: Expect | None = None
    status: ResolverState = "ok"  # what the scan's profile must make of the resolver
    description: str = ""

    def behaviour(self, name_class: NameClass) -> Behaviour:
        if name_class == "listed":
            return self.listed
        if name_class == "other":
            return self.other
        if name_class == "probe":
            return self.probe
        if name_class == "gone":
            return self.gone
        return self.nonexistent

    def expected(self, name_class: Literal["listed", "other", "gone"], asn_db: bool) -> Expect:
        if name_class == "listed":
            if not asn_db and self.expect_listed_without_asn is not None:
                return self.expect_listed_without_asn
            return self.expect_listed
        return self.expect_other if name_class == "other" else self.expect_gone


def _untrusted(
    name: str, count: int, behaviour: Behaviour, status: ResolverState, description: str
) -> Kind:
    """A resolver whose every answer is set aside: all its verdicts are the same."""
    expect = Expect("inconclusive", f"resolver.{status}")
    return Kind(
        name=name,
        count=count,
        listed=behaviour,
        other=behaviour,
        gone=behaviour,
        nonexistent=behaviour,
        probe=behaviour,
        expect_listed=expect,
        expect_other=expect,
        expect_gone=expect,
        status=status,
        description=description,
    )


def _blocked(outcome: str) -> Expect:
    return Expect("blocked", outcome)


HIJACKED = Expect("inconclusive", "resolver.answers_everything")

KINDS: tuple[Kind, ...] = (
    Kind("honest", 12, "honest", ACCESSIBLE, description="tells the truth"),
    Kind(
        "truncating",
        2,
        "truncate",
        ACCESSIBLE,
        other="truncate",
        gone="truncate",
        nonexistent="truncate",
        probe="truncate",
        description="truthful, but every UDP reply is truncated: the scan must ask again by TCP",
    ),
    Kind("nxdomain", 5, "nxdomain", _blocked("dns.nxdomain"), description="denies listed names"),
    Kind("refused", 3, "refused", _blocked("dns.refused"), description="refuses listed names"),
    Kind("servfail", 2, "servfail", _blocked("dns.servfail"), description="fails listed names"),
    Kind("zero", 2, "zero", _blocked("dns.bogon"), description="answers 0.0.0.0"),
    Kind("private", 2, "private", _blocked("dns.bogon"), description="answers a private address"),
    Kind(
        "blockpage",
        5,
        "blockpage",
        _blocked("dns.inconsistent"),
        description="points listed names at a blockpage whose certificate is not theirs",
    ),
    Kind(
        "silent",
        4,
        "silence",
        _blocked("dns.timeout"),
        description="never answers for listed names, answers the rest",
    ),
    _untrusted("unresponsive", 3, "silence", "unresponsive", "answers nothing at all"),
    _untrusted("closed", 2, "refused", "failed_control", "refuses everyone (not an open resolver)"),
    _untrusted("hijacker", 2, "ad", "failed_control", "answers the ad server for every name"),
    Kind(
        "nx-hijacker",
        2,
        "honest",
        ACCESSIBLE,
        gone="ad",
        nonexistent="ad",
        expect_gone=HIJACKED,
        status="answers_everything",
        description="answers names that do not exist with its ad server (NXDOMAIN hijacking)",
    ),
    Kind(
        "blanket",
        2,
        "ad",
        HIJACKED,
        other="ad",
        gone="ad",
        expect_other=HIJACKED,
        expect_gone=HIJACKED,
        status="answers_everything",
        description="one address for every target name, but right for the probe domain and "
        "NXDOMAIN for random names: caught only by the share of domains it gives it for",
    ),
    Kind(
        "cdn",
        3,
        "edge",
        ACCESSIBLE,
        description="another edge of the site for listed names, with a valid certificate",
    ),
    Kind(
        "sibling",
        2,
        "sibling",
        ACCESSIBLE,
        expect_listed_without_asn=Expect("inconclusive", "dns.inconsistent"),
        description="another address in the site's autonomous system, where nothing listens: "
        "accessible by ASN, inconclusive without an ASN database",
    ),
)
BY_NAME = {kind.name: kind for kind in KINDS}


def scaled(total: int) -> list[Kind]:
    """The table with counts scaled to ``total`` resolvers, at least one of each kind."""
    if total < len(KINDS):
        raise ValueError(f"at least {len(KINDS)} resolvers: one of each kind")
    default = sum(kind.count for kind in KINDS)
    counts = [max(1, round(kind.count * total / default)) for kind in KINDS]
    while sum(counts) > total:  # rounding up: take from the most numerous
        counts[counts.index(max(counts))] -= 1
    counts[0] += total - sum(counts)  # rounding down: the honest kind takes the rest
    return [replace(kind, count=n) for kind, n in zip(KINDS, counts, strict=True)]
