"""OONI's data format templates filled from our observations: DNS queries (df-002), TCP connects
(df-005), TLS handshakes (df-006) and HTTP requests (df-001).

Each function turns one observation into one entry (a TLS handshake into several: the ones made
because it failed follow it) with the tags the caller gives; which tags, and in what order the
entries go, is the measurement's business.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from censorcheck.models import (
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


# --- DNS -----------------------------------------------------------------------------------


def _answers(query: DNSQuery) -> list[dict[str, Any]]:
    answer = query.answer
    if answer is None:
        return []
    found: list[dict[str, Any]] = [
        {"answer_type": "CNAME", "hostname": name, "ttl": None} for name in answer.cnames
    ]
    for address in answer.addresses:
        if ipaddress.ip_address(address).version == 6:
            found.append({"answer_type": "AAAA", "ipv6": address, "ttl": answer.ttl})
        else:
            found.append({"answer_type": "A", "ipv4": address, "ttl": answer.ttl})
    return found


def query_entry(query: DNSQuery, tags: Tags) -> dict[str, Any]:
    """One query as an entry of ``queries``."""
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
        "t": query.t,
        "tags": tags,
    }
    if query.answer is not None and query.answer.rcode in RCODES:
        entry["rcode"] = RCODES[query.answer.rcode]
    if query.late_answers:
        # OONI has no place for a second, different answer to one query; it is the evidence of
        # injection, so it is kept beside the first.
        entry["censorcheck_late_answers"] = [a.model_dump() for a in query.late_answers]
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


def tcp_entry(connect: TCPConnect, tags: Tags) -> dict[str, Any]:
    """One connection attempt as an entry of ``tcp_connect``."""
    failure = ooni_failure(connect.failure)
    return {
        "ip": connect.address,
        "port": connect.port,
        "status": {"success": failure is None, "failure": failure, "blocked": None},
        "t": connect.t,
        "tags": tags,
    }


def tls_entries(handshake: TLSHandshake, tags: Tags) -> Iterator[dict[str, Any]]:
    """The handshake, then the ones made because it failed (the same again, a neutral SNI)."""
    yield {
        "address": endpoint(handshake.address, handshake.port),
        "server_name": handshake.sni,
        "failure": ooni_failure(handshake.failure),
        "negotiated_protocol": handshake.alpn or "",
        "tls_version": handshake.version or "",
        "cipher_suite": handshake.cipher or "",
        "no_tls_verify": False,
        # We keep no DER of the certificates, so OONI's field stays empty; their summary follows.
        "peer_certificates": [],
        "censorcheck_chain": [c.model_dump() for c in handshake.chain],
        "t": handshake.t,
        "tags": tags,
    }
    extra = [t for t in tags if t.startswith("depth=")] + ["fetch_body=false"]
    if handshake.repeat is not None:
        yield from tls_entries(handshake.repeat, [*extra, "censorcheck_repeat"])
    if handshake.neutral is not None:
        yield from tls_entries(handshake.neutral, [*extra, "censorcheck_neutral_sni"])


def quic_entries(
    handshake: QUICHandshake, tags: Tags, neutral: bool = False
) -> Iterator[dict[str, Any]]:
    """A QUIC handshake in the shape OONI gives TLS and QUIC handshakes alike (over udp), then
    the neutral one made because it failed, whose chain was not checked."""
    yield {
        "network": "udp",
        "address": endpoint(handshake.address, handshake.port),
        "server_name": handshake.sni,
        "failure": ooni_failure(handshake.failure),
        "negotiated_protocol": handshake.alpn or "",
        "tls_version": "TLSv1.3",  # QUIC carries no other
        "no_tls_verify": neutral,
        "peer_certificates": [],
        "censorcheck_chain": [c.model_dump() for c in handshake.chain],
        "censorcheck_quic_version": handshake.version,
        "t": handshake.t,
        "tags": tags,
    }
    if handshake.neutral is not None:
        extra = [t for t in tags if t.startswith("depth=")]
        yield from quic_entries(handshake.neutral, [*extra, "censorcheck_neutral_sni"], True)


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


def request_entry(hop: HTTPHop, tags: Tags) -> dict[str, Any]:
    """One hop of a fetch as an entry of ``requests``."""
    return {
        "failure": ooni_failure(hop.failure),
        "request": {
            "body": "",
            "body_is_truncated": False,
            # The result does not record the request's headers.
            "headers": {},
            "headers_list": [],
            "method": "GET",
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "url": hop.url,
        },
        "response": _response(hop.response),
        "t": hop.t,
        "tags": tags,
    }


def final_response(fetch: HTTPFetch | None) -> HTTPResponse | None:
    """The response at the end of the redirect chain, if the fetch got that far."""
    return fetch.hops[-1].response if fetch is not None and fetch.hops else None
