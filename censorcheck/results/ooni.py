"""Run documents as OONI measurements: one Web Connectivity measurement per result, as JSONL.

Each result (one target from one vantage) becomes one measurement in OONI's base data format
(df-000, data format version 0.2.0) whose ``test_keys`` follow Web Connectivity (ts-017) and the
templates it is made of: ``queries`` (df-002), ``tcp_connect`` (df-005), ``tls_handshakes``
(df-006) and ``requests`` (df-001). The conversion is pure: the same run always gives the same
measurements, ids included, so exporting twice gives the same file.

Choices made where the two models differ:

* Failure codes become OONI failure strings (:func:`ooni_failure`). Ours that OONI has no name
  for (``tcp.unreachable`` lumps host and network unreachable together, ``http.protocol_error``,
  ``proxy.*``...) become ``unknown_failure: <our code>``, as OONI does with errors it cannot name.
* OONI's ``t`` is seconds since the measurement started; we keep only how long each step took.
  Our duration goes in ``t`` and ``t0`` is left out, rather than claiming the step began at the
  start of the measurement.
* Redirect depth and extra probes are told apart with OONI's tags: ``depth=N`` on everything,
  ``fetch_body=true`` on the connections and requests of the fetch itself, ``fetch_body=false``
  on the extra ones, with ``censorcheck_neutral_sni``, ``censorcheck_repeat`` (a handshake made
  again on a fresh connection) or ``censorcheck_neutral_host`` saying which. The timeout canary
  query (a name other than the target's) is tagged ``censorcheck_canary``.
* ``requests`` is newest first, as OONI wants: ``requests[0]`` is the final response. The request
  with a neutral Host header, made after the fetch, goes last so that it never passes for it.
* A lookup through ``system`` has engine ``getaddrinfo``: it asks the resolvers the system is
  configured with. We ask them over UDP, A and AAAA apart, not through libc, so there are two
  queries where OONI's getaddrinfo would record one ANY query.
* A response's ``headers`` map keeps the first value of a repeated header (df-001 says so);
  ``headers_list`` keeps them all.
* ``blocking`` and ``accessible`` come from our verdict, not from OONI's own comparison:
  accessible -> false/true; blocked -> "dns", "tcp_ip", "http-diff" (a blockpage or a page that
  differs from the control's) or "http-failure" (a TLS or HTTP failure) and false; down -> false
  and false, which is how OONI writes "the site is down for everyone"; inconclusive -> null and
  null. ``dns_consistency`` is "inconsistent" when we found DNS blocking, "consistent" when the
  site was accessible, null otherwise. The match keys (``status_code_match``...) are computed the
  way OONI computes them from our final response and the control server's, when both exist.
* The verdict itself, with its reason and evidence, is kept whole in ``censorcheck_verdict``; the
  evidence pointers point into the censorcheck result, not into the measurement.

What is lost or left empty:

* ``peer_certificates`` is always empty: we keep no DER, only a summary of each certificate
  (subject, issuer, names, validity, SHA-256), which goes in ``censorcheck_chain`` instead.
* Request headers are empty: the result does not record what the client sent.
* Connection attempts that were never made (``skipped``, e.g. IPv6 from a vantage without it)
  are left out of ``tcp_connect``. ``status.blocked`` is always null: whether a connection was
  blocked is the verdict's call, made for the whole target.
* The probe's address is never exported: ``probe_ip`` is OONI's redacted value 127.0.0.1, and
  nothing is known of the probe's resolver (``resolver_asn`` AS0, ``resolver_ip`` empty).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from censorcheck.errors import StoreError
from censorcheck.models import (
    Control,
    DNSQuery,
    HTTPFetch,
    HTTPHop,
    HTTPResponse,
    Result,
    Run,
    TCPConnect,
    TLSHandshake,
    VantageInfo,
)

DATA_FORMAT_VERSION = "0.2.0"
TEST_NAME = "web_connectivity"
TEST_VERSION = "0.5.0-censorcheck"
# OONI's value for a probe address that is not published.
REDACTED_PROBE_IP = "127.0.0.1"
# Fixed so that a measurement's id depends only on the run, the vantage and the URL.
_ID_NAMESPACE = uuid.UUID("0a632c5c-693f-4309-a4bd-238a7ce9caaa")
_REPORT_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# Our codes whose meaning OONI names exactly.
_FAILURES = {
    "dns.nxdomain": "dns_nxdomain_error",
    "dns.refused": "dns_refused_error",
    "dns.servfail": "dns_servfail_error",
    "dns.no_answer": "dns_no_answer",
    "dns.bad_response": "dns_server_misbehaving",
    "tcp.refused": "connection_refused",
    "tls.alert": "ssl_failed_handshake",
    "tls.untrusted": "ssl_unknown_authority",
    "tls.hostname_mismatch": "ssl_invalid_hostname",
    "tls.expired": "ssl_invalid_certificate",
    "tls.invalid_certificate": "ssl_invalid_certificate",
}
# Transport outcomes mean the same whatever the layer. A deadline is a timer that expired too.
_TRANSPORT = {
    "timeout": "generic_timeout_error",
    "deadline": "generic_timeout_error",
    "reset": "connection_reset",
    "eof": "eof_error",
}
_ENGINES = {"udp": "udp", "tcp": "tcp", "tls": "dot", "https": "doh"}
_DNS_PORTS = {"udp": 53, "tcp": 53, "tls": 853}
_RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
# Headers most servers send whatever the page: sharing them says nothing about being the same
# site (the list Web Connectivity ignores when it compares headers).
_COMMON_HEADERS = frozenset(
    {
        "date", "content-type", "server", "cache-control", "vary", "set-cookie", "location",
        "expires", "x-powered-by", "content-encoding", "last-modified", "accept-ranges",
        "pragma", "x-frame-options", "etag", "x-content-type-options", "age", "via", "p3p",
        "x-xss-protection", "content-language", "cf-ray", "strict-transport-security", "link",
        "x-varnish",
    }
)  # fmt: skip
_HTTP_DIFF = frozenset({"http.diff", "http.blockpage"})
_BLOCKING = {"dns": "dns", "tcp": "tcp_ip", "tls": "http-failure"}

Tags = list[str]


def ooni_failure(code: str | None) -> str | None:
    """OONI's failure string for one of our failure codes (None stays None)."""
    if code is None:
        return None
    if code in _FAILURES:
        return _FAILURES[code]
    _, _, what = code.partition(".")
    if what in _TRANSPORT:
        return _TRANSPORT[what]
    return f"unknown_failure: {code}"


