"""QUIC in the pipeline, against a real site: HTTPS over TCP (hypercorn) and HTTP/3 over UDP
(aioquic) on the same address and port, as a real site serves them, with and without an Alt-Svc
advertisement and behind a censor that drops the Initials naming the host."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from censorcheck.lab.quic import Drop
from censorcheck.lab.quicpeek import initial_server_name
from censorcheck.measure.pipeline import Partial, observe
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.verdict import Observations, judge_quic
from censorcheck.models import DNSQuery, Target, Verdict
from censorcheck.settings import Settings
from tests.h3site import h3_site

HOST = "h3.example"


async def _measure(tmp_path: Path, mode: str, advertise: bool = True,
                   drop: Drop | None = None) -> tuple[Partial, Verdict | None]:  # fmt: skip
    address = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
    async with h3_site(tmp_path, address, HOST, advertise, drop) as (port, ca):
        settings = Settings(timeout=1.0, ca_bundle=ca, treat_as_public=["127.0.0.0/8"],
                            quic=mode)  # type: ignore[arg-type]  # fmt: skip
        ctx = ProbeContext.create(settings, False)
        partial = Partial()

        async def resolve(host: str) -> tuple[list[DNSQuery], list[str]]:
            return [], [address]

        try:
            url = httpx.URL(f"https://{HOST}:{port}/")
            await observe(url, [address], resolve, ctx, partial)
        finally:
            await partial.aclose()
            await ctx.aclose()
    obs = Observations(target=Target(url=str(url), domain=HOST), tls=partial.tls, quic=partial.quic)
    return partial, judge_quic(obs)


def test_an_advertised_http3_is_tried_and_loads(tmp_path: Path) -> None:
    partial, verdict = asyncio.run(_measure(tmp_path, "auto"))
    assert partial.http is not None and partial.http.failure is None
    (fetch,) = partial.quic
    assert fetch.failure is None and fetch.response is not None
    assert (fetch.response.protocol, fetch.response.title) == ("HTTP/3", "the site")
    assert verdict is not None and verdict.status == "accessible"


@pytest.mark.parametrize(
    ("mode", "advertise", "tried"),
    [("auto", False, False), ("always", False, True), ("never", True, False)],
)
def test_when_quic_is_tried(tmp_path: Path, mode: str, advertise: bool, tried: bool) -> None:
    partial, verdict = asyncio.run(_measure(tmp_path, mode, advertise))
    assert bool(partial.quic) == tried
    assert (verdict is not None) == tried
    assert partial.http is not None and partial.http.failure is None  # TCP is untouched


def test_initials_naming_the_host_dropped_is_quic_sni_blocking(tmp_path: Path) -> None:
    def drop(source: str, datagram: bytes) -> bool:
        return initial_server_name(datagram) == HOST

    partial, verdict = asyncio.run(_measure(tmp_path, "auto", drop=drop))
    assert partial.http is not None and partial.http.failure is None  # the site loads over TCP
    (fetch,) = partial.quic
    assert fetch.failure == "quic.timeout"
    assert verdict is not None
    assert (verdict.status, verdict.blocking, verdict.outcome) == (
        "blocked",
        "quic",
        "quic.sni_blocking",
    )
