"""Which addresses no public site can have."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_bogon(ip: IPAddress | str, public: Iterable[IPNetwork] = ()) -> bool:
    """True for private, loopback, unspecified, reserved and multicast addresses.

    ``public`` lists networks to count as routable anyway: the lab lives on loopback.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if any(ip in net for net in public):
        return False
    return not ip.is_global or ip.is_multicast


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address literal (no brackets)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: a gateway turns them back into
# that IPv4 address, which must be judged instead (NAT64 well-known and local-use prefixes).
_NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.version == 4:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden(ip: IPAddress | str, allow_private: bool = False) -> str | None:
    """Why a server acting for others must not connect to ``ip``, or None when it may.

    Unspecified, multicast and reserved (240.0.0.0/4) addresses are never a web site. Without
    ``allow_private`` neither is anything that is not globally routable: loopback, private,
    link-local (cloud metadata at 169.254.169.254), shared (CGNAT) and documentation ranges,
    including when an IPv6 address only wraps one of them.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    inner = embedded_ipv4(ip)
    for candidate in (inner, ip) if inner is not None else (ip,):
        if candidate.is_unspecified or candidate.is_multicast:
            return "forbidden address: unspecified or multicast"
        if candidate.version == 4 and candidate.is_reserved:  # 240.0.0.0/4 and broadcast
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