def ooni_time(stamp: str) -> str:
    """An ISO 8601 time (ours end in Z) in OONI's ``YYYY-MM-DD HH:MM:SS`` UTC form."""
    # fromisoformat() reads a trailing Z only from Python 3.11 on.
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


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
    cc, asn = _probe_cc(vantage), vantage.asn or 0
    return f"{stamp:%Y%m%dT%H%M%SZ}_{TEST_NAME.replace('_', '')}_{cc}_{asn}_n1_{token}"


def _probe_cc(vantage: VantageInfo) -> str:
    return (vantage.country or "ZZ").upper()


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# --- DNS -----------------------------------------------------------------------------------


def _resolver(uri: str) -> tuple[str, str]:
    """(engine, resolver_address) for one of our resolver URIs."""
    if uri == "system":
        return "getaddrinfo", ""
    scheme, _, rest = uri.partition("://")
    engine = _ENGINES.get(scheme.lower(), "unknown")
    if engine == "doh":
        return engine, uri
    host = rest.split("/", 1)[0]
    if host.startswith("["):
        bracketed, _, port = host.partition("]")
        return engine, f"{bracketed}]:{port.lstrip(':') or _DNS_PORTS.get(scheme, 53)}"
    if host.count(":") == 1:
        return engine, host
    return engine, _endpoint(host, _DNS_PORTS.get(scheme, 53))


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


def _query(query: DNSQuery, tags: Tags) -> dict[str, Any]:
    engine, address = _resolver(query.resolver)
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
    if query.answer is not None and query.answer.rcode in _RCODES:
        entry["rcode"] = _RCODES[query.answer.rcode]
    if query.late_answers:
        # OONI has no place for a second, different answer to one query; it is the evidence of
        # injection, so it is kept beside the first.
        entry["censorcheck_late_answers"] = [a.model_dump() for a in query.late_answers]
    return entry


def _lookup_failure(queries: Sequence[DNSQuery]) -> str | None:
    """The failure of a lookup made of several queries: none when any query gave an address."""
    if not queries or any(q.answer is not None and q.answer.addresses for q in queries):
        return None
    failed = next((q.failure for q in queries if q.failure is not None), None)
    # Every answer was NOERROR yet none had an address: OONI's name for that.
    return ooni_failure(failed) if failed is not None else "dns_no_answer"


