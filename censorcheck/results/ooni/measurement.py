"""One result of a run as one Web Connectivity measurement: the base data format's fields, the ids,
and ``test_keys`` put together from the templates, the control's side and the verdict.

Pure and deterministic: the ids derive from the run, the vantage and the URL, so converting the
same run twice gives the same measurements.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from censorcheck.models import (
    Control,
    HTTPFetch,
    Result,
    Run,
    TCPConnect,
    TLSHandshake,
    VantageInfo,
)
from censorcheck.results.ooni.compare import control_answer, match_keys
from censorcheck.results.ooni.templates import (
    Ledger,
    connect_event,
    default_port,
    final_response,
    lookup_failure,
    neutral_quic_entries,
    neutral_tls_entries,
    query_entry,
    quic_entries,
    request_entry,
    tcp_entry,
    tls_entries,
)
from censorcheck.results.ooni.vocabulary import (
    DATA_FORMAT_VERSION,
    EXTENSIONS,
    REDACTED_PROBE_IP,
    TEST_NAME,
    TEST_VERSION,
    ooni_failure,
    ooni_network_type,
    ooni_time,
    probe_cc,
    verdict_keys,
)

# Fixed so that a measurement's id depends only on the run, the vantage and the URL.
_ID_NAMESPACE = uuid.UUID("0a632c5c-693f-4309-a4bd-238a7ce9caaa")
_REPORT_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def measurement_uid(started_at: str, cc: str, seed: str) -> str:
    """OONI's measurement_uid shape: the measurement's start to the microsecond, the country,
    the test name without underscores, and 16 hex digits (ours from ``seed``, not from a
    collector's upload)."""
    moment = datetime.fromisoformat(started_at.replace("Z", "+00:00")).astimezone(timezone.utc)
    digest = hashlib.sha512(seed.encode()).hexdigest()[:16]
    return f"{moment:%Y%m%d%H%M%S.%f}_{cc}_{TEST_NAME.replace('_', '')}_{digest}"


def measurement_id(run_id: str, vantage: str, url: str) -> str:
    # Newlines cannot occur in any of the three, so no two triples give the same name.
    return str(uuid.uuid5(_ID_NAMESPACE, f"{run_id}\n{vantage}\n{url}"))


def report_id(run: Run, vantage: VantageInfo) -> str:
    """OONI's report id shape (start, test, country, ASN, random part), the random part derived
    from the run id and the vantage: one report per vantage of a run, as OONI has one report per
    network."""
    stamp = datetime.strptime(ooni_time(run.started_at), "%Y-%m-%d %H:%M:%S")
    digest = int.from_bytes(
        hashlib.sha256(f"{run.run_id}\n{vantage.name}".encode()).digest(), "big"
    )
    token = ""
    for _ in range(16):
        digest, index = divmod(digest, len(_REPORT_ID_ALPHABET))
        token += _REPORT_ID_ALPHABET[index]
    cc, asn = probe_cc(vantage), vantage.asn or 0
    return f"{stamp:%Y%m%dT%H%M%SZ}_{TEST_NAME.replace('_', '')}_{cc}_{asn}_n1_{token}"


def _http_failure(result: Result) -> str | None:
    """The failure of the page fetch; when it never started, what stopped it before."""
    if result.http is not None:
        return ooni_failure(result.http.failure)
    # OONI's HTTP step always runs, and fails with whatever the connection met first; ours is
    # not made when no connection could be set up, so that failure is the one to report.
    tried = [t for t in result.tcp if t.skipped is None]
    if result.tls and all(h.failure is not None for h in result.tls):
        return ooni_failure(result.tls[0].failure)
    if tried and all(t.failure is not None for t in tried):
        return ooni_failure(tried[0].failure)
    return lookup_failure([q for q in result.dns if q.hostname == result.target.domain])


def _test_helpers(control: Control, vantage: VantageInfo) -> dict[str, Any]:
    if control.source == "server" and vantage.control_server is not None:
        return {"backend": {"address": vantage.control_server.url, "type": "censorcheck"}}
    if control.source == "ooni" and vantage.control_server is not None:
        return {"backend": {"address": vantage.control_server.url, "type": "https"}}
    if control.source == "vantage":
        name = control.vantage or vantage.control_vantage or ""
        return {"backend": {"address": name, "type": "censorcheck-vantage"}}
    return {}


def _connection(
    ledger: Ledger, depth: int, tcp: TCPConnect | None, address: str | None, url: str
) -> int:
    """The transaction of a hop's connection: the first hop rides the connection the layers
    opened (the same transaction as their connect and handshake); a hop that dialled is its own.
    """
    if tcp is None and address is not None and depth == 0:
        return ledger.of("connection", address, default_port(url))
    return ledger.new()


class _Entries:
    """The lists of ``test_keys`` being filled, with the measurement's ledger."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.queries: list[dict[str, Any]] = []
        self.tcp: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.tls: list[dict[str, Any]] = []
        self.neutral_tls: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.neutral_requests: list[dict[str, Any]] = []

    def connect(self, seen: TCPConnect, tags: list[str], tid: int) -> None:
        if seen.skipped is not None:
            return  # never attempted: nothing happened on the network
        self.tcp.append(tcp_entry(seen, tags, self.ledger, tid))
        if (event := connect_event(seen, tags, tid)) is not None:
            self.events.append(event)

    def handshake(self, seen: TLSHandshake, tags: list[str], tid: int) -> None:
        self.tls += tls_entries(seen, tags, self.ledger, tid)
        self.neutral_tls += neutral_tls_entries(seen, tags, self.ledger)

    def fetch(self, fetch: HTTPFetch) -> None:
        for depth, hop in enumerate(fetch.hops):
            tags = [f"depth={depth}", "fetch_body=true"]
            self.queries += [query_entry(q, [f"depth={depth}"], self.ledger) for q in hop.dns]
            tid = _connection(self.ledger, depth, hop.tcp, hop.address, hop.url)
            if hop.tcp is not None:
                self.connect(hop.tcp, tags, tid)
            if hop.tls is not None:
                self.handshake(hop.tls, tags, tid)
            # OONI lists requests newest first: requests[0] is the final response.
            self.requests.insert(0, request_entry(hop, tags, self.ledger, tid))
        if fetch.neutral is not None:
            # The same address asked for another host (a neutral Host header): not a request
            # for the target, so it stays out of ``requests``; its connect is the target's.
            tags = ["depth=0", "fetch_body=false", "censorcheck_neutral_host"]
            tid = self.ledger.new()
            if fetch.neutral.tcp is not None:
                self.connect(fetch.neutral.tcp, tags, tid)
            self.neutral_requests.append(request_entry(fetch.neutral, tags, self.ledger, tid))


def _test_keys(result: Result, entries: _Entries) -> dict[str, Any]:
    domain = result.target.domain
    ledger = entries.ledger
    for q in result.dns:
        tags = ["depth=0"] if q.hostname == domain else ["depth=0", "censorcheck_canary"]
        entries.queries.append(query_entry(q, tags, ledger))
    for q in result.dns_https:
        entries.queries.append(query_entry(q, ["depth=0"], ledger))
    for seen in result.tcp:
        entries.connect(
            seen, ["depth=0", "fetch_body=true"], ledger.of("connection", seen.address, seen.port)
        )
    for h in result.tls:
        tid = ledger.of("connection", h.address, h.port)
        entries.handshake(h, ["depth=0", "fetch_body=true"], tid)
    if result.http is not None:
        entries.fetch(result.http)
    quic: list[dict[str, Any]] = []
    neutral_quic: list[dict[str, Any]] = []
    for fetched in result.quic:
        if fetched.handshake is not None:
            quic += quic_entries(fetched.handshake, ["depth=0"], ledger)
            neutral_quic += neutral_quic_entries(fetched.handshake, ["depth=0"], ledger)
    control = result.control
    return {
        "agent": "redirect",
        "socksproxy": None,
        "queries": entries.queries,
        "tcp_connect": entries.tcp,
        "tls_handshakes": entries.tls,
        "quic_handshakes": quic,
        "requests": entries.requests,
        "network_events": entries.events,
        "dns_experiment_failure": lookup_failure([q for q in result.dns if q.hostname == domain]),
        "http_experiment_failure": _http_failure(result),
        "control": control_answer(control, domain),
        "control_failure": ooni_failure(control.failure),
        **match_keys(final_response(result.http), final_response(control.http)),
        **verdict_keys(result),
        "x_censorcheck_neutral_sni_handshakes": entries.neutral_tls + neutral_quic,
        "x_censorcheck_neutral_host_requests": entries.neutral_requests,
        "x_censorcheck_verdict": result.verdict.model_dump(),
        "x_censorcheck_quic_verdict": (
            result.quic_verdict.model_dump() if result.quic_verdict is not None else None
        ),
        "x_censorcheck_control_source": control.source,
        # A control server's queries were timed on another machine: their own ledger, so that
        # they cannot mark this measurement's times as guessed.
        "x_censorcheck_control_queries": [
            query_entry(q, ["censorcheck_control"], Ledger()) for q in control.dns
        ],
        "x_censorcheck_deadline_hit": result.deadline_hit or control.deadline_hit,
        "x_censorcheck_error": result.error,
    }


def _vantage_of(run: Run, result: Result) -> VantageInfo:
    for vantage in run.vantages:
        if vantage.name == result.vantage:
            return vantage
    # Documents from before schema 1.3 had one vantage and did not name it in each result.
    return run.vantage


def measurement(run: Run, result: Result) -> dict[str, Any]:
    """One result of ``run`` as an OONI Web Connectivity measurement."""
    vantage = _vantage_of(run, result)
    entries = _Entries()
    test_keys = _test_keys(result, entries)
    annotations = {
        "engine_name": "censorcheck",
        "engine_version": run.tool.version,
        "censorcheck_run_id": run.run_id,
        "censorcheck_vantage": vantage.name,
        "censorcheck_rules_version": run.rules_version,
        "censorcheck_schema_version": run.schema_version,
        # "relative": t0 and t as OONI defines them; "durations": a document before schema 1.6,
        # whose operations are all put at the start of the measurement.
        "censorcheck_times": "durations" if entries.ledger.guessed else "relative",
    }
    if vantage.network_type:
        annotations["censorcheck_network_type"] = vantage.network_type
        if (kind := ooni_network_type(vantage.network_type)) is not None:
            annotations["network_type"] = kind
    uid = measurement_id(run.run_id, vantage.name, result.target.url)
    return {
        "annotations": annotations,
        "data_format_version": DATA_FORMAT_VERSION,
        "extensions": EXTENSIONS,
        "id": uid,
        "input": result.target.url,
        "measurement_start_time": ooni_time(result.started_at),
        "measurement_uid": measurement_uid(result.started_at, probe_cc(vantage), uid),
        "probe_asn": f"AS{vantage.asn or 0}",
        "probe_cc": probe_cc(vantage),
        "probe_ip": REDACTED_PROBE_IP,
        # The AS's name is not known until the vantage records one; OONI's type is a string.
        "probe_network_name": "",
        "report_id": report_id(run, vantage),
        "resolver_asn": "AS0",
        "resolver_ip": "",
        "resolver_network_name": "",
        "software_name": "censorcheck",
        "software_version": run.tool.version,
        "test_helpers": _test_helpers(result.control, vantage),
        "test_keys": test_keys,
        "test_name": TEST_NAME,
        "test_runtime": result.t,
        "test_start_time": ooni_time(run.started_at),
        "test_version": TEST_VERSION,
    }


def measurements(run: Run) -> Iterator[dict[str, Any]]:
    """One OONI measurement per result of ``run`` (per vantage and target), in result order."""
    for result in run.results:
        yield measurement(run, result)
