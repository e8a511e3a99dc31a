"""The control server: measures a URL from an uncensored network, for probes holding a token.

It runs the probe's own pipeline (``censorcheck.measure.pipeline``) with its own resolvers and
source address, and answers with a :class:`~censorcheck.models.Control`: a summary and a bounded
body prefix, never the page itself, so it cannot serve as an open proxy.

Abuse is bounded in layers: a bearer token compared in constant time; a request-size cap; per
token a rate limit and a cap on measurements in flight (both answer 429); a deadline on every
measurement; and a dial guard in the probe context, consulted on every connect, that refuses
loopback, private, link-local, multicast and reserved addresses after resolution and on every
redirect hop. Because addresses are resolved once and dialled as literals, a name that
re-resolves to a private address (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pydantic
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from censorcheck import __version__
from censorcheck.control.limits import Allowance, Ledger
from censorcheck.control.measure import measure_here
from censorcheck.control.ooni import THRequest, THResponse, parse_endpoint, to_response
from censorcheck.control.protocol import (
    API_PREFIX,
    MAX_ADDRESSES,
    SERVER_KEEP_ALIVE,
    Health,
    Limits,
    MeasureRequest,
)
from censorcheck.errors import ConfigError, first_error
from censorcheck.measure import textfile
from censorcheck.measure.bogons import IPAddress, IPNetwork, forbidden
from censorcheck.measure.probes import dns
from censorcheck.measure.probes.context import ProbeContext
from censorcheck.models import Control, DNSQuery, Model
from censorcheck.settings import Settings

log = logging.getLogger("censorcheck.control")

MIN_TOKEN_LENGTH = 16
# OONI's test-helper protocol lives at its own path; its probes are told the full URL.
OONI_PREFIX = "/ooni"
_SERVER = {"server": f"censorcheck/{__version__}"}
MAX_REQUEST_BYTES = 16 * 1024
# Seconds a stopping server gives the measurements in flight before it cuts them.
GRACEFUL_SHUTDOWN = 5

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_tokens(path: Path) -> tuple[str, ...]:
    """Tokens from a file, one per line; blank lines and ``#`` comments are skipped."""
    # The shared reader refuses a FIFO (reading one would wait for a writer) and huge files.
    lines = textfile.read_text(path, f"--token-file {path}", ConfigError).splitlines()
    tokens = []
    for number, line in enumerate(lines, 1):
        token = line.strip()
        if not token or token.startswith("#"):
            continue
        if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
            raise ConfigError(
                f"--token-file {path} line {number}: a token is at least {MIN_TOKEN_LENGTH} "
                "characters with no spaces"
            )
        tokens.append(token)
    if not tokens:
        raise ConfigError(f"--token-file {path}: no token in it")
    return tuple(tokens)


@dataclass(frozen=True)
class ServerConfig:
    """How the control server measures and whom it serves."""

    tokens: tuple[str, ...]
    settings: Settings  # resolvers, source address, CA bundle, timeouts of its measurements
    allow_private: bool = False
    # When set, these networks and nothing else are dialled (private or not): for closed labs
    # and tests, which must never send a packet off the machine.
    only_networks: tuple[IPNetwork, ...] = ()
    rate: float = 20.0
    burst: int = 100
    max_in_flight: int = 32
    max_deadline: float = 30.0
    max_request_bytes: int = MAX_REQUEST_BYTES

    def guard(self, ip: IPAddress) -> str | None:
        """Why the server must not dial ``ip``, or None."""
        if not self.only_networks:
            return forbidden(ip, self.allow_private)
        if not any(ip in net for net in self.only_networks):
            return "forbidden address: outside the networks this server may reach"
        return forbidden(ip, allow_private=True)

    def measuring(self) -> Settings:
        """The settings the server measures with. A server confined to ``only_networks``
        measures them as routable: they are its Internet, as the lab's /24 is the lab's, and
        otherwise every address in a private one would be skipped as a bogon."""
        if not self.only_networks:
            return self.settings
        public = dict.fromkeys([*self.settings.treat_as_public, *map(str, self.only_networks)])
        return self.settings.model_copy(update={"treat_as_public": list(public)})

    def allowance(self) -> Allowance:
        """(rate, burst, max_in_flight): what each token gets, from the whole server."""
        return self.rate, self.burst, self.max_in_flight

    def limits(self) -> Limits:
        """The limits the server announces: the ones it enforces, whatever its worker count."""
        return Limits(
            max_in_flight=self.max_in_flight,
            rate=self.rate,
            burst=self.burst,
            max_deadline=self.max_deadline,
        )


