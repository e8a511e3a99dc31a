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
* Times: ``t0`` and ``t`` count from the start of the measurement (the target), from each
  observation's own ``t0`` (schema 1.6). Older documents recorded durations only: their steps
  are put at the start, and the annotation ``censorcheck_times`` says ``durations``.
* Transactions: a DNS query is one; a connection and everything it carried (connect, handshake,
  request) share one. ``network_events`` holds the connects, the only events we record.
* Redirect depth and extra probes are told apart with OONI's tags: ``depth=N`` on everything,
  ``fetch_body=true`` on the connections and requests of the fetch itself, ``fetch_body=false``
  on the extra ones, with ``censorcheck_repeat`` (a handshake made again on a fresh connection)
  saying which. The checks that asked the same address for another name (the neutral SNI, the
  neutral Host header) are not measurements of that name: they go under our own keys
  (``x_censorcheck_neutral_sni_handshakes``, ``x_censorcheck_neutral_host_requests``). The
  timeout canary query (a name other than the target's) is tagged ``censorcheck_canary``.
* ``requests`` is newest first, as OONI wants: ``requests[0]`` is the final response.
* A lookup through ``system`` has engine ``getaddrinfo``: it asks the resolvers the system is
  configured with. We ask them over UDP, A and AAAA apart, not through libc, so there are two
  queries where OONI's getaddrinfo would record one ANY query.
* A header map keeps the first value of a repeated header (df-001 says so); ``headers_list``
  keeps them all, for the request (as sent) and the response.
* ``control`` takes the shape of OONI's test helper answer whatever the control was; control
  resolvers fill its ``dns`` alone.
* ``blocking`` and ``accessible`` come from our verdict, not from OONI's own comparison:
  accessible -> false/true; blocked -> "dns", "tcp_ip", "http-diff" (a blockpage or a page that
  differs from the control's) or "http-failure" (a TLS or HTTP failure) and false; down -> false
  and false, which is how OONI writes "the site is down for everyone"; inconclusive -> null and
  null. ``dns_consistency`` is "inconsistent" when we found DNS blocking, "consistent" when the
  site was accessible, null otherwise. The match keys (``status_code_match``...) are computed the
  way OONI computes them from our final response and the control server's, when both exist.
* Every key of ours starts with ``x_censorcheck_``; the verdict, with its reason and evidence,
  is kept whole in ``x_censorcheck_verdict``, its evidence pointing into the censorcheck result.

What is lost or left empty:

* ``peer_certificates`` holds only the certificates whose DER the document kept (the first four
  of a chain, 16 KiB each at most); ``x_censorcheck_chain`` summarises all of them.
* Connection attempts that were never made (``skipped``, e.g. IPv6 from a vantage without it)
  are left out of ``tcp_connect``. ``status.blocked`` is always null: whether a connection was
  blocked is the verdict's call, made for the whole target.
* The probe's address is never exported: ``probe_ip`` is OONI's redacted value 127.0.0.1, and
  nothing is known of the probe's resolver (``resolver_asn`` AS0, ``resolver_ip`` empty) or of
  the network's name (``probe_network_name`` empty).

This package owns the conversion and nothing else: ``vocabulary`` (our failure codes, times,
resolvers and verdict in OONI's words), ``templates`` (queries, connects, handshakes and
requests), ``compare`` (the control as OONI's test helper answer, and the match keys),
``measurement`` (one result as one measurement, with its ids) and ``jsonl`` (the export file).
It may import the root contracts (``models`` and ``errors``) and nothing else of censorcheck:
never the probes, the pipeline, the API, ``control``, ``scan``, ``lab`` or ``cli``. It reads
run documents; it never measures.
"""

from censorcheck.results.ooni.compare import (
    body_proportion,
    headers_match,
    status_code_match,
    title_match,
)
from censorcheck.results.ooni.jsonl import write_jsonl
from censorcheck.results.ooni.measurement import (
    measurement,
    measurement_id,
    measurements,
    report_id,
)
from censorcheck.results.ooni.vocabulary import (
    DATA_FORMAT_VERSION,
    REDACTED_PROBE_IP,
    TEST_NAME,
    TEST_VERSION,
    ooni_failure,
    ooni_time,
)

__all__ = [
    "DATA_FORMAT_VERSION",
    "REDACTED_PROBE_IP",
    "TEST_NAME",
    "TEST_VERSION",
    "body_proportion",
    "headers_match",
    "measurement",
    "measurement_id",
    "measurements",
    "ooni_failure",
    "ooni_time",
    "report_id",
    "status_code_match",
    "title_match",
    "write_jsonl",
]