def _addresses(queries: Iterable[DNSQuery]) -> list[str]:
    found: list[str] = []
    for q in queries:
        for address in q.answer.addresses if q.answer is not None else ():
            if address not in found:
                found.append(address)
    return found


# --- TCP, TLS ------------------------------------------------------------------------------


def _tcp(connect: TCPConnect, tags: Tags) -> dict[str, Any]:
    failure = ooni_failure(connect.failure)
    return {
        "ip": connect.address,
        "port": connect.port,
        "status": {"success": failure is None, "failure": failure, "blocked": None},
        "t": connect.t,
        "tags": tags,
    }


def _tls(handshake: TLSHandshake, tags: Tags) -> Iterator[dict[str, Any]]:
    """The handshake, then the ones made because it failed (the same again, a neutral SNI)."""
    yield {
        "address": _endpoint(handshake.address, handshake.port),
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
        yield from _tls(handshake.repeat, [*extra, "censorcheck_repeat"])
    if handshake.neutral is not None:
        yield from _tls(handshake.neutral, [*extra, "censorcheck_neutral_sni"])


# --- HTTP ----------------------------------------------------------------------------------


def _headers(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
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
        "headers": _headers(response.headers),
        "headers_list": [[name, value] for name, value in response.headers],
    }


def _request(hop: HTTPHop, tags: Tags) -> dict[str, Any]:
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


def _final(fetch: HTTPFetch | None) -> HTTPResponse | None:
    return fetch.hops[-1].response if fetch is not None and fetch.hops else None


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
    return _lookup_failure([q for q in result.dns if q.hostname == result.target.domain])


# --- the control ---------------------------------------------------------------------------


def _control(control: Control, domain: str) -> dict[str, Any]:
    """The control in the shape of OONI's test helper answer; {} for control resolvers, which
    saw only DNS (their queries are in ``censorcheck_control_queries``)."""
    if control.source == "resolvers":
        return {}
    out: dict[str, Any] = {}
    queries = [q for q in control.dns if q.hostname == domain]
    if queries:
        out["dns"] = {"failure": _lookup_failure(queries), "addrs": _addresses(queries)}
    tried = [t for t in control.tcp if t.skipped is None]
    if tried:
        out["tcp_connect"] = {
            _endpoint(t.address, t.port): {
                "status": t.failure is None,
                "failure": ooni_failure(t.failure),
            }
            for t in tried
        }
    if control.tls:
        out["tls_handshake"] = {
            _endpoint(h.address, h.port): {
                "server_name": h.sni,
                "status": h.failure is None,
                "failure": ooni_failure(h.failure),
            }
            for h in control.tls
        }
    if control.http is not None:
        final = _final(control.http)
        out["http_request"] = {
            # OONI's helper says -1 for a length and a status it did not get.
            "body_length": final.body_length if final is not None else -1,
            "failure": ooni_failure(control.http.failure),
            "title": (final.title or "") if final is not None else "",
            "headers": _headers(final.headers) if final is not None else {},
            "status_code": final.status if final is not None else -1,
        }
    return out


def _test_helpers(control: Control, vantage: VantageInfo) -> dict[str, Any]:
    if control.source == "server" and vantage.control_server is not None:
        return {"backend": {"address": vantage.control_server.url, "type": "censorcheck"}}
    if control.source == "vantage":
        name = control.vantage or vantage.control_vantage or ""
        return {"backend": {"address": name, "type": "censorcheck-vantage"}}
    return {}


# --- comparing with the control's page (Web Connectivity's rules) ---------------------------


def status_code_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    if probe.status == control.status:
        return True
    # A control that got an error page cannot say the probe's other answer is wrong.
    return False if control.status // 100 == 2 else None


def body_proportion(probe: HTTPResponse, control: HTTPResponse) -> float | None:
    if probe.body_truncated or control.body_truncated:
        return None  # a length cut by a read limit is not the page's length
    if probe.body_length <= 0 or control.body_length <= 0:
        return None
    low, high = sorted((probe.body_length, control.body_length))
    return low / high


def title_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    if not probe.title or not control.title:
        return None

    def words(title: str) -> set[str]:
        # Short words (articles, "home", "news") are shared by too many unrelated pages.
        return {w.lower() for w in title.split() if len(w) >= 5}

    return words(probe.title) == words(control.title)


def headers_match(probe: HTTPResponse, control: HTTPResponse) -> bool | None:
    ours = {name.lower() for name, _ in probe.headers}
    theirs = {name.lower() for name, _ in control.headers}
    if not ours or not theirs:
        return None
    if ours == theirs:
        return True
    return bool((ours & theirs) - _COMMON_HEADERS)


# --- the measurement -----------------------------------------------------------------------


def _verdict_keys(result: Result) -> dict[str, Any]:
    verdict = result.verdict
    if verdict.status == "accessible":
        blocking: str | bool | None = False
        accessible: bool | None = True
    elif verdict.status == "blocked":
        if verdict.blocking == "http":
            blocking = "http-diff" if verdict.outcome in _HTTP_DIFF else "http-failure"
        else:
            blocking = _BLOCKING.get(verdict.blocking or "")
        accessible = False
    elif verdict.status == "down":
        blocking, accessible = False, False
    else:
        blocking, accessible = None, None
    consistency = None
    if verdict.status == "blocked" and verdict.blocking == "dns":
        consistency = "inconsistent"
    elif verdict.status == "accessible":
        consistency = "consistent"
    return {"blocking": blocking, "accessible": accessible, "dns_consistency": consistency}


def _test_keys(result: Result) -> dict[str, Any]:
    domain = result.target.domain
    queries = [
        _query(q, ["depth=0"] if q.hostname == domain else ["depth=0", "censorcheck_canary"])
        for q in result.dns
    ]
    tcp = [_tcp(t, ["depth=0", "fetch_body=true"]) for t in result.tcp if t.skipped is None]
    tls = [e for h in result.tls for e in _tls(h, ["depth=0", "fetch_body=true"])]
    requests: list[dict[str, Any]] = []
    fetch = result.http
    if fetch is not None:
        for depth, hop in enumerate(fetch.hops):
            tags = [f"depth={depth}", "fetch_body=true"]
            queries += [_query(q, [f"depth={depth}"]) for q in hop.dns]
            if hop.tcp is not None and hop.tcp.skipped is None:
                tcp.append(_tcp(hop.tcp, tags))
            if hop.tls is not None:
                tls += _tls(hop.tls, tags)
            requests.insert(0, _request(hop, tags))
        if fetch.neutral is not None:
            tags = ["depth=0", "fetch_body=false", "censorcheck_neutral_host"]
            if fetch.neutral.tcp is not None and fetch.neutral.tcp.skipped is None:
                tcp.append(_tcp(fetch.neutral.tcp, tags))
            requests.append(_request(fetch.neutral, tags))

    control = result.control
    ours, theirs = _final(fetch), _final(control.http)
    compared: dict[str, Any] = dict.fromkeys(
        ("body_proportion", "status_code_match", "title_match", "headers_match")
    )
    if ours is not None and theirs is not None:
        compared = {
            "body_proportion": body_proportion(ours, theirs),
            "status_code_match": status_code_match(ours, theirs),
            "title_match": title_match(ours, theirs),
            "headers_match": headers_match(ours, theirs),
        }
    proportion = compared["body_proportion"]
    return {
        "agent": "redirect",
        "queries": queries,
        "tcp_connect": tcp,
        "tls_handshakes": tls,
        "requests": requests,
        "dns_experiment_failure": _lookup_failure([q for q in result.dns if q.hostname == domain]),
        "http_experiment_failure": _http_failure(result),
        "control": _control(control, domain),
        "control_failure": ooni_failure(control.failure),
        **compared,
        "body_length_match": None if proportion is None else proportion > 0.7,
        **_verdict_keys(result),
        "censorcheck_verdict": result.verdict.model_dump(),
        "censorcheck_control_source": control.source,
        "censorcheck_control_queries": [_query(q, ["censorcheck_control"]) for q in control.dns],
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
        "probe_cc": _probe_cc(vantage),
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


def write_jsonl(runs: Iterable[Run], path: Path) -> int:
    """Write the measurements of ``runs`` to ``path``, one JSON object a line; the count.

    Atomic like the run documents: a temporary file in the same directory, renamed over ``path``
    once complete, so a reader never sees half an export.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for run in runs:
                for m in measurements(run):
                    # ASCII escapes keep U+2028 and its kind, which some readers split lines
                    # at, out of the file.
                    f.write(json.dumps(m, separators=(",", ":")) + "\n")
                    count += 1
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)  # a run that fails to convert must not leave a partial file behind
        raise
    return count


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
