"""Our words in OONI's: failure codes, times, resolver engines and addresses, DNS rcodes, and the
verdict as Web Connectivity's ``blocking``, ``accessible`` and ``dns_consistency`` keys.

Every translation from censorcheck's vocabulary to OONI's is a table or a small function here, so
the templates and the measurement never spell an OONI string of their own.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from censorcheck.measure.failures import to_ooni
from censorcheck.models import Result, VantageInfo

DATA_FORMAT_VERSION = "0.2.0"
TEST_NAME = "web_connectivity"
TEST_VERSION = "0.5.0-censorcheck"
# OONI's value for a probe address that is not published.
REDACTED_PROBE_IP = "127.0.0.1"
# The data format templates a measurement's test_keys hold, with their versions (df-000).
EXTENSIONS = {"dnst": 0, "httpt": 0, "netevents": 0, "tcpconnect": 0, "tlshandshake": 0}
# df-000 knows two network types; ours that are one of them. A home line or an office may be
# Wi-Fi or a cable, so those say nothing in OONI's terms.
_NETWORK_TYPES = {"mobile": "mobile", "public-wifi": "wifi"}

_ENGINES = {"udp": "udp", "tcp": "tcp", "tls": "dot", "https": "doh"}
_DNS_PORTS = {"udp": 53, "tcp": 53, "tls": 853}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
_HTTP_DIFF = frozenset({"http.diff", "http.blockpage"})
_BLOCKING = {"dns": "dns", "tcp": "tcp_ip", "tls": "http-failure"}


def ooni_failure(code: str | None) -> str | None:
    """OONI's failure string for one of our failure codes (None stays None)."""
    return to_ooni(code)


def ooni_time(stamp: str) -> str:
    """An ISO 8601 time (ours end in Z) in OONI's ``YYYY-MM-DD HH:MM:SS`` UTC form."""
    # fromisoformat() reads a trailing Z only from Python 3.11 on.
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def probe_cc(vantage: VantageInfo) -> str:
    """The vantage's country as OONI writes it; ZZ when unknown."""
    return (vantage.country or "ZZ").upper()


def ooni_network_type(ours: str) -> str | None:
    """OONI's ``network_type`` annotation for one of our network types, when it has one."""
    return _NETWORK_TYPES.get(ours)


def endpoint(address: str, port: int) -> str:
    """``address:port``, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def resolver(uri: str) -> tuple[str, str]:
    """(engine, resolver_address) for one of our resolver URIs."""
    if uri == "system":
        return "getaddrinfo", ""
    if "://" not in uri:  # a control server's label for its own resolver (control-1)
        return "unknown", ""
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
    return engine, endpoint(host, _DNS_PORTS.get(scheme, 53))


def verdict_keys(result: Result) -> dict[str, Any]:
    """``blocking``, ``accessible`` and ``dns_consistency`` as our verdict sees them."""
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
