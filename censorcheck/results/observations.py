"""``export --shape observations``: the results as OONI's web observations, one row per
(measurement, address) joined across DNS, TCP, TLS and HTTP, with OONI's column names and types.

The columns are a subset of ooni/data's ``WebObservation`` (its ``obs_web`` table), named and typed
so that an analyst can ``UNION ALL BY NAME`` them with OONI's own observations of the same
networks. Failures are in OONI's vocabulary (ooni/spec df-007), times are UTC-zoned. What we do
not measure is null, never made up: OONI's ``*_t`` (time since the measurement started) has no
counterpart in our records, which keep each operation's duration, given here in OONI's duration
columns (``tls_handshake_time``, ``http_runtime``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from censorcheck.measure.bogons import IPNetwork, is_bogon, networks
from censorcheck.measure.failures import to_ooni
from censorcheck.models import DNSQuery, HTTPHop, Result, Run, TLSHandshake, VantageInfo
from censorcheck.results.ooni.measurement import measurement_id, report_id
from censorcheck.results.ooni.measurement import measurement_uid as ooni_measurement_uid
from censorcheck.results.ooni.vocabulary import probe_cc

TEST_NAME = "web_connectivity"
TEST_VERSION = "0.5.0-censorcheck"
_ENGINES = {"udp": "udp", "tcp": "tcp", "tls": "dot", "https": "doh", "system": "getaddrinfo"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB's; Parquet keeps it


COLUMNS: tuple[Column, ...] = tuple(
    Column(name, kind)
    for name, kind in (
        ("measurement_uid", "VARCHAR"),
        ("input", "VARCHAR"),
        ("report_id", "VARCHAR"),
        ("measurement_start_time", "TIMESTAMPTZ"),
        ("software_name", "VARCHAR"),
        ("software_version", "VARCHAR"),
        ("test_name", "VARCHAR"),
        ("test_version", "VARCHAR"),
        ("bucket_date", "VARCHAR"),
        ("probe_asn", "BIGINT"),
        ("probe_cc", "VARCHAR"),
        ("probe_as_org_name", "VARCHAR"),
        ("probe_as_cc", "VARCHAR"),
        ("network_type", "VARCHAR"),
        ("resolver_asn_probe", "BIGINT"),
        ("resolver_as_org_name_probe", "VARCHAR"),
        ("observation_idx", "INTEGER"),
        ("created_at", "TIMESTAMPTZ"),
        ("hostname", "VARCHAR"),
        ("transaction_id", "INTEGER"),
        ("ip", "VARCHAR"),
        ("port", "INTEGER"),
        ("ip_is_bogon", "BOOLEAN"),
        ("dns_query_type", "VARCHAR"),
        ("dns_failure", "VARCHAR"),
        ("dns_engine", "VARCHAR"),
        ("dns_engine_resolver_address", "VARCHAR"),
        ("dns_answer_type", "VARCHAR"),
        ("dns_answer", "VARCHAR"),
        ("dns_t", "DOUBLE"),
        ("tcp_failure", "VARCHAR"),
        ("tcp_success", "BOOLEAN"),
        ("tcp_t", "DOUBLE"),
        ("tls_failure", "VARCHAR"),
        ("tls_server_name", "VARCHAR"),
        ("tls_version", "VARCHAR"),
        ("tls_cipher_suite", "VARCHAR"),
        ("tls_is_certificate_valid", "BOOLEAN"),
        ("tls_end_entity_certificate_subject", "VARCHAR"),
        ("tls_end_entity_certificate_issuer", "VARCHAR"),
        ("tls_certificate_chain_length", "INTEGER"),
        ("tls_handshake_time", "DOUBLE"),
        ("tls_t", "DOUBLE"),
        ("http_request_url", "VARCHAR"),
        ("http_network", "VARCHAR"),
        ("http_alpn", "VARCHAR"),
        ("http_failure", "VARCHAR"),
        ("http_request_method", "VARCHAR"),
        ("http_runtime", "DOUBLE"),
        ("http_response_body_length", "BIGINT"),
        ("http_response_status_code", "INTEGER"),
        ("http_t", "DOUBLE"),
        ("probe_analysis", "VARCHAR"),
    )
)
NAMES = tuple(c.name for c in COLUMNS)


def _moment(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def measurement_uid(run: Run, result: Result) -> str:
    """The uid the OONI export gives the same measurement, so that the two exports join on it:
    stable for a (run, vantage, target), so a re-export joins too."""
    vantage = _vantage(run, result)
    uid = measurement_id(run.run_id, vantage.name, result.target.url)
    return ooni_measurement_uid(result.started_at, probe_cc(vantage), uid)


def _public(run: Run) -> tuple[IPNetwork, ...]:
    # The run's --treat-as-public networks count as routable here as in its verdicts, so that a
    # lab's or a test network's addresses are not flagged bogons in one place and not the other.
    listed = run.settings.get("treat_as_public")
    try:
        return networks(str(c) for c in listed) if isinstance(listed, list) else ()
    except ValueError:
        return ()


def _vantage(run: Run, result: Result) -> VantageInfo:
    return next((v for v in run.vantages if v.name == result.vantage), run.vantage)


def _engine(uri: str) -> tuple[str, str]:
    scheme, _, rest = uri.partition("://")
    engine = _ENGINES.get(scheme.lower() if rest else uri, "unknown")
    return engine, ("" if uri == "system" else rest.split("/", 1)[0] if engine != "doh" else uri)


def _dns(query: DNSQuery, answer: str | None) -> dict[str, Any]:
    engine, address = _engine(query.resolver)
    return {
        "dns_query_type": query.qtype,
        "dns_failure": to_ooni(query.failure),
        "dns_engine": engine,
        "dns_engine_resolver_address": address,
        "dns_answer_type": None if answer is None else ("AAAA" if ":" in answer else "A"),
        "dns_answer": answer,
    }


def _tls(handshake: TLSHandshake) -> dict[str, Any]:
    leaf = handshake.chain[0] if handshake.chain else None
    return {
        "tls_failure": to_ooni(handshake.failure),
        "tls_version": handshake.version,
        "tls_cipher_suite": handshake.cipher,
        "tls_is_certificate_valid": handshake.trusted,
        "tls_end_entity_certificate_subject": leaf.subject if leaf else None,
        "tls_end_entity_certificate_issuer": leaf.issuer if leaf else None,
        "tls_certificate_chain_length": len(handshake.chain) if handshake.chain else None,
        "tls_handshake_time": handshake.t,
    }


def _parts(result: Result) -> Iterator[dict[str, Any]]:
    """One dict per observation of ``result``, before the measurement's own columns."""
    host = result.target.domain
    answered: dict[str, tuple[DNSQuery, str]] = {}
    for query in result.dns:
        if query.hostname != host:
            continue
        addresses = [a for ans in [query.answer, *query.late_answers] if ans for a in ans.addresses]
        if not addresses:
            yield {"hostname": host, **_dns(query, None)}
        for address in addresses:
            answered.setdefault(address, (query, address))
    tls = {(h.address, h.port): h for h in result.tls}
    first = result.http.hops[0] if result.http and result.http.hops else None
    fetched = False
    connected: set[str] = set()
    for tcp in result.tcp:
        row: dict[str, Any] = {"hostname": host, "ip": tcp.address, "port": tcp.port}
        if tcp.address in answered:
            row.update(_dns(*answered[tcp.address]))
        connected.add(tcp.address)
        if tcp.skipped is None:  # a connection never tried (a bogon, no IPv6) has no outcome
            row.update(tcp_failure=to_ooni(tcp.failure), tcp_success=tcp.failure is None)
        if (handshake := tls.get((tcp.address, tcp.port))) is not None:
            row.update(_tls(handshake), tls_server_name=host)
        if first is not None and not fetched and first.address == tcp.address:
            row.update(_http(first))
            fetched = True
        yield row
    for address, (query, _) in answered.items():
        if address not in connected:
            yield {"hostname": host, "ip": address, **_dns(query, address)}
    if first is not None and not fetched:
        yield {"hostname": host, **_http(first)}


