"""The lab's web sites: one HTTP/1.1 request read with h11, answered the way a Service behaves.

Every response carries ``Connection: close``: the lab serves one request per connection, which is
all a probe needs and keeps a connection's lifetime easy to bound.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11

from censorcheck.lab.scenarios import WARNING_NAME, Service

BLOCKPAGE_MARKER = "censorcheck-lab-blockpage"
BLOCKPAGE_TITLE = "Access restricted"
BLOCKPAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{BLOCKPAGE_MARKER}">
<title>{BLOCKPAGE_TITLE}</title>
</head>
<body class="{BLOCKPAGE_MARKER}">
<h1>{BLOCKPAGE_TITLE}</h1>
<p>Access to this resource has been restricted by decision of the competent authority.</p>
</body>
</html>
""".encode()

# An ISP's own wording, as many censors serve: nothing in it that a fingerprint could know, and a
# title and markup unlike the lab's blockpage, so only a comparison with the site can tell.
NOTICE_TITLE = "Notice"


def notice(site: str) -> bytes:
    """A made-up ISP's notice that ``site`` is unavailable."""
    return f"""<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{NOTICE_TITLE}</title>
<style>body {{ font-family: sans-serif; }} .box {{ border: 1px solid #c00; }}</style>
</head>
<body>
<div class="box">
<h2>Steppe Telecom</h2>
<p>Dear subscriber, the resource <b>{html.escape(site)}</b> cannot be opened at the moment.</p>
<p>For questions, call our support line on 160.</p>
</div>
</body>
</html>
""".encode()


HUGE_SIZE = 64 * 1024 * 1024
CHUNK_SIZE = 64 * 1024
TARPIT_LENGTH = 10 * 1024 * 1024  # promised, never delivered
TARPIT_INTERVAL = 0.5
TARPIT_LIMIT = 120.0
# The slow site: 10 chunks of 16 KiB, one every 0.12 s (about 130 kB/s, 1.2 s for the body).
SLOW_CHUNK = 16 * 1024
SLOW_CHUNKS = 10
SLOW_PACE = 0.12
READ_SIZE = 64 * 1024
WRITE_TIMEOUT = 10.0

