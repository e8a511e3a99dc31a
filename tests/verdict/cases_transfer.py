"""Rows for bodies that froze mid-way (issue 14): the connection killed without a reset, against a
slow server, a passing loss and a site that freezes for everyone."""

from __future__ import annotations

from censorcheck.models import HTTPFetch, HTTPHop, HTTPResponse, Transfer
from tests.verdict.builders import HTTP_URL, SITE, SITE_PAGE, Case, body, server

URL = "https://site.example/"
KiB = 1024


def _froze_at(got: int, silence: float = 4.2, flowed: float = 0.3) -> HTTPResponse:
    """A response whose body stopped after ``got`` bytes and then said nothing for ``silence``."""
    return body(SITE_PAGE).model_copy(
        update={
            "body_length": got,
            "body_truncated": True,
            "transfer": Transfer(ttfb=0.1, sample_bytes=got, sample_seconds=flowed,
                                 throughput=got / flowed if flowed else None,
                                 points=[(flowed, got)] if got else [], complete=False,
                                 cut_after_bytes=got, silence_seconds=silence),
        }
    )  # fmt: skip


def _trickled(got: int) -> HTTPResponse:
    """A slow body still arriving when the read gave up: short silences, no freeze."""
    return _froze_at(got, silence=0.05, flowed=4.9)


def _complete(size: int) -> HTTPResponse:
    return body(SITE_PAGE).model_copy(
        update={
            "body_length": size,
            "transfer": Transfer(ttfb=0.1, sample_bytes=size, sample_seconds=0.2,
                                 throughput=size / 0.2, points=[(0.2, size)], complete=True),
        }
    )  # fmt: skip


def _probe(response: HTTPResponse, repeat: HTTPResponse | None = None, url: str = URL,
           repeat_failure: str | None = "http.timeout") -> HTTPFetch:  # fmt: skip
    again = (
        HTTPHop(url=url, address=SITE, response=repeat, failure=repeat_failure)
        if repeat is not None
        else None
    )
    hop = HTTPHop(url=url, address=SITE, response=response, failure="http.timeout", repeat=again)
    return HTTPFetch(hops=[hop], failure="http.timeout")


def _control(response: HTTPResponse, url: str = URL, failure: str | None = None) -> HTTPFetch:
    hop = HTTPHop(url=url, address=SITE, response=response, failure=failure)
    return HTTPFetch(hops=[hop], failure=failure)


FROZE_TWICE = _probe(_froze_at(16 * KiB), _froze_at(16 * KiB))
CONTROL_READ_ALL = server(http=_control(_complete(120 * KiB)))

TRANSFER_CASES = [
    Case("server: an HTTPS body froze after 16 KiB twice, the control read 120 KiB there",
         ("blocked", "tls", "tls.stall_after_bytes"), http=FROZE_TWICE, control=CONTROL_READ_ALL,
         cites=("/http/hops/0/response/transfer", "/http/hops/0/repeat",
                "/control/http/hops/0/response")),
    Case("server: a plain-HTTP body froze twice, the control read it all from the same address",
         ("blocked", "http", "http.stall_after_bytes"), url=HTTP_URL, tls=[],
         http=_probe(_froze_at(16 * KiB), _froze_at(16 * KiB), url=HTTP_URL),
         control=server(tls=[], http=_control(_complete(120 * KiB), url=HTTP_URL))),
    # Traps: none of these is blocking.
    Case("server: it froze once, and on a fresh connection the body arrived: a passing loss",
         ("inconclusive", None, "tls.stall_after_bytes"), control=CONTROL_READ_ALL,
         http=_probe(_froze_at(16 * KiB), _complete(120 * KiB), repeat_failure=None)),
    Case("server: froze twice, but the control never read more than the probe did",
         ("inconclusive", None, "tls.stall_after_bytes"), http=FROZE_TWICE,
         control=server(http=_control(_complete(16 * KiB)))),
    Case("server: froze twice, and the control's read timed out too: slow for everyone",
         ("inconclusive", None, "tls.stall_after_bytes"), http=FROZE_TWICE,
         control=server(http=_control(_froze_at(16 * KiB), failure="http.timeout"))),
    Case("resolvers only: froze twice, no control read to weigh it against",
         ("inconclusive", None, "tls.stall_after_bytes"), http=FROZE_TWICE,
         cites=("/http/hops/0/response/transfer", "/http/hops/0/repeat")),
    # Frameworks send the head at once and the body when it is computed: a head and then
    # nothing, twice, is a slow page (the control's fetch may simply have been quicker).
    Case("server: the head came, then no body byte at all, twice: a slow page, not a freeze",
         ("inconclusive", None, "http.timeout"), control=CONTROL_READ_ALL,
         http=_probe(_froze_at(0, silence=5.0, flowed=0.0), _froze_at(0, silence=5.0,
                                                                        flowed=0.0))),
    Case("server: a slow body still trickling at the timeout is not a freeze",
         ("inconclusive", None, "http.timeout"), control=CONTROL_READ_ALL,
         http=_probe(_trickled(40 * KiB), _trickled(40 * KiB))),
]  # fmt: skip
