"""The probe's side of a control server: ask it to measure a URL, get a ``Control`` back.

Whatever goes wrong with the server itself becomes a ``control.*`` failure on the control,
never an exception: a missing second opinion makes verdicts inconclusive, it does not stop a run.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Literal

import httpx

from censorcheck.control.limits import TokenBucket
from censorcheck.control.protocol import (
    API_PREFIX,
    MAX_DEADLINE,
    Health,
    Limits,
    MeasureRequest,
    read_answer,
)
from censorcheck.models import Control

# A control document is a few tens of kilobytes; anything far larger is not one.
MAX_RESPONSE = 4 << 20
# How long an idle connection to a control is reused: well under the server's own keep-alive
# (ours: protocol.SERVER_KEEP_ALIVE; uvicorn's default 5 s; OONI's helpers sit behind common
# web servers whose idle timeouts are no shorter), so that the client, not the server, is the
# one to drop it and a request never meets a server closing the connection under it.
KEEPALIVE_EXPIRY = 2.0


def pool() -> httpx.Limits:
    """The connection pool of a control client."""
    return httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY)


def closed_under_us(exc: httpx.HTTPError) -> bool:
    """Whether a request failed as one does on a reused connection the server has just closed
    (a reset, or an end of stream with no answer): worth one more try on a fresh connection."""
    return isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError))


def status_failure(status: int) -> str:
    """The control.* code for an HTTP status other than 200."""
    if status in (401, 403):
        return "control.unauthorized"
    if status == 429:
        return "control.rate_limited"
    if 400 <= status < 500:
        return "control.rejected"
    return "control.bad_response"


def transport_failure(exc: httpx.HTTPError) -> str:
    """The control.* code for a request to a control that failed on the way."""
    if isinstance(exc, httpx.TimeoutException):
        return "control.timeout"
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.ProtocolError):
        return "control.unreachable"
    return "control.bad_response"


class ControlClient:
    """One control server, shared by every target of a run."""

    source: Literal["server"] = "server"

    def __init__(
        self,
        url: str,
        token: str | None,
        verify: ssl.SSLContext,
        source_address: str | None,
        timeout: float,
        user_agent: str,
        proxy: str | None = None,
        quic: Literal["auto", "always", "never"] = "never",
    ) -> None:
        self.url = url.rstrip("/")
        self._quic = quic
        self.client_address: str | None = None  # what the server saw us as, once health() ran
        self.limits: Limits | None = None  # what the server granted our token, once health() ran
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.sends_token = bool(token)
        self._user_agent = user_agent
        self._timeout = timeout
        # Until the server has told its limits: a modest pace that any server allows.
        self._slots = asyncio.Semaphore(8)
        self._bucket = TokenBucket(5.0, 10)
        self._client = httpx.AsyncClient(
            # A vantage behind a proxy reaches its control server through it too: nothing of the
            # run leaves by the local network.
            transport=httpx.AsyncHTTPTransport(
                verify=verify, local_address=source_address, retries=0, proxy=proxy
            ),
            headers=headers,
            timeout=timeout,
            limits=pool(),
            trust_env=False,  # an environment proxy would move the probe's vantage
        )

    async def _get_json(self, method: str, path: str, **kwargs: object) -> tuple[str | None, bytes]:
        for retry in (True, False):
            answered = False
            try:
                async with self._client.stream(method, self.url + path, **kwargs) as response:  # type: ignore[arg-type]
                    answered = True
                    if response.status_code != 200:
                        return status_failure(response.status_code), b""
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE:
                            return "control.bad_response", b""
                    return None, bytes(body)
            except httpx.HTTPError as exc:
                # Once, and only when nothing of the answer came: the server may have closed
                # the idle connection just as the request left. A partial answer is not retried.
                if retry and not answered and closed_under_us(exc):
                    continue
                return transport_failure(exc), b""
        raise AssertionError("unreachable")

    async def health(self) -> tuple[str | None, str | None]:
        """(failure, server version): whether the server answers and takes our token.

        The limits the server grants the token set how fast this client asks, so that a run
        keeping to them is never answered 429.
        """
        failure, body = await self._get_json("GET", f"{API_PREFIX}/health")
        if failure is not None:
            return failure, None
        try:
            health = read_answer(Health, body)
        except ValueError:
            return "control.bad_response", None
        version = health.version
        # Kept in memory for the network lookup only; never written anywhere.
        self.client_address = health.client_address
        failure, body = await self._get_json("GET", f"{API_PREFIX}/limits")
        if failure is not None:
            return failure, version
        try:
            limits = read_answer(Limits, body)
        except ValueError:
            return "control.bad_response", version
        self.limits = limits
        self.keep_to(limits)
        return None, version

    def keep_to(self, limits: Limits) -> None:
        """Pace this client to ``limits``: the server's grant, or the part of it that falls to
        one of the processes measuring a run (``handover.part_of``)."""
        self._slots = asyncio.Semaphore(max(1, limits.max_in_flight))
        self._bucket = TokenBucket(limits.rate, max(1, limits.burst))

    async def _paced(self, budget: float) -> bool:
        """Wait for the server's rate limit to allow one more measurement, within ``budget``."""
        end = time.monotonic() + budget
        while (wait := self._bucket.take()) > 0:
            if time.monotonic() + wait > end:
                return False
            await asyncio.sleep(wait)
        return True

    async def measure(self, url: str, addresses: list[str], deadline: float) -> Control:
        """The server's measurement of ``url``; a ``control.*`` failure when it gave none."""
        request = MeasureRequest(
            url=url,
            addresses=addresses[:8],
            headers={"user-agent": self._user_agent},
            deadline=min(max(deadline, 0.1), MAX_DEADLINE),
            quic=self._quic,
        )
        start = time.monotonic()
        async with self._slots:
            if not await self._paced(deadline - (time.monotonic() - start)):
                return Control(source="server", failure="control.rate_limited")
            left = deadline - (time.monotonic() - start)
            failure, body = await self._get_json(
                "POST",
                f"{API_PREFIX}/measure",
                content=request.model_copy(update={"deadline": max(left, 0.1)}).model_dump_json(),
                headers={"content-type": "application/json"},
                # The server answers by ``deadline``; a little slack covers the way back.
                timeout=left + self._timeout,
            )
        if failure is not None:
            return Control(source="server", failure=failure)
        try:
            control = read_answer(Control, body)
        except ValueError:
            return Control(source="server", failure="control.bad_response")
        return control.model_copy(update={"source": "server"})

    async def aclose(self) -> None:
        await self._client.aclose()
