"""One result of a run as one Web Connectivity measurement: the base data format's fields, the ids,
and ``test_keys`` put together from the templates, the control's side and the verdict.

Pure and deterministic: the ids derive from the run, the vantage and the URL, so converting the
same run twice gives the same measurements.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from censorcheck.models import Control, Result, Run, VantageInfo
from censorcheck.results.ooni.compare import control_answer, match_keys
from censorcheck.results.ooni.templates import (
    final_response,
    lookup_failure,
    query_entry,
    quic_entries,
    request_entry,
    tcp_entry,
    tls_entries,
)
from censorcheck.results.ooni.vocabulary import (
    DATA_FORMAT_VERSION,
    REDACTED_PROBE_IP,
    TEST_NAME,
    TEST_VERSION,
    ooni_failure,
    ooni_time,
    probe_cc,
    verdict_keys,
)

# Fixed so that a measurement's id depends only on the run, the vantage and the URL.
_ID_NAMESPACE = uuid.UUID("0a632c5c-693f-4309-a4bd-238a7ce9caaa")
_REPORT_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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


def _test_keys(result: Result) -> dict[str, Any]:
    domain = result.target.domain
    queries = [
        query_entry(q, ["depth=0"] if q.hostname == domain else ["depth=0", "censorcheck_canary"])
        for q in result.dns
    ]
    tcp = [tcp_entry(t, ["depth=0", "fetch_body=true"]) for t in result.tcp if t.skipped is None]
    tls = [e for h in result.tls for e in tls_entries(h, ["depth=0", "fetch_body=true"])]
    requests: list[dict[str, Any]] = []
    fetch = result.http
    if fetch is not None:
        for depth, hop in enumerate(fetch.hops):
            tags = [f"depth={depth}", "fetch_body=true"]
            queries += [query_entry(q, [f"depth={depth}"]) for q in hop.dns]
            if hop.tcp is not None and hop.tcp.skipped is None:
                tcp.append(tcp_entry(hop.tcp, tags))
            if hop.tls is not None:
                tls += tls_entries(hop.tls, tags)
            requests.insert(0, request_entry(hop, tags))
        if fetch.neutral is not None:
            tags = ["depth=0", "fetch_body=false", "censorcheck_neutral_host"]
            if fetch.neutral.tcp is not None and fetch.neutral.tcp.skipped is None:
                tcp.append(tcp_entry(fetch.neutral.tcp, tags))
            requests.append(request_entry(fetch.neutral, tags))

    control = result.control
    return {
        "agent": "redirect",
        "queries": queries,
        "tcp_connect": tcp,
        "tls_handshakes": tls,
        "requests": requests,
        "dns_experiment_failure": lookup_failure([q for q in result.dns if q.hostname == domain]),
        "http_experiment_failure": _http_failure(result),
        "control": control_answer(control, domain),
        "control_failure": ooni_failure(control.failure),
        **match_keys(final_response(fetch), final_response(control.http)),
        **verdict_keys(result),
        "quic_handshakes": [
            e
            for q in result.quic
            if q.handshake is not None
            for e in quic_entries(q.handshake, ["depth=0"])
        ],
        "censorcheck_verdict": result.verdict.model_dump(),
        "censorcheck_quic_verdict": (
            result.quic_verdict.model_dump() if result.quic_verdict is not None else None
        ),
        "censorcheck_control_source": control.source,
        "censorcheck_control_queries": [
            query_entry(q, ["censorcheck_control"]) for q in control.dns
        ],
        "censorcheck_deadline_hit": result.deadline_hit or control.deadline_hit,
        "censorcheck_error": result.error,
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
    annotations = {
        "engine_name": "censorcheck",
        "engine_version": run.tool.version,
        "censorcheck_run_id": run.run_id,
        "censorcheck_vantage": vantage.name,
        "censorcheck_rules_version": run.rules_version,
        "censorcheck_schema_version": run.schema_version,
    }
    if vantage.network_type:
        annotations["network_type"] = vantage.network_type
    return {
        "annotations": annotations,
        "data_format_version": DATA_FORMAT_VERSION,
        "id": measurement_id(run.run_id, vantage.name, result.target.url),
        "input": result.target.url,
        "measurement_start_time": ooni_time(result.started_at),
        "probe_asn": f"AS{vantage.asn or 0}",
        "probe_cc": probe_cc(vantage),
        "probe_ip": REDACTED_PROBE_IP,
        "probe_network_name": None,
        "report_id": report_id(run, vantage),
        "resolver_asn": "AS0",
        "resolver_ip": "",
        "resolver_network_name": "",
        "software_name": "censorcheck",
        "software_version": run.tool.version,
        "test_helpers": _test_helpers(result.control, vantage),
        "test_keys": _test_keys(result),
        "test_name": TEST_NAME,
        "test_runtime": result.t,
        "test_start_time": ooni_time(run.started_at),
        "test_version": TEST_VERSION,
    }


def measurements(run: Run) -> Iterator[dict[str, Any]]:
    """One OONI measurement per result of ``run`` (per vantage and target), in result order."""
    for result in run.results:
        yield measurement(run, result)
