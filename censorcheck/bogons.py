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
