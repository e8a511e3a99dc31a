"""The OONI export against OONI's own definitions: every line checked key by key and type by type
with a checker written here from ooni/spec's data formats (df-000 base, df-001 httpt, df-002 dnst,
df-005 tcpconnect, df-006 tlshandshake, df-007 errors, df-008 netevents), and loaded by oonidata,
OONI's data models from PyPI.

The lab runs cover each kind of control (our server, an OONI test helper, a control vantage and
control resolvers), so each shape of ``control`` is checked, as is a document from before schema
1.6, whose times are durations only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from oonidata.dataclient import load_measurement

from censorcheck.lab import Lab
from censorcheck.measure.api import measure, measure_many
from censorcheck.measure.failures import FAILURES
from censorcheck.measure.targets import load_targets
from censorcheck.models import Run
from censorcheck.results.ooni import ooni_failure, write_jsonl
from tests.ooni_spec import DF007, check_web_connectivity
from tests.test_store import result as bare_result
from tests.test_store import run_of

# --- the data ---------------------------------------------------------------------------------


SCENARIOS = (
    "dns-nxdomain", "tls-sni-reset", "tls-mitm", "http-blockpage", "static", "static-http",
    "redirect", "gone", "quic",
)  # fmt: skip


@pytest.fixture(scope="module")
def runs(lab: Lab) -> list[Run]:
    if lab.control is None:
        pytest.skip("the lab has no control server (control extra not installed)")
    every = load_targets(lab.topology.target_urls())
    some = load_targets([lab.topology.url(f"{name}.lab.test") for name in SCENARIOS])
    helper = f"ooni:{lab.control.url}/ooni/"
    return [
        measure(every, lab.settings(control=True)),
        measure(some, lab.settings(control_url=helper, control_token=lab.control.token)),
        measure_many([(lab.settings(), None, some)], control_vantage=lab.settings(censored=False)),
        measure(some, lab.settings()),
    ]


@pytest.fixture(scope="module")
def lines(runs: list[Run], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    # A document from before schema 1.6: its observations know their durations only.
    measured = runs[3].results[0]
    dns = [q.model_copy(update={"t0": None}) for q in measured.dns]
    old = run_of([measured.model_copy(update={"dns": dns}), bare_result("b.example")])
    path = tmp_path_factory.mktemp("ooni") / "measurements.jsonl"
    count = write_jsonl([*runs, old], path)
    parsed = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(parsed) == count == sum(len(r.results) for r in runs) + 2
    return parsed


def test_the_runs_use_every_kind_of_control(runs: list[Run]) -> None:
    sources = [{r.control.source for r in run.results} for run in runs]
    assert sources == [{"server"}, {"ooni"}, {"vantage"}, {"resolvers"}]


def test_every_line_has_every_required_key_and_type(lines: list[dict[str, Any]]) -> None:
    wrong = {m["input"]: problems for m in lines if (problems := check_web_connectivity(m))}
    assert not wrong, json.dumps(wrong, indent=1)


def test_the_checker_finds_what_is_wrong(lines: list[dict[str, Any]]) -> None:
    """A conformance test that cannot fail proves nothing: break lines and see it complain."""
    chosen = next(
        x for x in lines if x["test_keys"]["tls_handshakes"] and x["test_keys"]["requests"]
    )
    m = json.loads(json.dumps(chosen))
    m.pop("measurement_uid")
    m["probe_network_name"] = None
    m["annotations"]["network_type"] = "home"
    keys = m["test_keys"]
    keys["tls_handshakes"][0].pop("t0")
    keys["tcp_connect"][0]["status"]["failure"] = "tls.reset"
    keys["requests"][0]["request"]["headers_list"] = [["Host"]]
    keys["censorcheck_verdict"] = {}
    problems = "\n".join(check_web_connectivity(m))
    for expected in (
        ".measurement_uid: not OONI's shape",
        ".probe_network_name: NoneType",
        ".annotations.network_type: 'home'",
        ".tls_handshakes[0].t0: missing",
        ".requests[0].request.headers_list[0]: not a [key, value] pair",
        "'tls.reset' is not a df-007 failure",
        ".test_keys.censorcheck_verdict: ours, but without",
    ):
        assert expected in problems, problems


def test_times_are_relative_to_the_start_when_the_document_has_them(
    lines: list[dict[str, Any]],
) -> None:
    for m in lines:
        relative = m["annotations"]["censorcheck_times"] == "relative"
        keys = m["test_keys"]
        timed = [*keys["queries"], *keys["tcp_connect"], *keys["tls_handshakes"], *keys["requests"]]
        # Only the document made by hand (vantage "v") has observations without t0.
        assert relative is not (m["annotations"]["censorcheck_vantage"] == "v" and bool(timed))
        if relative and timed:
            # Everything happened within the measurement, and not all of it at its start.
            assert all(e["t"] <= m["test_runtime"] + 1e-6 for e in timed), m["input"]
            assert any(e["t0"] > 0 for e in timed), m["input"]


def test_one_connection_is_one_transaction(lines: list[dict[str, Any]]) -> None:
    for m in lines:
        keys = m["test_keys"]
        by_endpoint: dict[str, set[int]] = {}
        for c in _depth0(keys["tcp_connect"]):
            by_endpoint.setdefault(f"{c['ip']}:{c['port']}", set()).add(c["transaction_id"])
        for h in _depth0(keys["tls_handshakes"]):
            by_endpoint.setdefault(h["address"], set()).add(h["transaction_id"])
        assert all(len(ids) == 1 for ids in by_endpoint.values()), m["input"]
        # Each DNS round trip is its own transaction.
        ids = [q["transaction_id"] for q in keys["queries"]]
        assert len(ids) == len(set(ids))
        # The first request rides the connection the handshake opened.
        first = [r for r in keys["requests"] if "depth=0" in r["tags"]]
        if first and keys["tls_handshakes"] and first[0]["failure"] is None:
            tls = _depth0(keys["tls_handshakes"])
            same = [h["transaction_id"] for h in tls if h["address"] == first[0]["address"]]
            assert same in ([], [first[0]["transaction_id"]])


def _depth0(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["tags"] == ["depth=0", "fetch_body=true"]]


def test_handshakes_name_only_hosts_of_the_measurement(lines: list[dict[str, Any]]) -> None:
    """The neutral-SNI handshakes asked another name: they stay under our own key."""
    neutral = 0
    for m in lines:
        keys = m["test_keys"]
        hosts = {urlsplit(m["input"]).hostname}
        hosts |= {urlsplit(r["request"]["url"]).hostname for r in keys["requests"]}
        for h in [*keys["tls_handshakes"], *keys["quic_handshakes"]]:
            assert h["server_name"] in hosts, (m["input"], h["server_name"])
        for h in keys["x_censorcheck_neutral_sni_handshakes"]:
            assert h["server_name"] not in hosts
            neutral += 1
    assert neutral  # the SNI-blocking rows made some


def test_certificates_are_the_chains_der(lines: list[dict[str, Any]]) -> None:
    from cryptography import x509

    checked = 0
    for m in lines:
        for h in m["test_keys"]["tls_handshakes"]:
            ders = [base64.b64decode(c["data"]) for c in h["peer_certificates"]]
            assert [hashlib.sha256(d).hexdigest() for d in ders] == [
                c["sha256"] for c in h["x_censorcheck_chain"]
            ]
            for der in ders:
                x509.load_der_x509_certificate(der)
                checked += 1
    assert checked


def test_request_headers_are_those_sent(lines: list[dict[str, Any]]) -> None:
    requests = [r for m in lines for r in m["test_keys"]["requests"] if r["response"]["code"]]
    assert requests
    for r in requests:
        sent = dict(r["request"]["headers_list"])
        assert sent["Host"] == urlsplit(r["request"]["url"]).netloc
        assert sent["User-Agent"] and sent["Accept"]


def test_network_events_are_the_connects(lines: list[dict[str, Any]]) -> None:
    for m in lines:
        keys = m["test_keys"]
        if m["annotations"]["censorcheck_times"] != "relative":
            assert keys["network_events"] == []
            continue
        connects = [(c["ip"], c["port"], c["t0"], c["transaction_id"]) for c in keys["tcp_connect"]]
        events = [e for e in keys["network_events"] if e["operation"] == "connect"]
        seen = [(e["address"].rsplit(":", 1)[0], int(e["address"].rsplit(":", 1)[1]), e["t0"],
                 e["transaction_id"]) for e in events]  # fmt: skip
        assert seen == connects


def test_each_control_has_ooni_shape(lines: list[dict[str, Any]]) -> None:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for m in lines:
        by_source.setdefault(m["test_keys"]["x_censorcheck_control_source"], []).append(m)
    for source in ("server", "ooni", "vantage"):
        controls = [m["test_keys"]["control"] for m in by_source[source]]
        assert any(c.get("tcp_connect") for c in controls), source
        assert any(c.get("http_request") for c in controls), source
    with_dns = [m for m in by_source["resolvers"] if m["test_keys"]["control"].get("dns")]
    assert with_dns and all("http_request" not in m["test_keys"]["control"] for m in with_dns)


def test_oonidata_loads_every_line(lines: list[dict[str, Any]]) -> None:
    """OONI's own models read each line as a Web Connectivity measurement."""
    for m in lines:
        loaded = load_measurement(msmt=m)
        assert type(loaded).__name__ == "WebConnectivity"
        assert loaded.measurement_uid == m["measurement_uid"]
        assert (loaded.probe_cc, loaded.probe_asn) == (m["probe_cc"], m["probe_asn"])
        keys = loaded.test_keys
        assert len(keys.tls_handshakes or []) == len(m["test_keys"]["tls_handshakes"])
        assert [q.t0 for q in keys.queries or []] == [q["t0"] for q in m["test_keys"]["queries"]]
        assert [r.transaction_id for r in keys.requests or []] == [
            r["transaction_id"] for r in m["test_keys"]["requests"]
        ]


def test_every_code_of_ours_maps_to_a_df007_failure() -> None:
    for code in FAILURES:
        mapped = ooni_failure(code)
        assert mapped in DF007 or mapped == f"unknown_failure: {code}", code
