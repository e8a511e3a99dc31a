"""Keep the person running the probe out of the results.

Blockpages and some servers echo the client's address ("your IP is ..."). The probe never looks up
its own public address, so it cannot remove that one string; instead every IP address in stored
text is replaced unless the measurement itself already recorded it (a resolver answer, a server
address), which is evidence and reveals nothing about the probe. Private and carrier-grade NAT
addresses go too: with a timestamp, an ISP can map them back to a subscriber. Only loopback and
unspecified addresses, which name nobody, are kept. Reverse-DNS names that spell an address with
dashes (``95-56-1-20.dsl.example``) are scrubbed the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

# A full stop may end a sentence after an address; only a further digit makes it something else.
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_DASHED = re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?![\d-])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
REDACTED = "[scrubbed]"


def _replace(match: re.Match[str], keep: Collection[str]) -> str:
    text = match.group(0)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if ip.is_loopback or ip.is_unspecified or str(ip) in keep:
        return text
    return REDACTED


def _replace_dashed(match: re.Match[str], keep: Collection[str]) -> str:
    dotted = ".".join(match.groups())
    try:
        ipaddress.ip_address(dotted)
    except ValueError:
        return match.group(0)
    return match.group(0) if dotted in keep else REDACTED


def scrub(text: str, keep: Collection[str] = ()) -> str:
    """``text`` with every public IP address not in ``keep`` replaced by ``[scrubbed]``."""
    if not any(ch.isdigit() for ch in text):
        return text
    text = _IPV4.sub(lambda m: _replace(m, keep), text)
    text = _DASHED.sub(lambda m: _replace_dashed(m, keep), text)
    if ":" in text:
        text = _IPV6.sub(lambda m: _replace(m, keep), text)
    return text


def redact_address(address: str | None) -> str | None:
    """A bound source address as it may appear in output: only loopback (a lab) is shown."""
    if address is None:
        return None
    return address if ipaddress.ip_address(address).is_loopback else "redacted"