@dataclass
class _State:
    config: ServerConfig
    ctx: ProbeContext
    resolvers: list[dns.Resolver]
    digests: tuple[bytes, ...]
    ledger: Ledger

    def token_index(self, presented: str) -> int | None:
        """Which token was presented, comparing against every one in constant time."""
        given = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for i, digest in enumerate(self.digests):
            if hmac.compare_digest(digest, given):
                found = i  # no early exit: the time taken does not depend on which matched
        return found


class _BodyLimit:
    """Answers 413 to a request body over the limit, before the application reads any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _problem(send, 413, "request body too large")
            return
        chunks: list[Message] = []
        size = 0
        while True:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await _problem(send, 413, "request body too large")
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)


async def _problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Detail(Model):
    """An error answer."""

    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": _Detail, "description": "The body is not text JSON can be read from."},
    401: {"model": _Detail, "description": "No token, or not a known one."},
    413: {"model": _Detail, "description": "The request body is over the limit."},
    429: {"model": _Detail, "description": "Over this token's rate or in-flight limit."},
}


async def measure(
    request: MeasureRequest, ctx: ProbeContext, resolvers: list[dns.Resolver], deadline: float
) -> Control:
    """Measure what ``request`` asks, from this server's network."""
    agent = request.headers.get("user-agent")
    control = await measure_here(
        request.url, request.addresses, ctx, resolvers, deadline, user_agent=agent,
        quic=request.quic,
    )  # fmt: skip
    return neutral_resolvers(control, resolvers)


def resolver_label(resolvers: list[dns.Resolver], uri: str) -> str:
    """How an answer names one of the server's resolvers: ``system``, or ``control-N`` by its
    place in the server's list; never its address or URL, which can be internal."""
    for n, r in enumerate(resolvers, 1):
        if r.uri == uri:
            return "system" if r.scheme == "system" else f"control-{n}"
    return "control"


def neutral_resolvers(control: Control, resolvers: list[dns.Resolver]) -> Control:
    """``control`` with each lookup, its own and its redirects', naming its resolver by label."""

    def labelled(queries: list[DNSQuery]) -> list[DNSQuery]:
        return [q.model_copy(update={"resolver": resolver_label(resolvers, q.resolver)})
                for q in queries]  # fmt: skip

    http = control.http
    if http is not None:
        hops = [h.model_copy(update={"dns": labelled(h.dns)}) for h in http.hops]
        http = http.model_copy(update={"hops": hops})
    return control.model_copy(update={"dns": labelled(control.dns), "http": http})


def ooni_request(th: THRequest) -> MeasureRequest:
    """A test-helper request as the measurement our own protocol would ask for: the probe's
    addresses from its endpoints, its User-Agent, QUIC when asked (``x_quic_enabled``), and our
    protocol's bounds on every field."""
    addresses = []
    for key in th.tcp_connect:
        where = parse_endpoint(key)
        if where is None:
            raise ValueError(f"tcp_connect: {key!r} is not ip:port")
        addresses.append(where[0])
    agents = {k.lower(): v for k, v in th.http_request_headers.items()}.get("user-agent") or []
    try:
        return MeasureRequest(
            url=th.http_request,
            addresses=list(dict.fromkeys(addresses))[:MAX_ADDRESSES],
            headers={"user-agent": agents[0]} if agents else {},
            # A helper tries QUIC only where the page advertises HTTP/3, as "auto" does.
            quic="auto" if th.x_quic_enabled else "never",
        )
    except pydantic.ValidationError as exc:
        raise ValueError(first_error(exc)) from None


# Dependencies live at module level: FastAPI resolves their (string) annotations from here.
_bearer = HTTPBearer(auto_error=False, description="A token from the server's token file.")


def _state(request: Request) -> _State:
    state: _State = request.app.state.control
    return state


def _authorised(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    st: Annotated[_State, Depends(_state)],
) -> int:
    index = st.token_index(credentials.credentials) if credentials is not None else None
    if index is None:
        challenge = {"WWW-Authenticate": "Bearer"}
        raise HTTPException(401, "a valid bearer token is needed", challenge)
    return index


@contextlib.asynccontextmanager
async def _admitted(st: _State, token: int) -> AsyncIterator[None]:
    """One measurement for ``token`` within its limits, or 429. With worker processes the limits
    are the whole server's: ``st.ledger`` is shared by them all."""
    refusal = st.ledger.admit(token)
    if refusal is not None:
        raise HTTPException(429, refusal.detail, {"Retry-After": str(refusal.retry_after)})
    try:
        yield
    finally:
        st.ledger.release(token)


