"""Requests sent on a real control server's keep-alive boundary: 1,000 by default.

A benchmark, not a test: it prints figures, and exits non-zero only when a request got no
answer. Our control server runs under uvicorn in a thread, on loopback, keeping idle
connections ``--keep-alive`` seconds (1 s, shorter than the client's expiry, so that the
client's retry is what is measured). Each round fills the client's pool, lets it idle, and
sends one request per connection within 15 ms either side of the moment the server closes it;
the probe's loop is kept busy meanwhile, as a run measuring many targets keeps it. The server
answers at once (the URL is a literal its guard refuses), so no packet leaves loopback.

    .venv/bin/python bench/keepalive_bench.py                  # 1,000 requests
    .venv/bin/python bench/keepalive_bench.py --requests 200 --keep-alive 1
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from censorcheck.control.client import ControlClient
from censorcheck.control.server import ServerConfig
from tests.control.support import TOKEN, serving, settings

# A literal the default guard refuses: the server answers at once, without a packet sent.
REFUSED_URL = "http://127.0.0.1:9/"
# httpx keeps this many idle connections: each round sends one request on each.
WIDTH = 20


def boundary_server(keep_alive: float) -> Iterator[str]:
    """Our control server keeping idle connections ``keep_alive`` seconds, with limits no round
    of requests reaches (the pace is not under test)."""
    config = ServerConfig(
        tokens=(TOKEN,),
        settings=settings(source_address="127.0.0.1"),
        rate=1e6,
        burst=1_000_000,
        max_in_flight=1000,
    )
    return serving(config, keep_alive=keep_alive)


async def _busy(done: asyncio.Event) -> None:
    """The load of a probe measuring many targets: the loop runs other work between any two
    steps of a request, in slices of a millisecond."""
    while not done.is_set():
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)


async def at_the_boundary(base: str, keep_alive: float, requests: int) -> Counter[str]:
    """Send ``requests`` measurements, each on a connection the server is about to close.

    Each round opens WIDTH connections and lets them idle; then one request per connection is
    sent between 15 ms before and 15 ms after the server's keep-alive ends, when it closes
    them: the window where a request and the server's close cross. The outcome of each is
    counted by its failure code (``control.forbidden_address`` is the answer itself).
    """
    client = ControlClient(base, TOKEN, ssl.create_default_context(), "127.0.0.1", 5.0, "ka")
    outcomes: Counter[str] = Counter()
    try:
        failure, _ = await client.health()
        assert failure is None, failure
        while sum(outcomes.values()) < requests:
            width = min(WIDTH, requests - sum(outcomes.values()))
            await asyncio.gather(*(client.measure(REFUSED_URL, [], 5.0) for _ in range(width)))
            idle_since = time.monotonic()
            # The boundary is a timer of the server's: only the clock can find it.
            sends = [idle_since + keep_alive + 0.030 * (i / max(width - 1, 1) - 0.5)
                     for i in range(width)]  # fmt: skip

            async def one(at: float) -> str:
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                control = await client.measure(REFUSED_URL, [], 5.0)
                return control.failure or "none"

            done = asyncio.Event()
            load = asyncio.ensure_future(_busy(done))
            try:
                outcomes.update(await asyncio.gather(*(one(at) for at in sends)))
            finally:
                done.set()
                await load
    finally:
        await client.aclose()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--keep-alive", type=float, default=1.0)
    args = parser.parse_args()
    with boundary_server(args.keep_alive) as base:
        start = time.monotonic()
        outcomes = asyncio.run(at_the_boundary(base, args.keep_alive, args.requests))
        wall = time.monotonic() - start
    answered = outcomes.pop("control.forbidden_address", 0)
    print(f"requests on the keep-alive boundary ({args.keep_alive:g} s): {args.requests}")
    print(f"answered: {answered}")
    print(f"control.unreachable: {outcomes.get('control.unreachable', 0)}")
    print(f"other failures: {sum(n for k, n in outcomes.items() if k != 'control.unreachable')}"
          f" {dict(outcomes) or ''}")  # fmt: skip
    print(f"wall time: {wall:.1f} s")
    return 0 if not outcomes else 1


if __name__ == "__main__":
    sys.exit(main())