_HTML = "text/html; charset=utf-8"
# One shared chunk: the huge body is this, over and over, and never exists whole in memory.
_LINE = b"censorcheck lab filler: a large body, of which a probe reads a bounded prefix\n"
_FILLER = (_LINE * (CHUNK_SIZE // len(_LINE) + 1))[:CHUNK_SIZE]


def _title(name: str) -> str:
    return f"Lab site: {html.escape(name)}"


def _top(name: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_title(name)}</title>
</head>
<body>
"""


# The dynamic site: a fixed article, and what real sites change on every request: a token, a
# timestamp, and a block of headlines that differs in choice and number, so that two fetches differ
# in hash and in length (by up to ~15%) while the title and most of the markup stay.
_ARTICLE = (
    "The regional assembly met on Tuesday to discuss the budget for roads, schools and clinics "
    "in the districts along the river, where spring floods damaged several bridges last year.",
    "Members agreed that repairs to the northern crossing should come first, since the detour "
    "adds almost an hour to the journey of every lorry carrying grain to the railway station.",
    "The finance committee will publish its estimates next month. Until then, the mayors of "
    "the smaller towns have been asked to list the works they consider most urgent.",
    "Teachers' unions welcomed the promise of new heating in village schools but warned that "
    "the money set aside would cover barely half of the buildings that need it before winter.",
    "A public hearing on the plan is expected in the autumn, and residents may send written "
    "comments to the assembly's office or leave them at any district library.",
    "Farmers from the western valleys asked for the irrigation canals to be cleared as well, "
    "pointing out that silt left by the floods has already cut the water reaching their fields.",
    "The regional governor said the request would be considered together with the bridges, "
    "and that engineers would visit the canals in May to estimate the cost of the work.",
    "Several members raised the question of the old hospital, closed since the winter, whose "
    "patients now travel to the capital for treatment that used to be available at home.",
)


def page(name: str, extra: str = "") -> bytes:
    """A site's HTML page, titled with the name it was requested under. It carries an article,
    as a real site's front page does: a censor's notice is a few hundred bytes, a site's page
    some kilobytes, and a lab whose sites were smaller than its notices would test nothing."""
    article = "\n".join(f"<p>{text}</p>" for text in _ARTICLE)
    return f"""{_top(name)}<h1>{_title(name)}</h1>
<p>This site is served by the censorcheck lab on a loopback address.</p>
{article}
{extra}</body>
</html>
""".encode()


_HEADLINES = (
    "Weather: a cold front brings snow to the mountain passes overnight",
    "Markets: the grain price steadies after a week of heavy trading",
    "Culture: the national theatre opens its season with a new comedy",
    "Sport: the city club wins its third match in a row at home",
    "Transport: night buses return to the eastern suburbs from Monday",
    "Health: clinics extend their opening hours during the flu season",
    "Science: students build a weather station on the school roof",
    "Letters: readers on parking, noise and the price of bread",
)


def dynamic_page(name: str) -> bytes:
    """A page whose token, timestamp and headline block change on every request."""
    start = secrets.randbelow(len(_HEADLINES))
    count = 2 + secrets.randbelow(6)
    headlines = [_HEADLINES[(start + i) % len(_HEADLINES)] for i in range(count)]
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    latest = "".join(f"<li>{html.escape(h)}</li>\n" for h in headlines)
    extra = (
        f'<h2>Latest</h2>\n<ul class="latest">\n{latest}</ul>\n'
        f"<p>Token {secrets.token_hex(16)}, generated at {now}.</p>\n"
    )
    return page(name, extra)


def split_host(value: str) -> tuple[str, bool]:
    """A Host header's name, lower-cased, and whether it carried an explicit port."""
    if value.startswith("["):  # an IPv6 literal keeps its brackets, as in a URL
        end = value.find("]")
        if end < 0:
            return value.lower(), False
        return value[: end + 1].lower(), value[end + 1 :].startswith(":")
    name, _, port = value.partition(":")
    return name.lower().rstrip("."), bool(port)


async def receive_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The next request, or None if the client leaves first. Raises h11.RemoteProtocolError."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Request):
            return event
        else:
            return None


async def reject(conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
    """Answer a request h11 could not parse with a bare error status, if still possible."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = b"bad request\n"
    headers = [("content-type", "text/plain"), ("content-length", str(len(body)))]
    head = conn.send(_response(status, [*headers, ("connection", "close")]))
    writer.write(head + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
    await writer.drain()


class Exchange:
    """One request and its response, framed by h11, on one connection."""

    def __init__(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        default_name: str,
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._head_only = request.method == b"HEAD"
        target = request.target.decode("ascii")  # h11 accepts nothing else in a request line
        self.path = target if target.startswith("/") else "/"
        host = next((v for k, v in request.headers if k == b"host"), b"")
        # h11 lets bytes above 0x7f through in headers; they could not go out in a Location.
        self.name, self.explicit_port = split_host(_ascii(host))
        if not self.name:
            self.name, self.explicit_port = default_name, False
        # Headers every response of this exchange carries, such as an HTTP/3 advertisement.
        self.always: list[tuple[str, str]] = []

    @property
    def complete(self) -> bool:
        """Whether the whole response went out, so the connection may close gracefully."""
        return self._conn.our_state is h11.MUST_CLOSE

    def client_gone(self) -> bool:
        return self._reader.at_eof() or self._writer.is_closing()

    def _head(self, status: int, length: int, headers: Sequence[tuple[str, str]]) -> bytes:
        fields = [*headers, *self.always, ("content-length", str(length)), ("connection", "close")]
        return self._conn.send(_response(status, fields))

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (("content-type", _HTML),),
    ) -> None:
        """Send a whole small response in one write."""
        head = self._head(status, len(body), headers)
        data = b"" if self._head_only else self._conn.send(h11.Data(data=body))
        self._writer.write(head + data + self._conn.send(h11.EndOfMessage()))
        await self._writer.drain()

    async def stream(self, length: int, chunks: Iterator[bytes], pace: float = 0.0) -> None:
        """Send a 200 whose body comes from ``chunks``, waiting ``pace`` seconds before each one."""
        self._writer.write(self._head(200, length, [("content-type", _HTML)]))
        if self._head_only:
            self._writer.write(self._conn.send(h11.EndOfMessage()))
            await self._writer.drain()
            return
        sent = 0
        for chunk in chunks:
            if pace:
                await asyncio.sleep(pace)
            # Writing into a dead transport only earns warnings; the client left, so stop.
            if self.client_gone():
                raise ConnectionResetError("client went away")
            self._writer.writelines(
                self._conn.send_with_data_passthrough(h11.Data(data=chunk)) or []
            )
            # A client that takes nothing for this long has gone, whatever TCP says (Python 3.10
            # keeps a TLS close_notify to itself while our writes are blocked).
            await asyncio.wait_for(self._writer.drain(), WRITE_TIMEOUT)
            # drain() returns without yielding while the buffer is low, and a TLS transport learns
            # of a lost connection only in a later callback: yield so that news arrives in time.
            await asyncio.sleep(0)
            sent += len(chunk)
        if sent == length:
            self._writer.write(self._conn.send(h11.EndOfMessage()))
            await self._writer.drain()


async def serve(service: Service, exchange: Exchange, *, tls: bool, https_port: int) -> None:
    """Answer ``exchange`` as a host running ``service`` does, for everyone."""
    if service == "blockpage" and exchange.name == WARNING_NAME:
        site = parse_qs(urlsplit(exchange.path).query).get("site", ["this site"])[0]
        await exchange.respond(200, notice(site))
    elif service == "blockpage":
        await exchange.respond(200, BLOCKPAGE)
    elif service == "notice":
        await exchange.respond(200, notice(exchange.name))
    elif service == "redirect" and not tls:
        port = f":{https_port}" if exchange.explicit_port else ""
        location = f"https://{exchange.name}{port}{exchange.path}"
        headers = [("content-type", "text/plain"), ("location", location)]
        await exchange.respond(301, f"moved to {location}\n".encode(), headers)
    elif service == "dynamic":
        await exchange.respond(200, dynamic_page(exchange.name))
    elif service == "huge":
        await exchange.stream(HUGE_SIZE, _huge_body(exchange.name))
    elif service == "slow":
        chunks = (_FILLER[:SLOW_CHUNK] for _ in range(SLOW_CHUNKS))
        await exchange.stream(SLOW_CHUNK * SLOW_CHUNKS, chunks, pace=SLOW_PACE)
    elif service == "tarpit":
        trickle = _one_byte_at_a_time(page(exchange.name), int(TARPIT_LIMIT / TARPIT_INTERVAL))
        await exchange.stream(TARPIT_LENGTH, trickle, pace=TARPIT_INTERVAL)
    else:  # static, selfsigned, and redirect's https side
        await exchange.respond(200, page(exchange.name))


def h3_page(authority: str, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What a static site's HTTP/3 front end answers: the page its HTTPS side serves."""
    name, _ = split_host(authority)
    return 200, [(b"content-type", _HTML.encode())], page(name)


def slow_h3_page(authority: str, path: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The slow site's HTTP/3 answer: its body, which the server paces (``SLOW_PACE``)."""
    return 200, [(b"content-type", _HTML.encode())], _FILLER[:SLOW_CHUNK] * SLOW_CHUNKS


def _response(status: int, headers: Sequence[tuple[str, str]]) -> h11.Response:
    return h11.Response(status_code=status, headers=list(headers), reason=HTTPStatus(status).phrase)


def _ascii(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return ""


def _huge_body(name: str) -> Iterator[bytes]:
    top = f"{_top(name)}<pre>\n".encode()[:CHUNK_SIZE]
    yield top + _FILLER[len(top) :]
    for _ in range(HUGE_SIZE // CHUNK_SIZE - 1):
        yield _FILLER


def _one_byte_at_a_time(body: bytes, count: int) -> Iterator[bytes]:
    for i in range(count):
        yield body[i % len(body) : i % len(body) + 1]
