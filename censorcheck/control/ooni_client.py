"""The probe's side of OONI's Web Connectivity test helpers: the same interface as
:class:`~censorcheck.control.client.ControlClient`, speaking OONI's protocol
(:mod:`censorcheck.control.ooni`).

Helpers are tried in order until one answers; the one that last answered is asked first next
time. As with our own server, whatever goes wrong with the helpers becomes a ``control.*``
failure on the control, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Sequence
from typing import Literal

import httpx
import pydantic

from censorcheck.control.client import (
    MAX_RESPONSE,
    closed_under_us,
    pool,
    status_failure,
    transport_failure,
)
from censorcheck.control.ooni import THResponse, request_for, to_control
from censorcheck.models import Control

# OONI's helpers publish no limits; a probe of theirs has one request in flight per URL it
# measures, so a few at once is a polite pace.
IN_FLIGHT = 8


class OONIClient:
    """A list of test helpers, shared by every target of a run."""

    source: Literal["ooni"] = "ooni"

    def __init__(
        self,
        urls: Sequence[str],
        token: str | None,
        verify: ssl.SSLContext,
        source_address: str | None,
        timeout: float,
        user_agent: str,
        proxy: str | None = None,
        quic: Literal["auto", "always", "never"] = "never",
    ) -> None:
        if not urls:
            raise ValueError("at least one test helper URL")
        self.urls = list(urls)
        self.url = self.urls[0]  # the helper to ask first: the one that last answered
        self._user_agent = user_agent
        self._quic = quic != "never"  # the protocol has one switch: QUIC or not
        self._timeout = timeout
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        # OONI's public helpers take no token; a helper of ours behind the same check does.
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.sends_token = bool(token)
        self._client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(
                verify=verify, local_address=source_address, retries=0, proxy=proxy
            ),
            headers=headers,
            timeout=timeout,
            limits=pool(),
            trust_env=False,  # an environment proxy would move the probe's vantage
        )

    async def _exchange(
        self, method: str, url: str, budget: float, **kwargs: object
    ) -> tuple[str | None, bytes, httpx.Headers]:
        """(failure, body, headers) of one request, the whole of it within ``budget`` seconds."""

        answered = False

        async def exchange() -> tuple[str | None, bytes, httpx.Headers]:
            nonlocal answered
            async with self._client.stream(method, url, **kwargs) as response:  # type: ignore[arg-type]
                answered = True
                if response.status_code != 200:
                    return status_failure(response.status_code), b"", response.headers
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE:
                        return "control.bad_response", b"", response.headers
                return None, bytes(body), response.headers

        async def once_more_if_closed() -> tuple[str | None, bytes, httpx.Headers]:
            try:
                return await exchange()
            except httpx.HTTPError as exc:
                # As ControlClient: once, and only when nothing of the answer came.
                if answered or not closed_under_us(exc):
                    raise
            return await exchange()

        try:
            return await asyncio.wait_for(once_more_if_closed(), budget)
        except asyncio.TimeoutError:
            return "control.timeout", b"", httpx.Headers()
        except httpx.HTTPError as exc:
            return transport_failure(exc), b"", httpx.Headers()

    def _order(self) -> list[str]:
        return [self.url, *(u for u in self.urls if u != self.url)]

    async def health(self) -> tuple[str | None, str | None]:
        """(failure, helper version): whether any helper answers its health check (a GET).

        The first helper that answers becomes the one asked first. A token one refuses is
        reported before any other failure: that is for the user to fix.
        """
        failures = []
        for url in self._order():
            failure, body, headers = await self._exchange("GET", url, self._timeout)
            if failure is None:
                try:
                    json.loads(body)
                except ValueError:
                    failure = "control.bad_response"
            if failure is None:
                self.url = url
                return None, headers.get("server")
            failures.append(failure)
        if "control.unauthorized" in failures:
            return "control.unauthorized", None
        return failures[0], None

    async def measure(self, url: str, addresses: list[str], deadline: float) -> Control:
        """The first answering helper's measurement of ``url``; a ``control.*`` failure when
        none gave one by ``deadline``."""
        request = request_for(url, addresses, self._user_agent, self._quic).model_dump_json()
        start = time.monotonic()
        failure: str | None = "control.timeout"
        async with self._slots:
            for helper in self._order():
                left = deadline - (time.monotonic() - start)
                if left <= 0:
                    failure = "control.timeout"
                    break
                failure, body, _ = await self._exchange(
                    "POST",
                    helper,
                    left,
                    content=request,
                    headers={"content-type": "application/json"},
                )
                if failure is None:
                    try:
                        answer = THResponse.model_validate_json(body)
                    except pydantic.ValidationError:
                        failure = "control.bad_response"
                        continue
                    self.url = helper
                    return to_control(answer, url, f"ooni:{httpx.URL(helper).host}")
        return Control(source="ooni", failure=failure or "control.timeout")

    async def aclose(self) -> None:
        await self._client.aclose()
