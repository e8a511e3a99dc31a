"""HTTP: what does a GET for the URL return, through addresses the probe resolved itself?

The first request rides the connection the TCP and TLS probes opened. Redirects are followed up to
``max_redirects``; every hop is measured like the first (its own lookups, connect and handshake).
Bodies are read up to ``max_body`` bytes and within one timeout, so a 64 MiB page or a server that
trickles a byte a second costs at most that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Collection
from typing import NamedTuple
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from censorcheck.measure.bogons import is_ip
from censorcheck.measure.failures import classify
from censorcheck.measure.privacy import scrub
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.measure.probes.tcp import Stream, connect, skip_reason
from censorcheck.measure.probes.tls import handshake
from censorcheck.measure.probes.transfer import TransferClock
from censorcheck.measure.verdict.transfer import froze
from censorcheck.models import DNSQuery, HTTPFetch, HTTPHop, HTTPResponse, TCPConnect

# Looks up a host through the probe's resolvers: the queries made and the usable addresses.
Resolve = Callable[[str], Awaitable[tuple[list[DNSQuery], list[str]]]]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset=([\w-]+)", re.IGNORECASE)
_REDIRECTS = {301, 302, 303, 307, 308}
Connection = httpcore.AsyncHTTP11Connection | httpcore.AsyncHTTP2Connection


def default_port(url: httpx.URL) -> int:
    """The URL's port, or the scheme's usual one."""
    return url.port or (443 if url.scheme == "https" else 80)


class Exchange(NamedTuple):
    """One request's outcome: what is stored, the raw Location to follow, and the headers the
    request was sent with."""

    response: HTTPResponse | None
    failure: str | None
    location: str | None = None
    sent: tuple[tuple[str, str], ...] = ()


_FINGERPRINT_SPAN = 64 * 1024


def _decoder(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def _title(body: bytes, charset: str) -> str | None:
    match = _TITLE.search(body[:65536])
    if match is None:
        return None
    text = html.unescape(match.group(1).decode(charset, errors="replace"))
    return " ".join(text.split())[:300] or None


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def request(
    stream: Stream,
    url: httpx.URL,
    ctx: ProbeContext,
    keep_ips: Collection[str],
    host_header: str | None = None,
) -> Exchange:
    """One GET over ``stream``. Returns the response (possibly partial) and a failure code."""
    settings = ctx.settings
    port = default_port(url)
    origin = httpcore.Origin(url.scheme.encode(), url.raw_host, port)
    host = host_header or url.netloc.decode("ascii")
    target = url.raw_path or b"/"
    headers = [
        (b"Host", host.encode()),
        (b"User-Agent", settings.user_agent.encode()),
        (b"Accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        (b"Accept-Language", b"en-US,en;q=0.9"),
        (b"Accept-Encoding", b"gzip, deflate"),
    ]
    h2 = _alpn(stream) == "h2"
    if not h2:
        # HTTP/2 forbids connection-specific headers; there the stream's end says the same.
        headers.append((b"Connection", b"close"))
    timeouts = {"connect": settings.timeout, "read": settings.timeout, "write": settings.timeout}
    req = httpcore.Request(
        b"GET",
        httpcore.URL(scheme=url.scheme.encode(), host=url.raw_host, port=port, target=target),
        headers=headers,
        extensions={"timeout": timeouts},
    )
    conn: Connection
    if h2:
        conn = httpcore.AsyncHTTP2Connection(origin, stream)
    else:
        conn = httpcore.AsyncHTTP11Connection(origin, stream)
    sent = tuple((k.decode("latin-1"), scrub(v.decode("latin-1"), keep_ips)) for k, v in headers)
    try:
        return (await _exchange(conn, req, ctx, keep_ips))._replace(sent=sent)
    finally:
        await _close(conn)


async def _exchange(
    conn: Connection,
    req: httpcore.Request,
    ctx: ProbeContext,
    keep_ips: Collection[str],
) -> Exchange:
    settings = ctx.settings
    clock = TransferClock(time.monotonic())
    try:
        response = await conn.handle_async_request(req)
    except Exception as exc:  # noqa: BLE001 - every failure is data
        return Exchange(None, classify(exc, "http"))
    clock.headed()
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
    decoder = decoder_for(pairs)
    body = bytearray()
    truncated = False
    ended = False
    failure: str | None = None
    try:
        # The whole body must arrive within one timeout: a trickling server cannot hold us.
        with anyio.fail_after(settings.timeout):
            async for chunk in response.aiter_stream():
                clock.chunk(len(chunk))
                room = settings.max_body - len(body)
                data = decoder.decompress(chunk, room) if decoder else chunk[:room]
                body += data
                if len(body) >= settings.max_body or (decoder and decoder.unconsumed_tail):
                    truncated = True
                    break
            else:
                ended = True
    except Exception as exc:  # noqa: BLE001
        failure = classify(exc, "http")
    result = build_response(
        response.status, pairs, bytes(body), truncated or failure is not None, ctx, keep_ips
    ).model_copy(
        update={
            "protocol": _version(response.extensions.get("http_version")),
            "transfer": clock.result(ended=ended, gave_up=failure == "http.timeout"),
        }
    )
    # Redirects follow the Location as sent; only what is stored is scrubbed.
    return Exchange(result, failure, _header(pairs, "location"))


def _alpn(stream: Stream) -> str | None:
    ssl_object = stream.get_extra_info("ssl_object")
    return ssl_object.selected_alpn_protocol() if ssl_object is not None else None


def _version(raw: object) -> str | None:
    return raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else None


def decoder_for(headers: list[tuple[str, str]]) -> zlib._Decompress | None:
    """A decompressor for the response's Content-Encoding, or None to take the body as is."""
    return _decoder((_header(headers, "content-encoding") or "").strip().lower())


