"""OONI's data format templates filled from our observations: DNS queries (df-002), TCP connects
(df-005), TLS handshakes (df-006) and HTTP requests (df-001).

Each function turns one observation into one entry (a TLS handshake into several: the repeat made
because it failed follows it) with the tags and transaction id the caller gives; which tags, which
ids, and in what order the entries go, is the measurement's business. Times are OONI's: ``t0`` and
``t`` in seconds from the start of the measurement (:class:`Ledger`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from censorcheck.models import (
    Certificate,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    QUICHandshake,
    TCPConnect,
    TLSHandshake,
)
from censorcheck.results.ooni.vocabulary import RCODES, endpoint, ooni_failure, resolver

Tags = list[str]


class Ledger:
    """The running numbers of one measurement: OONI's transaction ids, and whether any time had
    to be guessed.

    One transaction is one DNS round trip, or one connection with everything it carried (its
    connect, its handshake, the requests sent over it): entries that share a key share an id.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[object, ...], int] = {}
        self._last = 0
        self.guessed = False

    def new(self) -> int:
        """A transaction id of its own."""
        self._last += 1
        return self._last

    def of(self, *key: object) -> int:
        """The id of the transaction ``key`` names; a new one the first time."""
        if key not in self._ids:
            self._ids[key] = self.new()
        return self._ids[key]

    def times(self, t0: float | None, duration: float) -> dict[str, float]:
        """``t0`` and ``t`` of an operation that began ``t0`` seconds into the measurement and
        took ``duration``. A document before schema 1.6 knows only durations: its operations
        are put at the start, and ``guessed`` says so."""
        if t0 is None:
            self.guessed = True
            t0 = 0.0
        return {"t0": round(t0, 6), "t": round(t0 + duration, 6)}


# --- DNS -----------------------------------------------------------------------------------


def _answers(query: DNSQuery) -> list[dict[str, Any]]:
    answer = query.answer
    if answer is None:
        return []
    found: list[dict[str, Any]] = [
        {"answer_type": "CNAME", "hostname": name, "ttl": None} for name in answer.cnames
    ]
    # An HTTPS query's addresses are its records' hints, and its protocols are ALPN answers, as
    # OONI's probe writes an HTTPS lookup.
    hints = [a for r in answer.records for a in (*r.ipv4hint, *r.ipv6hint)]
    for address in (*answer.addresses, *hints):
        if ipaddress.ip_address(address).version == 6:
            found.append({"answer_type": "AAAA", "ipv6": address, "ttl": answer.ttl})
        else:
            found.append({"answer_type": "A", "ipv4": address, "ttl": answer.ttl})
    alpns = dict.fromkeys(p for r in answer.records for p in r.alpn)
    found += [{"answer_type": "ALPN", "alpn": p, "ttl": None} for p in alpns]
    return found


def query_entry(query: DNSQuery, tags: Tags, ledger: Ledger) -> dict[str, Any]:
    """One query as an entry of ``queries``: a transaction of its own."""
    engine, address = resolver(query.resolver)
    entry: dict[str, Any] = {
        "answers": _answers(query),
        "engine": engine,
        "failure": ooni_failure(query.failure),
        "hostname": query.hostname,
        "query_type": query.qtype,
        "resolver_address": address,
        "resolver_hostname": None,
        "resolver_port": None,
        **ledger.times(query.t0, query.t),
        "tags": tags,
        "transaction_id": ledger.new(),
    }
    if query.answer is not None and query.answer.rcode in RCODES:
        entry["rcode"] = RCODES[query.answer.rcode]
    if query.late_answers:
        # OONI has no place for a second, different answer to one query; it is the evidence of
        # injection, so it is kept beside the first.
        entry["x_censorcheck_late_answers"] = [a.model_dump() for a in query.late_answers]
    return entry


def lookup_failure(queries: Sequence[DNSQuery]) -> str | None:
    """The failure of a lookup made of several queries: none when any query gave an address."""
    if not queries or any(q.answer is not None and q.answer.addresses for q in queries):
        return None
    failed = next((q.failure for q in queries if q.failure is not None), None)
    # Every answer was NOERROR yet none had an address: OONI's name for that.
    return ooni_failure(failed) if failed is not None else "dns_no_answer"


def addresses(queries: Iterable[DNSQuery]) -> list[str]:
    """Every address the queries answered, once each, in the order first seen."""
    found: list[str] = []
    for q in queries:
        for address in q.answer.addresses if q.answer is not None else ():
            if address not in found:
                found.append(address)
    return found


# --- TCP, TLS ------------------------------------------------------------------------------


def tcp_entry(connect: TCPConnect, tags: Tags, ledger: Ledger, tid: int) -> dict[str, Any]:
    """One connection attempt as an entry of ``tcp_connect``, in transaction ``tid``."""
    failure = ooni_failure(connect.failure)
    return {
        "ip": connect.address,
        "port": connect.port,
        "status": {"success": failure is None, "failure": failure, "blocked": None},
        **ledger.times(connect.t0, connect.t),
        "tags": tags,
        "transaction_id": tid,
    }


def connect_event(connect: TCPConnect, tags: Tags, tid: int) -> dict[str, Any] | None:
    """The connect as a network event (df-008), when the document says when it began."""
    if connect.t0 is None:
        return None
    return {
        "address": endpoint(connect.address, connect.port),
        "failure": ooni_failure(connect.failure),
        "operation": "connect",
        "proto": "tcp",
        "t0": round(connect.t0, 6),
        "t": round(connect.t0 + connect.t, 6),
        "tags": tags,
        "transaction_id": tid,
    }


