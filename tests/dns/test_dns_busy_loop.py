"""A reply that arrived in time counts even when the probe's loop looks at it late: on a busy
machine the loop can come back after the listening window closed, and a reply already waiting
in the socket must not be lost for that (an injection's second answer, or an answer read as a
timeout)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest

from censorcheck.measure.probes import dnstransport
from censorcheck.measure.probes.dnswire import Query
from tests.nameserver import udp_nameserver


def _forged_then_real(
    query: dns.message.Message, peer: tuple[str, int]
) -> Iterator[dns.message.Message]:
    """Two answers to each query, 10 ms apart, with two different addresses: what a forged
    answer followed by the real one looks like."""
    for address in ("10.10.34.36", "192.0.2.7"):
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", address))
        yield reply
        time.sleep(0.01)


@pytest.fixture
def two_answers() -> Iterator[tuple[str, int]]:
    with udp_nameserver(_forged_then_real) as listening:
        yield listening


def test_an_answer_waiting_when_the_window_is_checked_late_is_kept(
    two_answers: tuple[str, int],
) -> None:
    host, port = two_answers

    def busy(rtt: float) -> float:
        # The window opens now and lasts 50 ms, but the loop is busy for 300 ms first: the
        # second answer (10 ms after the first) arrives while it is, inside the window.
        time.sleep(0.3)
        return 0.05

    query = Query.build("example.kz", "A")
    exchange = asyncio.run(
        dnstransport.udp(query, host, port, source=None, timeout=2.0, linger=busy)
    )
    assert exchange.failure is None and exchange.response is not None
    assert len(exchange.late) == 1
    (late, _), first = exchange.late[0], exchange.response
    assert late.wire != first.wire  # the other answer: the evidence of an injection


def test_past_the_window_only_a_few_waiting_datagrams_are_read() -> None:
    """A reply already waiting is read after the window closed, but a flood queued behind it
    does not hold the window open: at most ``_MAX_LATE`` such reads."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mine,
    ):
        peer.bind(("127.0.0.1", 0))
        mine.bind(("127.0.0.1", 0))
        mine.connect(peer.getsockname())
        mine.setblocking(False)
        for _ in range(100):
            peer.sendto(b"\x00" * 40, mine.getsockname())  # junk: no reply to our query
        listener = dnstransport._Listener(mine, Query.build("example.kz", "A"))

        async def listen() -> None:
            await listener.next(time.monotonic() - 1)  # a window that closed a second ago

        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(listen())
        assert listener.mismatched == dnstransport._MAX_LATE
        assert mine.recv(100)  # the rest of the flood was left unread