def build_response(
    status: int,
    pairs: list[tuple[str, str]],
    body: bytes,
    truncated: bool,
    ctx: ProbeContext,
    keep_ips: Collection[str],
) -> HTTPResponse:
    """What is stored of a response, whatever carried it: title, hash, a scrubbed prefix, and
    the blockpage fingerprint it matches."""
    charset_match = _CHARSET.search(_header(pairs, "content-type") or "")
    title, text = _decode(body, charset_match.group(1) if charset_match else "utf-8")
    # Blockpages are small; matching the start of a page keeps a long article that merely
    # quotes a blockpage's markers from looking like one.
    fingerprint = (
        ctx.fingerprints.match(pairs, text[:_FINGERPRINT_SPAN], title) if ctx.fingerprints else None
    )
    return HTTPResponse(
        status=status,
        headers=[(k, scrub(v, keep_ips)) for k, v in pairs],
        title=scrub(title, keep_ips) if title else None,
        body_length=len(body),
        body_truncated=truncated,
        body_sha256=hashlib.sha256(body).hexdigest(),
        body_prefix=scrub(text[: ctx.settings.keep_body], keep_ips),
        fingerprint=fingerprint,
    )


def _decode(body: bytes, charset: str) -> tuple[str | None, str]:
    """Title and text; a charset Python does not know, or cannot use, falls back to UTF-8."""
    try:
        return _title(body, charset), body.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return _title(body, "utf-8"), body.decode("utf-8", errors="replace")


async def _close(conn: Connection) -> None:
    # Shielded, so that a deadline cancelling the request still gives the socket back; the
    # cancellation itself propagates.
    with contextlib.suppress(Exception):
        await asyncio.shield(conn.aclose())


async def _open(
    url: httpx.URL, addresses: list[str], ctx: ProbeContext, hop: dict[str, object]
) -> Stream | None:
    """Connect (and handshake) to the first address that works, recording the last attempt.

    On failure ``hop["failure"]`` says why; with no usable address it is ``http.unreachable``.
    """
    port = default_port(url)
    hop["failure"] = "http.unreachable"
    for address in addresses:
        if (why := skip_reason(address, ctx)) is not None:
            if "tcp" not in hop:  # say why nothing was dialled, unless an attempt says more
                hop.update(address=address, tcp=TCPConnect(address=address, port=port, skipped=why))
            continue
        tcp, stream = await connect(address, port, ctx)
        hop.update(address=address, tcp=tcp, tls=None, failure=tcp.failure)
        if stream is None:
            continue
        if url.scheme != "https":
            hop["failure"] = None
            return stream
        tls, tls_stream = await handshake(stream, address, port, url.host, ctx)
        hop.update(tls=tls, failure=tls.failure)
        if tls_stream is not None:
            return tls_stream
    return None


