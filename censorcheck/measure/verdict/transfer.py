"""A body that started, then froze: the censor that kills a connection without a reset.

Some censors let the handshake and the first kilobytes through, then drop everything that
follows (reported from Russia, with freezes after about 16 KB). To a probe with one timeout this
is ``http.timeout``, like a slow server. The transfer figures tell it apart: the body flowed, then
went silent for most of the read, and it did so again on a fresh connection. It is blocking only
when the control server read more of the same URL, from the same address, than the probe ever
got. The probe uses :func:`froze` to decide when to repeat a request.
"""

from __future__ import annotations

from censorcheck.measure.verdict.facts import Facts, cite, conclude
from censorcheck.models import HTTPHop, HTTPResponse, Layer, Verdict

# Seconds of silence, at the least, before a body that stopped arriving counts as frozen.
FREEZE_SILENCE = 1.0


def froze(response: HTTPResponse | None) -> bool:
    """Did the body start, then stop arriving for most of the time the read waited?

    A throttled body trickles until the timeout (short silences); a frozen one goes silent after
    its first kilobytes and stays so. A head followed by no body byte at all is not one: servers
    send the head before they have computed the page, and a censor counting bytes would have to
    stop at the very end of the head.
    """
    transfer = response.transfer if response is not None else None
    if transfer is None or not transfer.cut_after_bytes or transfer.silence_seconds is None:
        return False
    return transfer.silence_seconds >= max(FREEZE_SILENCE, 2 * transfer.sample_seconds)


def _got(hop: HTTPHop) -> int:
    transfer = hop.response.transfer if hop.response is not None else None
    return (transfer.cut_after_bytes or 0) if transfer is not None else 0


def frozen(
    f: Facts, index: int, answered: tuple[int, HTTPHop] | None, authentic: bool
) -> Verdict | None:
    """Hop ``index`` of the probe's fetch froze mid-body. ``answered`` is the control server's
    answered hop for the same URL through the same address; ``authentic`` says the probe's hop
    rode a handshake validated for its host."""
    assert f.obs.http is not None
    hop = f.obs.http.hops[index]
    if not froze(hop.response):
        return None
    layer: Layer = "tls" if hop.url.startswith("https://") else "http"
    outcome = f"{layer}.stall_after_bytes"
    got = _got(hop)
    ref = f"/http/hops/{index}"
    evidence = [cite(f"{ref}/response/transfer", _froze_fact(hop, "the body"))]
    repeat = hop.repeat
    again = repeat is not None and froze(repeat.response)
    if repeat is not None:
        evidence.append(
            cite(f"{ref}/repeat", _froze_fact(repeat, "on a fresh connection, the body"))
            if again
            else cite(f"{ref}/repeat", f"on a fresh connection: {_ended(repeat)}")
        )
    if answered is not None:
        j, theirs = answered
        theirs_got = theirs.response.body_length if theirs.response is not None else 0
        evidence.append(
            cite(f"/control/http/hops/{j}/response",
                 f"{f.who} read {theirs_got} bytes of {theirs.url} from the same address "
                 f"{theirs.address}")
        )  # fmt: skip
        most = max(got, _got(repeat) if repeat is not None else 0)
        if again and theirs_got > most and (authentic or layer == "http"):
            return conclude(
                "blocked",
                outcome,
                0.8,
                f"The connection froze after {got} bytes, and again on a fresh connection, while "
                f"{f.who} read {theirs_got} bytes of the same URL from the same address.",
                evidence,
                layer,
            )
    why = (
        "once only; a fresh connection did not freeze, so a passing loss cannot be ruled out"
        if repeat is not None and not again
        else f"and {f.who} read no more of the same URL from the same address to weigh it against"
        if f.server
        else "and no control fetched the page to weigh it against"
    )
    return conclude(
        "inconclusive",
        outcome,
        0.5,
        f"The body stopped arriving after {got} bytes {why}.",
        evidence,
    )


def _froze_fact(hop: HTTPHop, what: str) -> str:
    transfer = hop.response.transfer if hop.response is not None else None
    assert transfer is not None
    return (
        f"{what} stopped after {transfer.cut_after_bytes} bytes; nothing came for "
        f"{transfer.silence_seconds:.1f} s until the read gave up"
    )


def _ended(hop: HTTPHop) -> str:
    if hop.failure is not None:
        return f"failed ({hop.failure})"
    size = hop.response.body_length if hop.response is not None else 0
    return f"the body arrived ({size} bytes)"
