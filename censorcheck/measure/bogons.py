"""Which addresses no public site can have."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16384)
def parse_ip(text: str) -> IPAddress:
    """``ipaddress.ip_address(text)``, remembered: a target's addresses are parsed again at
    every layer and in every model that holds one (about twenty times a target), and parsing
    is pure Python. ValueError for what is not an address."""
    return ipaddress.ip_address(text)


def is_bogon(ip: IPAddress | str, public: Iterable[IPNetwork] = ()) -> bool:
    """True for private, loopback, unspecified, reserved and multicast addresses.

    ``public`` lists networks to count as routable anyway: the lab lives on loopback.
    """
    if isinstance(ip, str):
        ip = parse_ip(ip)
    if any(ip in net for net in public):
        return False
    return not ip.is_global or ip.is_multicast


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address literal (no brackets)."""
    # Most calls are for host names: an IPv4 literal ends in a digit and an IPv6 one has a colon.
    if not text or (":" not in text and not text[-1].isdigit()):
        return False
    try:
        parse_ip(text)
    except ValueError:
        return False
    return True


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _v6(*cidrs: str) -> tuple[ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.IPv6Network(c) for c in cidrs)


# IPv6 forms whose last 32 bits are an IPv4 address that a kernel or a gateway dials instead:
# IPv4-mapped, IPv4-compatible (deprecated), IPv4-translated (SIIT) and NAT64's well-known prefix.
# 6to4 and Teredo carry theirs elsewhere (``sixtofour``, ``teredo``).
_HOST_FORMS = _v6("::ffff:0:0/96", "::/96", "::ffff:0:0:0/96")  # no site is addressed so
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # a gateway's: the IPv4 inside is what is dialled
_LAST_32_BITS = (*_HOST_FORMS, _NAT64)
# Only this part of the IPv6 space is global unicast; IANA reserves most of the rest.
_GLOBAL_UNICAST = _v6("2000::/3")
# Ranges no public site has, in the order a reason is looked up (IANA's IPv6 special-purpose
# registry, entries that are not globally reachable, and the deprecated site-local range).
_IPV6_NOT_GLOBAL = (
    (_v6("::1/128"), "loopback"),
    (_v6("fe80::/10"), "link-local"),
    (_v6("fc00::/7", "fec0::/10"), "private (unique local or site-local)"),
    (_v6("2001:db8::/32", "3fff::/20"), "documentation"),
    (_v6("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"),
    (_v6("100::/64", "100:0:0:1::/64"), "discard-only or dummy prefix"),
    (_v6("2001:2::/48", "2001:10::/28", "5f00::/16"), "benchmarking, ORCHID or SRv6"),
)
# 2001::/23 is IETF protocol assignments, not reachable except for these (IANA marks them
# globally reachable; Teredo is judged by the IPv4 address it carries).
_IETF = _v6("2001::/23")
_IETF_GLOBAL = _v6(
    "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32",
    "2001:4:112::/48", "2001:20::/28", "2001:30::/28",
)  # fmt: skip


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, translated, NAT64,
    6to4, Teredo), if any. ``::`` and ``::1`` stand for themselves."""
    if ip.version == 4:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if int(ip) > 1 and any(ip in net for net in _LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address, its XOR undone
    return None


def _ipv6_reason(ip: ipaddress.IPv6Address, allow_private: bool) -> str | None:
    for nets, what in _IPV6_NOT_GLOBAL:
        if any(ip in net for net in nets):
            return None if allow_private else f"forbidden address: {what}"
    if any(ip in net for net in _HOST_FORMS):  # the IPv4 inside passed; the form itself not
        return "forbidden address: reserved (an IPv4 address in an IPv6 form no site uses)"
    if ip not in _NAT64 and not any(ip in net for net in _GLOBAL_UNICAST):
        return "forbidden address: reserved (outside the global unicast space)"
    if ip in _IETF[0] and not any(ip in net for net in _IETF_GLOBAL) and not allow_private:
        return "forbidden address: IETF protocol assignment"
    return None


def forbidden(ip: IPAddress | str, allow_private: bool = False) -> str | None:
    """Why a server acting for others must not connect to ``ip``, or None when it may.

    Unspecified, multicast and reserved addresses (240.0.0.0/4, and IPv6 outside the global
    unicast space) are never a web site. Without ``allow_private`` neither is anything that is
    not globally routable: loopback, private, link-local (cloud metadata at 169.254.169.254),
    shared (CGNAT), documentation and the other special-purpose ranges. An IPv6 address that
    carries an IPv4 address is judged by that address as well as by its own range.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    inner = embedded_ipv4(ip)
    for candidate in (inner, ip) if inner is not None else (ip,):
        if candidate.is_unspecified or candidate.is_multicast:
            return "forbidden address: unspecified or multicast"
        if isinstance(candidate, ipaddress.IPv6Address):
            if (why := _ipv6_reason(candidate, allow_private)) is not None:
                return why
            continue
        if candidate.is_reserved:  # 240.0.0.0/4 and broadcast
            return "forbidden address: reserved"
        if allow_private:
            continue
        if candidate.is_loopback:
            return "forbidden address: loopback"
        if candidate.is_link_local:
            return "forbidden address: link-local (cloud metadata lives here)"
        if not candidate.is_global:
            return "forbidden address: private or reserved"
    return None