async def fetch(
    url: httpx.URL,
    first: tuple[str, Stream] | None,
    addresses: list[str],
    resolve: Resolve,
    ctx: ProbeContext,
    keep_ips: set[str],
) -> HTTPFetch:
    """GET ``url`` following redirects. ``first`` is the (address, stream) the layers opened."""
    hops: list[HTTPHop] = []
    known: dict[str, list[str]] = {url.host: addresses}
    for _ in range(ctx.settings.max_redirects + 1):
        start = time.monotonic()
        hop: dict[str, object] = {"url": scrub(str(url), keep_ips), "t0": ctx.since(start)}
        stream: Stream | None
        if first is not None:
            hop["address"], stream = first
            first = None
        else:
            if is_ip(url.host):
                known[url.host] = [url.host]  # an address needs no lookup
            elif url.host not in known:
                queries, found = await resolve(url.host)
                hop["dns"] = queries
                known[url.host] = found
                keep_ips.update(found)
            stream = await _open(url, known[url.host], ctx, hop)
        if stream is None:
            hop["t"] = time.monotonic() - start
            hops.append(HTTPHop.model_validate(hop))
            return HTTPFetch(hops=hops, failure=hops[-1].failure)
        response, failure, location, sent = await request(stream, url, ctx, keep_ips)
        hop.update(response=response, failure=failure, t=time.monotonic() - start)
        hop["request_headers"] = list(sent)
        if froze(response) and isinstance(hop.get("address"), str):
            hop["repeat"] = await _repeat(url, str(hop["address"]), ctx, keep_ips)
        hops.append(HTTPHop.model_validate(hop))
        if failure is not None or response is None or response.status not in _REDIRECTS:
            return HTTPFetch(hops=hops, failure=failure)
        if not location or _hostless(location):
            return HTTPFetch(hops=hops, failure="http.bad_redirect")
        try:
            url = url.join(location)
        except Exception:  # noqa: BLE001 - a malformed Location is the server's problem
            return HTTPFetch(hops=hops, failure="http.bad_redirect")
        if url.scheme not in ("http", "https") or not url.host:
            return HTTPFetch(hops=hops, failure="http.bad_redirect")
    return HTTPFetch(hops=hops, failure="http.too_many_redirects")


async def _repeat(url: httpx.URL, address: str, ctx: ProbeContext, keep_ips: set[str]) -> HTTPHop:
    """The same request on a fresh connection to ``address`` (its handshake included)."""
    start = time.monotonic()
    hop: dict[str, object] = {"url": scrub(str(url), keep_ips), "t0": ctx.since(start)}
    stream = await _open(url, [address], ctx, hop)
    if stream is not None:
        response, failure, _, sent = await request(stream, url, ctx, keep_ips)
        hop.update(response=response, failure=failure, request_headers=list(sent))
    hop["t"] = time.monotonic() - start
    return HTTPHop.model_validate(hop)


async def neutral_request(
    url: httpx.URL, address: str, ctx: ProbeContext, keep_ips: Collection[str]
) -> HTTPHop:
    """The same plain-HTTP request with a neutral Host, on a fresh connection to ``address``."""
    start = time.monotonic()
    port = url.port or 80
    tcp, stream = await connect(address, port, ctx)
    if stream is None:
        return HTTPHop(
            url=str(url), address=address, tcp=tcp, failure=tcp.failure, t=tcp.t, t0=tcp.t0
        )
    response, failure, _, sent = await request(
        stream, url, ctx, keep_ips, host_header=ctx.settings.neutral_host
    )
    return HTTPHop(
        url=str(url),
        address=address,
        tcp=tcp,
        response=response,
        failure=failure,
        t=time.monotonic() - start,
        t0=ctx.since(start),
        request_headers=list(sent),
    )


def _hostless(location: str) -> bool:
    """Does ``location`` name a scheme or an authority but no host (``http://``, ``//``)?
    Joined to the current URL such a value would point back at it, turning a broken redirect
    into a loop of them."""
    try:
        parts = urlsplit(location.strip())
    except ValueError:
        return True
    named = bool(parts.scheme) or location.strip().startswith("//")
    return named and not parts.hostname
