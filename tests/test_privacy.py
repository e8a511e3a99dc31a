"""Nothing in a result may name the person running the probe."""

from __future__ import annotations

import random

import pytest

from censorcheck.measure import privacy
from censorcheck.measure.privacy import REDACTED, redact_address, scrub


@pytest.mark.parametrize(
    ("text", "keep", "expected"),
    [
        ("Your IP address is 95.56.1.20.", (), f"Your IP address is {REDACTED}."),
        ("server 104.244.42.1 said no", ("104.244.42.1",), "server 104.244.42.1 said no"),
        ('<iframe src="http://10.10.34.34">', (), f'<iframe src="http://{REDACTED}">'),
        ('<iframe src="http://10.10.34.34">', ("10.10.34.34",), '<iframe src="http://10.10.34.34">'),
        ("client 2a02:8108:1:2::77 blocked", (), f"client {REDACTED} blocked"),
        ("at 12:30:45, version 1.2.3.4.5", (), "at 12:30:45, version 1.2.3.4.5"),
        ("Blocked for 95.56.1.20.\n", (), f"Blocked for {REDACTED}.\n"),
        ("no numbers here", (), "no numbers here"),
        ("mobile client 100.72.13.5 denied", (), f"mobile client {REDACTED} denied"),
        ("host 95-56-1-20.dsl.example.kz", (), f"host {REDACTED}.dsl.example.kz"),
        ("127.0.0.1 and 0.0.0.0 name nobody", (), "127.0.0.1 and 0.0.0.0 name nobody"),
        ("build 2026-11-24-1", (), "build 2026-11-24-1"),
        # An IPv6 address may hold no digit at all: not a reason to skip the text.
        ("you are dead:beef::cafe here", (), f"you are {REDACTED} here"),
        ("é, fade:cafe:bead:face:dead:beef:cafe:face", (), f"é, {REDACTED}"),
        ("no: numbers, no addresses", (), "no: numbers, no addresses"),
    ],
)  # fmt: skip
def test_scrub(text: str, keep: tuple[str, ...], expected: str) -> None:
    assert scrub(text, keep) == expected


@pytest.mark.parametrize(
    ("address", "shown"),
    [("95.56.1.20", "redacted"), ("192.168.1.5", "redacted"), ("100.72.13.5", "redacted"),
     ("127.77.0.2", "127.77.0.2"),
     (None, None)],
)  # fmt: skip
def test_source_address_is_never_public(address: str | None, shown: str | None) -> None:
    assert redact_address(address) == shown


def _plain_scrub(text: str, keep: tuple[str, ...]) -> str:
    """The scrubber as its patterns say it, each applied to the whole text: what the fast
    paths (ASCII patterns that start on a digit, IPv6 looked for around its colons) must equal."""
    text = privacy._IPV4.sub(lambda m: privacy._replace(m, keep), text)
    text = privacy._DASHED.sub(lambda m: privacy._replace_dashed(m, keep), text)
    return privacy._IPV6.sub(lambda m: privacy._replace(m, keep), text)


_PIECES = [*"0123456789abcdefABCDEFxyz:.- \n", "١", "²", "::", "95.56.1.20", "2a02:8108:1:2::77",
           "10-1-2-3", "127.0.0.1", "::ffff:1.2.3.4", "256.", "12:30:45"]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_fast_scrub_equals_the_plain_patterns(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 30)))
        for keep in ((), ("95.56.1.20", "2a02:8108:1:2::77")):
            assert scrub(text, keep) == _plain_scrub(text, keep), text