def create_app(config: ServerConfig, ledger: Ledger | None = None) -> FastAPI:
    """The ASGI application. Its probe context lives as long as the application runs.

    ``ledger`` holds the tokens' limits when several processes serve them (``workers``);
    without one the application keeps its own."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = config.measuring()
        resolvers = [dns.expand_system(dns.parse_resolver(u)) for u in settings.resolvers]
        ctx = ProbeContext.create(settings, ipv6=settings.ipv6 == "on", guard=config.guard)
        digests = tuple(hashlib.sha256(t.encode()).digest() for t in config.tokens)
        own = ledger is None
        kept = (
            ledger if ledger is not None else Ledger.private(len(config.tokens), config.allowance())
        )
        app.state.control = _State(config, ctx, resolvers, digests, kept)
        try:
            yield
        finally:
            await ctx.aclose()
            if own:
                kept.close()

    app = FastAPI(
        title="censorcheck control server",
        version=__version__,
        summary="Measures a URL from an uncensored network, as a second opinion for a probe.",
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )

    @app.get(f"{API_PREFIX}/health", response_model=Health)
    async def health(request: Request) -> Health:
        """Whether the server is up, its version and what one token may ask of it, and the
        address the request came from (the probe's own, which it cannot see behind a NAT)."""
        seen = request.client.host if request.client is not None else None
        return Health(version=__version__, limits=config.limits(), client_address=seen)

    @app.get(f"{API_PREFIX}/limits", response_model=Limits, responses={401: _ERRORS[401]})
    async def limits(token: Annotated[int, Depends(_authorised)]) -> Limits:
        """What this token may ask: a probe checks its token and paces itself with this."""
        return config.limits()

    @app.post(f"{API_PREFIX}/measure", response_model=Control, responses=_ERRORS)
    async def measure_url(
        body: MeasureRequest,
        token: Annotated[int, Depends(_authorised)],
        st: Annotated[_State, Depends(_state)],
    ) -> Control:
        """Measure the URL from this server's network, and the probe's addresses too."""
        deadline = min(body.deadline or config.max_deadline, config.max_deadline)
        async with _admitted(st, token):
            try:
                return await measure(body, st.ctx, st.resolvers, deadline)
            except Exception:  # a bug of ours: the probe gets a failure, the operator a traceback
                log.exception("measuring %s failed", body.url)
                return Control(source="server", failure="http.error")

    @app.get(f"{OONI_PREFIX}/", responses={401: _ERRORS[401]})
    async def ooni_health(token: Annotated[int, Depends(_authorised)]) -> JSONResponse:
        """OONI's test-helper health check, answered as oohelperd does."""
        return JSONResponse({"message": "Hello OONItarian!"}, headers=_SERVER)

    @app.post(f"{OONI_PREFIX}/", response_model=THResponse, responses=_ERRORS)
    async def ooni_measure(
        th: THRequest,
        token: Annotated[int, Depends(_authorised)],
        st: Annotated[_State, Depends(_state)],
    ) -> JSONResponse:
        """OONI's Web Connectivity test-helper protocol over the same measurement."""
        try:
            body = ooni_request(th)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        async with _admitted(st, token):
            try:
                control = await measure(body, st.ctx, st.resolvers, config.max_deadline)
            except Exception:  # a bug of ours: the probe gets a failure, the operator a traceback
                log.exception("measuring %s failed", body.url)
                control = Control(source="server", failure="http.error")
        answer = to_response(control, body.url, body.addresses)
        return JSONResponse(answer.model_dump(mode="json"), headers=_SERVER)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    app.add_middleware(_BodyLimit, limit=config.max_request_bytes)
    return app


def uvicorn_options(tls: tuple[Path, Path] | None) -> dict[str, Any]:
    """How uvicorn serves the application, in this process or in each worker process."""
    return {
        "ssl_certfile": str(tls[0]) if tls else None,
        "ssl_keyfile": str(tls[1]) if tls else None,
        "log_level": "warning",
        "access_log": False,
        "server_header": False,
        "limit_concurrency": 1024,  # per process
        "timeout_keep_alive": SERVER_KEEP_ALIVE,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
    }


def serve(
    config: ServerConfig,
    host: str,
    port: int,
    tls: tuple[Path, Path] | None = None,
    workers: int = 1,
    on_event: Callable[[str], None] | None = None,
) -> None:
    """Run the server until interrupted, over TLS when ``tls`` gives (certificate, key) files,
    in this process or (``workers`` over 1) in that many processes on one socket (see
    ``censorcheck.control.workers``), telling ``on_event`` of a worker restarted. Client
    addresses are never logged: they are people."""
    if workers > 1:
        from censorcheck.control.workers import supervise

        supervise(config, host, port, tls, workers, on_event or (lambda _: None))
        return
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, **uvicorn_options(tls))