def _http(hop: HTTPHop) -> dict[str, Any]:
    response = hop.response
    alpn = None
    if response is not None and response.protocol is not None:
        alpn = "h2" if response.protocol == "HTTP/2" else "http/1.1"
    return {
        "http_request_url": hop.url,
        "http_network": "tcp",
        "http_alpn": alpn,
        "http_failure": to_ooni(hop.failure),
        "http_request_method": "GET",
        "http_runtime": hop.t,
        "http_response_body_length": response.body_length if response else None,
        "http_response_status_code": response.status if response else None,
    }


def rows(runs: Iterable[Run]) -> Iterator[tuple[Any, ...]]:
    """The observation rows of every result of ``runs``, as tuples in ``NAMES`` order."""
    for run in runs:
        public = _public(run)
        for result in run.results:
            vantage = _vantage(run, result)
            resolvers = vantage.network.resolvers if vantage.network else []
            verdict = result.verdict
            common = {
                "measurement_uid": measurement_uid(run, result),
                "input": result.target.url,
                "report_id": report_id(run, vantage),
                "measurement_start_time": _moment(result.started_at),
                "software_name": "censorcheck",
                "software_version": run.tool.version,
                "test_name": TEST_NAME,
                "test_version": TEST_VERSION,
                "bucket_date": f"{_moment(result.started_at):%Y-%m-%d}",
                "probe_asn": vantage.asn or 0,
                "probe_cc": (vantage.country or "ZZ").upper(),
                "probe_as_org_name": vantage.network.as_name if vantage.network else None,
                "probe_as_cc": vantage.network.detected_country if vantage.network else None,
                "network_type": vantage.network_type,
                "resolver_asn_probe": resolvers[0].asn if resolvers else None,
                "resolver_as_org_name_probe": resolvers[0].as_name if resolvers else None,
                "created_at": _moment(run.finished_at),
                "probe_analysis": f"{verdict.status}:{verdict.outcome}",
            }
            parts = list(_parts(result)) or [{"hostname": result.target.domain}]
            for index, part in enumerate(parts, start=1):
                row = {**common, **part, "observation_idx": index}
                if row.get("ip"):
                    row["ip_is_bogon"] = is_bogon(row["ip"], public)
                yield tuple(row.get(name) for name in NAMES)
