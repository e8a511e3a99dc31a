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
# The same two patterns for ASCII text, where \d is [0-9], written to start with a digit: a
# pattern that opens with a look-behind is tried at every position of the text, one opening with
# a character class lets the engine skip to the next digit. Bodies are mostly ASCII, and the
# scrubber ran over every body at a tenth of a millisecond per kilobyte.
_ASCII_IPV4 = re.compile(
    r"[0-9](?<![0-9.][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?![0-9]|\.[0-9])"
)
_ASCII_DASHED = re.compile(
    r"([0-9](?<![0-9-][0-9])[0-9]{0,2})-([0-9]{1,3})-([0-9]{1,3})-([0-9]{1,3})(?![0-9-])"
)
_ASCII_DIGIT = re.compile(r"[0-9]")
# A match of _IPV6 is a whole run of hex digits and colons (the look-arounds see to that) which
# holds two colons with at most four hex digits between them: found from those colons, the few
# runs that may be addresses are checked alone instead of trying the pattern everywhere.
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6_RUN = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}")
_HEX_OR_COLON = frozenset("0123456789ABCDEFabcdef:")
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
    if text.isascii():
        if _ASCII_DIGIT.search(text) is None:
            # No IPv4 without a digit; an IPv6 address can be all letters (dead:beef::cafe).
            return _scrub_ipv6(text, keep) if ":" in text else text
        ipv4, dashed = _ASCII_IPV4, _ASCII_DASHED
    else:
        if not any(ch.isdigit() for ch in text):
            return _scrub_ipv6(text, keep) if ":" in text else text
        ipv4, dashed = _IPV4, _DASHED
    text = ipv4.sub(lambda m: _replace(m, keep), text)
    text = dashed.sub(lambda m: _replace_dashed(m, keep), text)
    return _scrub_ipv6(text, keep)


def _scrub_ipv6(text: str, keep: Collection[str]) -> str:
    """``_IPV6.sub(...)``, found from the runs of hex digits and colons around two colons."""
    pieces: list[str] = []
    done = 0  # text before this is copied or replaced already
    for hint in _IPV6_HINT.finditer(text):
        if hint.start() < done:
            continue  # in a run already seen
        start, end = hint.start(), hint.end()
        while start > done and text[start - 1] in _HEX_OR_COLON:
            start -= 1
        while end < len(text) and text[end] in _HEX_OR_COLON:
            end += 1
        match = _IPV6_RUN.fullmatch(text, start, end)
        if match is not None:
            pieces += [text[done:start], _replace(match, keep)]
            done = end
        else:
            # Not an address; a later hint can only be in a later run.
            pieces.append(text[done:end])
            done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def redact_address(address: str | None) -> str | None:
    """A bound source address as it may appear in output: only loopback (a lab) is shown."""
    if address is None:
        return None
    return address if ipaddress.ip_address(address).is_loopback else "redacted"
