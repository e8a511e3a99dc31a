"""The dial guard's address table: every IPv4-in-IPv6 form is judged by the IPv4 address it
carries, and the IPv6 ranges no public site has are refused (IANA special-purpose registry)."""

from __future__ import annotations

import ipaddress

import pytest

from censorcheck.measure.bogons import embedded_ipv4, forbidden, is_ip

# (address, why it is refused by default or None, refused even with allow_private)
ROWS = [
    # IPv4-in-IPv6, wrapping loopback: each form must be seen through
    ("::ffff:127.0.0.1", "loopback", True),  # mapped ::ffff:0:0/96
    ("::127.0.0.1", "loopback", True),  # compatible ::/96 (deprecated)
    ("::ffff:0:127.0.0.1", "loopback", True),  # translated ::ffff:0:0:0/96
    ("64:ff9b::7f00:1", "loopback", False),  # NAT64 well-known prefix
    ("64:ff9b::a9fe:a9fe", "link-local", False),  # NAT64 to cloud metadata
    ("64:ff9b:1::7f00:1", "local-use IPv4/IPv6 translation", False),  # NAT64 local-use
    ("2002:7f00:1::", "loopback", False),  # 6to4
    ("2002:a00:1::1", "private", False),  # 6to4 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", False),  # Teredo, client XORed
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", False),  # Teredo to 10.0.0.1
    # the same forms wrapping a public address
    ("64:ff9b::808:808", None, False),
    ("2002:808:808::1", None, False),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", None, False),  # Teredo to 8.8.8.8
    ("::8.8.8.8", "reserved", True),  # no site is addressed in these forms
    ("::ffff:8.8.8.8", "reserved", True),
    ("::ffff:0:8.8.8.8", "reserved", True),
    # IPv6 ranges of its own
    ("::1", "loopback", False),
    ("::", "unspecified", True),
    ("fe80::1", "link-local", False),
    ("fc00::1", "unique local", False),
    ("fd12:3456::1", "unique local", False),
    ("fec0::1", "site-local", False),
    ("2001:db8::1", "documentation", False),
    ("3fff::1", "documentation", False),
    ("100::1", "discard-only", False),
    ("2001:2::1", "benchmarking", False),
    ("2001:10::1", "ORCHID", False),
    ("5f00::1", "SRv6", False),
    ("2001:5::1", "IETF protocol assignment", False),
    ("4000::1", "outside the global unicast space", True),
    ("e000::1", "outside the global unicast space", True),
    ("ff02::1", "multicast", True),
    # globally reachable
    ("2001:4860:4860::8888", None, False),
    ("2a00:1450:4001::1", None, False),
    ("2001:3::1", None, False),  # AMT, globally reachable by IANA
    ("2620:4f:8000::1", None, False),  # AS112
    ("8.8.8.8", None, False),
    ("127.0.0.1", "loopback", False),
    ("240.0.0.1", "reserved", True),
]


@pytest.mark.parametrize(("address", "why", "always"), ROWS)
def test_guard_table(address: str, why: str | None, always: bool) -> None:
    reason = forbidden(address)
    if why is None:
        assert reason is None, address
    else:
        assert reason is not None and why in reason, (address, reason)
    assert (forbidden(address, allow_private=True) is not None) is always, address


@pytest.mark.parametrize(
    ("wrapped", "inner"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::192.0.2.1", "192.0.2.1"),
        ("::ffff:0:192.0.2.1", "192.0.2.1"),
        ("64:ff9b::192.0.2.1", "192.0.2.1"),
        ("2002:c000:201::", "192.0.2.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdfe", "192.0.2.1"),
        ("::1", None),  # loopback, not 0.0.0.1
        ("::", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_embedded_ipv4(wrapped: str, inner: str | None) -> None:
    found = embedded_ipv4(ipaddress.ip_address(wrapped))
    assert found == (ipaddress.ip_address(inner) if inner else None)


@pytest.mark.parametrize(
    "text",
    [
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "::",
        "example.com",
        "host-1",
        "10.0.0.1.nip.io",
        "xn--80ak6aa92e.com",
        "1.2.3",
        "1.2.3.4.",
        "256.1.1.1",
        "",
        "fe80::1%eth0",
        "١٢٣",  # Arabic-Indic digits: digits to str.isdigit, not to an address parser
    ],
)
def test_is_ip_says_what_the_address_parser_says(text: str) -> None:
    try:
        ipaddress.ip_address(text)
        parses = True
    except ValueError:
        parses = False
    assert is_ip(text) is parses