def _der(certificates: Iterable[Certificate]) -> list[dict[str, str]]:
    # OONI's BinaryData; a certificate whose DER was not kept is left out, not faked.
    return [{"format": "base64", "data": c.der} for c in certificates if c.der is not None]


def tls_entries(
    handshake: TLSHandshake, tags: Tags, ledger: Ledger, tid: int
) -> Iterator[dict[str, Any]]:
    """The handshake, then the repeat made because it failed (a connection of its own). The
    neutral-SNI handshake is not one: it named another host (:func:`neutral_tls_entries`)."""
    yield {
        "network": "tcp",
        "address": endpoint(handshake.address, handshake.port),
        "server_name": handshake.sni,
        "failure": ooni_failure(handshake.failure),
        "negotiated_protocol": handshake.alpn or "",
        "tls_version": handshake.version or "",
        "cipher_suite": handshake.cipher or "",
        "no_tls_verify": False,
        "peer_certificates": _der(handshake.chain),
        "x_censorcheck_chain": [c.model_dump(exclude={"der"}) for c in handshake.chain],
        **ledger.times(handshake.t0, handshake.t),
        "tags": tags,
        "transaction_id": tid,
    }
    if handshake.repeat is not None:
        extra = [t for t in tags if t.startswith("depth=")] + ["fetch_body=false"]
        yield from tls_entries(
            handshake.repeat, [*extra, "censorcheck_repeat"], ledger, ledger.new()
        )


def neutral_tls_entries(
    handshake: TLSHandshake, tags: Tags, ledger: Ledger
) -> list[dict[str, Any]]:
    """The neutral-SNI handshakes made because ``handshake`` (or its repeat) failed: the same
    address asked for another name, kept apart from OONI's ``tls_handshakes``."""
    extra = [t for t in tags if t.startswith("depth=")] + ["fetch_body=false"]
    found: list[dict[str, Any]] = []
    for seen in (handshake, handshake.repeat):
        if seen is not None and seen.neutral is not None:
            tagged = [*extra, "censorcheck_neutral_sni"]
            found += tls_entries(seen.neutral, tagged, ledger, ledger.new())
    return found


def quic_entries(
    handshake: QUICHandshake, tags: Tags, ledger: Ledger, neutral: bool = False
) -> Iterator[dict[str, Any]]:
    """A QUIC handshake in the shape OONI gives TLS and QUIC handshakes alike (over udp). Its
    neutral-SNI handshake is not yielded (:func:`neutral_quic_entries`)."""
    yield {
        "network": "udp",
        "address": endpoint(handshake.address, handshake.port),
        "server_name": handshake.sni,
        "failure": ooni_failure(handshake.failure),
        "negotiated_protocol": handshake.alpn or "",
        "tls_version": "TLSv1.3",  # QUIC carries no other
        "cipher_suite": "",  # not recorded for QUIC
        "no_tls_verify": neutral,
        "peer_certificates": _der(handshake.chain),
        "x_censorcheck_chain": [c.model_dump(exclude={"der"}) for c in handshake.chain],
        "x_censorcheck_quic_version": handshake.version,
        **ledger.times(handshake.t0, handshake.t),
        "tags": tags,
        "transaction_id": ledger.new(),
    }


def neutral_quic_entries(handshake: QUICHandshake, tags: Tags, ledger: Ledger) -> list[Any]:
    """The neutral-SNI QUIC handshake made because ``handshake`` failed (its chain unchecked)."""
    if handshake.neutral is None:
        return []
    extra = [t for t in tags if t.startswith("depth=")] + ["censorcheck_neutral_sni"]
    return list(quic_entries(handshake.neutral, extra, ledger, neutral=True))


# --- HTTP ----------------------------------------------------------------------------------


def first_headers(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """A header map keeping the first value of a repeated header, as df-001 says."""
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    return first


def _response(response: HTTPResponse | None) -> dict[str, Any]:
    if response is None:
        # How OONI writes a request that got no response.
        return {
            "body": "",
            "body_is_truncated": False,
            "code": 0,
            "headers": {},
            "headers_list": [],
        }
    # The prefix kept is shorter than the body when the read limit or keep_body cut it.
    cut = len(response.body_prefix.encode("utf-8")) < response.body_length
    return {
        "body": response.body_prefix,
        "body_is_truncated": response.body_truncated or cut,
        "code": response.status,
        "headers": first_headers(response.headers),
        "headers_list": [[name, value] for name, value in response.headers],
    }


def request_entry(hop: HTTPHop, tags: Tags, ledger: Ledger, tid: int) -> dict[str, Any]:
    """One hop of a fetch as an entry of ``requests``, in the transaction of its connection."""
    entry: dict[str, Any] = {"network": "tcp"}
    if hop.address is not None:
        entry["address"] = endpoint(hop.address, default_port(hop.url))
    if hop.tls is not None and hop.tls.alpn:
        entry["alpn"] = hop.tls.alpn
    return {
        **entry,
        "failure": ooni_failure(hop.failure),
        "request": {
            "body": "",
            "body_is_truncated": False,
            "headers": first_headers(hop.request_headers),
            "headers_list": [[name, value] for name, value in hop.request_headers],
            "method": "GET",
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "url": hop.url,
            "x_transport": "tcp",
        },
        "response": _response(hop.response),
        **ledger.times(hop.t0, hop.t),
        "tags": tags,
        "transaction_id": tid,
    }


def default_port(url: str) -> int:
    """The port a URL names, or its scheme's usual one."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return port or (443 if parts.scheme == "https" else 80)


def final_response(fetch: HTTPFetch | None) -> HTTPResponse | None:
    """The response at the end of the redirect chain, if the fetch got that far."""
    return fetch.hops[-1].response if fetch is not None and fetch.hops else None
