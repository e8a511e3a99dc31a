"""A checker of OONI measurements written from ooni/spec's data formats: df-000 (base), df-001
(httpt), df-002 (dnst), df-005 (tcpconnect), df-006 (tlshandshake), df-007 (errors), df-008
(netevents), and the keys of Web Connectivity (ts-017). ``check_web_connectivity`` lists every
missing required key, every value of the wrong type, and every failure string outside df-007.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

# df-007: the failure strings of today's probes. Anything else must be "unknown_failure ...".
DF007 = frozenset(
    {
        "android_dns_cache_no_data", "connection_aborted", "connection_already_closed",
        "connection_refused", "connection_reset", "dns_bogon_error", "dns_no_answer",
        "dns_non_recoverable_failure", "dns_nxdomain_error", "dns_reply_with_wrong_query_id",
        "dns_refused_error", "dns_server_misbehaving", "dns_servfail_error",
        "dns_temporary_failure", "eof_error", "http_invalid_redirect_location_host",
        "http_request_failed", "host_unreachable", "generic_timeout_error",
        "http_unexpected_redirect_url", "http_unexpected_status_code", "interrupted",
        "json_parse_error", "network_down", "network_reset", "network_unreachable",
        "quic_incompatible_version", "ssl_failed_handshake", "ssl_invalid_hostname",
        "ssl_unknown_authority", "ssl_invalid_certificate",
    }
)  # fmt: skip
# df-002's resolver engines.
ENGINES = frozenset(
    {"unknown", "system", "getaddrinfo", "golang_net_resolver", "go", "udp", "tcp", "dot", "doh"}
)
# df-008's operations.
OPERATIONS = frozenset(
    {"bytes_received_cumulative", "connect", "read", "read_from", "write", "write_to"}
)
# Keys of Web Connectivity's test_keys (ts-017) and of the templates it is made of; every other
# key is ours and says so with the x_censorcheck_ prefix.
KNOWN_TEST_KEYS = frozenset(
    {
        "agent", "socksproxy", "queries", "tcp_connect", "tls_handshakes", "quic_handshakes",
        "requests", "network_events", "dns_experiment_failure", "http_experiment_failure",
        "control", "control_failure", "body_length_match", "body_proportion",
        "status_code_match", "headers_match", "title_match", "blocking", "accessible",
        "dns_consistency",
    }
)  # fmt: skip
# Keys a probe must not emit (df-000: the collector's or deprecated).
COLLECTOR_KEYS = ("backend_version", "bucket_date", "report_filename", "input_hashes", "probe_city")
OONI_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
MEASUREMENT_UID = re.compile(r"\d{14}\.\d{6}_[A-Z]{2}_[a-z0-9]+_[0-9a-f]{16}")


class Problems(list[str]):
    """What is wrong with one measurement, each as 'path: what'."""

    def need(
        self, where: str, obj: dict[str, Any], key: str, kind: Any, optional: bool = False
    ) -> Any:
        if key not in obj:
            if not optional:
                self.append(f"{where}.{key}: missing")
            return None
        value = obj[key]
        # bool is an int to Python, never to OONI's Go structs.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
            self.append(f"{where}.{key}: {type(value).__name__}, not {kind}")
        return value

    def failure(self, where: str, obj: dict[str, Any], key: str = "failure") -> None:
        value = self.need(where, obj, key, (str, type(None)))
        if (
            isinstance(value, str)
            and value not in DF007
            and not value.startswith("unknown_failure")
        ):
            self.append(f"{where}.{key}: {value!r} is not a df-007 failure")

    def times(self, where: str, obj: dict[str, Any]) -> None:
        t0 = self.need(where, obj, "t0", (float, int))
        t = self.need(where, obj, "t", (float, int))
        if isinstance(t0, (float, int)) and isinstance(t, (float, int)) and not 0 <= t0 <= t:
            self.append(f"{where}: t0 {t0} and t {t} are not 0 <= t0 <= t")

    def event_common(self, where: str, obj: dict[str, Any]) -> None:
        self.times(where, obj)
        tags = self.need(where, obj, "tags", list, optional=True)
        if tags is not None and not all(isinstance(t, str) for t in tags):
            self.append(f"{where}.tags: not all strings")
        tid = self.need(where, obj, "transaction_id", int, optional=True)
        if tid is not None and tid <= 0:
            self.append(f"{where}.transaction_id: {tid}; zero means unknown and must be left out")


def _kinds(kind: Any) -> tuple[Any, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _binary_or_string(p: Problems, where: str, value: Any) -> None:
    if isinstance(value, dict):
        if value.get("format") != "base64" or not isinstance(value.get("data"), str):
            p.append(f"{where}: not a BinaryData")
        else:
            base64.b64decode(value["data"], validate=True)
    elif not isinstance(value, str):
        p.append(f"{where}: neither a string nor BinaryData")


def _headers(p: Problems, where: str, message: dict[str, Any]) -> None:
    headers = p.need(where, message, "headers", dict)
    for name, value in (headers or {}).items():
        _binary_or_string(p, f"{where}.headers[{name}]", value)
    pairs = p.need(where, message, "headers_list", list)
    for i, pair in enumerate(pairs or []):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            p.append(f"{where}.headers_list[{i}]: not a [key, value] pair")
        else:
            _binary_or_string(p, f"{where}.headers_list[{i}]", pair[1])
    if headers is not None and pairs:
        first: dict[str, Any] = {}
        for pair in pairs:
            if isinstance(pair, list) and len(pair) == 2:
                first.setdefault(pair[0], pair[1])
        if first != headers:
            p.append(f"{where}.headers: not the first value of each header of headers_list")


def check_base(m: dict[str, Any]) -> Problems:
    """df-000."""
    p = Problems()
    for key in ("data_format_version", "measurement_start_time", "probe_asn", "probe_cc"):
        p.need("", m, key, str)
    for key in ("probe_ip", "report_id", "software_name", "software_version", "test_name"):
        p.need("", m, key, str)
    for key in ("test_start_time", "test_version"):
        p.need("", m, key, str)
    p.need("", m, "test_helpers", dict)
    p.need("", m, "test_keys", dict)
    p.need("", m, "test_runtime", (float, int))
    if "input" not in m or not isinstance(m["input"], (str, type(None))):
        p.append(".input: must be present, a string or null")
    for key in ("probe_network_name", "resolver_asn", "resolver_ip", "resolver_network_name"):
        p.need("", m, key, str, optional=True)
    for key in ("id", "measurement_uid"):
        p.need("", m, key, str, optional=True)
    annotations = p.need("", m, "annotations", dict, optional=True) or {}
    for key, value in annotations.items():
        if not isinstance(value, str):
            p.append(f".annotations.{key}: not a string")
    if annotations.get("network_type") not in (None, "mobile", "wifi"):
        p.append(f".annotations.network_type: {annotations['network_type']!r} is not df-000's")
    extensions = p.need("", m, "extensions", dict, optional=True) or {}
    if not all(isinstance(v, int) for v in extensions.values()):
        p.append(".extensions: not a map of ints")
    for key in COLLECTOR_KEYS:
        if key in m:
            p.append(f".{key}: a probe must not emit it")
    if not OONI_TIME.fullmatch(str(m.get("measurement_start_time"))):
        p.append(".measurement_start_time: not YYYY-MM-DD HH:MM:SS")
    if not OONI_TIME.fullmatch(str(m.get("test_start_time"))):
        p.append(".test_start_time: not YYYY-MM-DD HH:MM:SS")
    if not re.fullmatch(r"AS\d+", str(m.get("probe_asn"))):
        p.append(".probe_asn: not AS<number>")
    if not re.fullmatch(r"AS\d+", str(m.get("resolver_asn", "AS0"))):
        p.append(".resolver_asn: not AS<number>")
    if not re.fullmatch(r"[A-Z]{2}", str(m.get("probe_cc"))):
        p.append(".probe_cc: not two capital letters")
    if not MEASUREMENT_UID.fullmatch(str(m.get("measurement_uid"))):
        p.append(".measurement_uid: not OONI's shape")
    return p


def check_queries(p: Problems, queries: list[Any], where: str) -> None:
    """df-002."""
    for i, q in enumerate(queries):
        at = f"{where}[{i}]"
        for key in ("hostname", "query_type", "resolver_address"):
            p.need(at, q, key, str)
        if p.need(at, q, "engine", str, optional=True) not in (None, *ENGINES):
            p.append(f"{at}.engine: {q['engine']!r} is not in df-002's table")
        p.failure(at, q)
        p.event_common(at, q)
        p.need(at, q, "rcode", int, optional=True)
        for j, a in enumerate(p.need(at, q, "answers", list) or []):
            kind = p.need(f"{at}.answers[{j}]", a, "answer_type", str)
            p.need(f"{at}.answers[{j}]", a, "ttl", (int, type(None)))
            field = {"A": "ipv4", "AAAA": "ipv6", "CNAME": "hostname"}.get(kind or "")
            if field is not None:
                p.need(f"{at}.answers[{j}]", a, field, str)


def check_tcp(p: Problems, entries: list[Any]) -> None:
    """df-005."""
    for i, c in enumerate(entries):
        at = f".tcp_connect[{i}]"
        ipaddress.ip_address(p.need(at, c, "ip", str) or "0.0.0.0")
        p.need(at, c, "port", int)
        status = p.need(at, c, "status", dict) or {}
        success = p.need(f"{at}.status", status, "success", bool)
        p.failure(f"{at}.status", status)
        if success is not (status.get("failure") is None):
            p.append(f"{at}.status: success must be true exactly when failure is null")
        p.event_common(at, c)


def check_tls(p: Problems, entries: list[Any], where: str) -> None:
    """df-006."""
    for i, h in enumerate(entries):
        at = f"{where}[{i}]"
        for key in ("address", "cipher_suite", "negotiated_protocol", "tls_version"):
            p.need(at, h, key, str)
        p.need(at, h, "server_name", str, optional=True)
        p.need(at, h, "no_tls_verify", bool)
        if p.need(at, h, "network", str, optional=True) not in (None, "tcp", "udp"):
            p.append(f"{at}.network: not tcp or udp")
        for j, cert in enumerate(p.need(at, h, "peer_certificates", list) or []):
            if not isinstance(cert, dict) or cert.get("format") != "base64":
                p.append(f"{at}.peer_certificates[{j}]: not a BinaryData")
        p.failure(at, h)
        p.event_common(at, h)


def check_requests(p: Problems, entries: list[Any], where: str) -> None:
    """df-001."""
    for i, r in enumerate(entries):
        at = f"{where}[{i}]"
        p.failure(at, r)
        p.event_common(at, r)
        if p.need(at, r, "network", str, optional=True) not in (None, "tcp", "udp"):
            p.append(f"{at}.network: not tcp or udp")
        p.need(at, r, "address", str, optional=True)
        request = p.need(at, r, "request", dict) or {}
        for key in ("url", "method"):
            p.need(f"{at}.request", request, key, str)
        _binary_or_string(p, f"{at}.request.body", request.get("body"))
        p.need(f"{at}.request", request, "body_is_truncated", bool, optional=True)
        _headers(p, f"{at}.request", request)
        tor = p.need(f"{at}.request", request, "tor", dict) or {}
        p.need(f"{at}.request.tor", tor, "is_tor", bool)
        p.need(f"{at}.request.tor", tor, "exit_ip", (str, type(None)))
        p.need(f"{at}.request.tor", tor, "exit_name", (str, type(None)))
        response = p.need(at, r, "response", dict) or {}
        p.need(f"{at}.response", response, "code", int)
        _binary_or_string(p, f"{at}.response.body", response.get("body"))
        p.need(f"{at}.response", response, "body_is_truncated", bool, optional=True)
        _headers(p, f"{at}.response", response)


def check_events(p: Problems, entries: list[Any]) -> None:
    """df-008."""
    for i, e in enumerate(entries):
        at = f".network_events[{i}]"
        if p.need(at, e, "operation", str) not in OPERATIONS:
            p.append(f"{at}.operation: not one of df-008's")
        p.need(at, e, "tags", list)
        p.need(at, e, "address", str, optional=True)
        p.need(at, e, "proto", str, optional=True)
        p.need(at, e, "num_bytes", int, optional=True)
        p.failure(at, e)
        p.event_common(at, e)


def check_web_connectivity(m: dict[str, Any]) -> Problems:
    """Web Connectivity's test_keys: the templates above, the control, and the analysis keys."""
    p = check_base(m)
    keys = m.get("test_keys", {})
    if p.need(".test_keys", keys, "agent", str) not in ("agent", "redirect"):
        p.append(".test_keys.agent: not agent or redirect")
    check_queries(p, p.need(".test_keys", keys, "queries", list) or [], ".queries")
    check_tcp(p, p.need(".test_keys", keys, "tcp_connect", list) or [])
    check_tls(p, p.need(".test_keys", keys, "tls_handshakes", list) or [], ".tls_handshakes")
    check_tls(p, p.need(".test_keys", keys, "quic_handshakes", list) or [], ".quic_handshakes")
    check_requests(p, p.need(".test_keys", keys, "requests", list) or [], ".requests")
    check_events(p, p.need(".test_keys", keys, "network_events", list) or [])
    for key in ("dns_experiment_failure", "http_experiment_failure", "control_failure"):
        p.failure(".test_keys", keys, key)
    for key in ("body_length_match", "status_code_match", "headers_match", "title_match"):
        p.need(".test_keys", keys, key, (bool, type(None)))
    p.need(".test_keys", keys, "accessible", (bool, type(None)))
    p.need(".test_keys", keys, "body_proportion", (float, int, type(None)))
    p.need(".test_keys", keys, "dns_consistency", (str, type(None)))
    blocking = keys.get("blocking")
    if blocking is not False and not isinstance(blocking, (str, type(None))):
        p.append(".test_keys.blocking: not a string, false or null")
    check_control(p, p.need(".test_keys", keys, "control", dict) or {})
    for key in keys:
        if key not in KNOWN_TEST_KEYS and not key.startswith("x_censorcheck_"):
            p.append(f".test_keys.{key}: ours, but without the x_censorcheck_ prefix")
    return p


def check_control(p: Problems, control: dict[str, Any]) -> None:
    """The test helper's answer, as Web Connectivity stores it."""
    for key in ("tcp_connect", "tls_handshake", "quic_handshake"):
        for endpoint, status in (
            p.need(".control", control, key, dict, optional=True) or {}
        ).items():
            at = f".control.{key}[{endpoint}]"
            p.need(at, status, "status", bool)
            p.failure(at, status)
    if (dns := p.need(".control", control, "dns", dict, optional=True)) is not None:
        p.failure(".control.dns", dns)
        addrs = p.need(".control.dns", dns, "addrs", list) or []
        if not all(isinstance(a, str) for a in addrs):
            p.append(".control.dns.addrs: not all strings")
    if (page := p.need(".control", control, "http_request", dict, optional=True)) is not None:
        p.failure(".control.http_request", page)
        for key, kind in (("body_length", int), ("status_code", int), ("title", str)):
            p.need(".control.http_request", page, key, kind)
        p.need(".control.http_request", page, "headers", dict)
