"""OONI export: real lab runs converted to Web Connectivity measurements, checked against what the
run document recorded, and the JSONL file written whole or not at all."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from censorcheck.lab import Lab
from censorcheck.measure.api import measure, measure_many
from censorcheck.measure.targets import load_targets
from censorcheck.measure.vantages import Vantage
from censorcheck.models import HTTPFetch, HTTPHop, Result, Run
from censorcheck.results.ooni import (
    measurements,
    write_jsonl,
)
from tests.test_ooni_mappings import response
from tests.test_store import result as bare_result
from tests.test_store import run_of

SCENARIOS = (
    "dns-nxdomain",
    "tls-sni-reset",
    "tls-mitm",
    "http-blockpage",
    "http-generic-blockpage",
    "static",
    "static-http",
    "redirect",
    "gone",
    "down-everywhere",
    "ipv6-only-broken",
    "quic-https-record",
)
# What each row must export with the control server as the control: (blocking, accessible).
EXPECTED = {
    "dns-nxdomain": ("dns", False),
    "tls-sni-reset": ("http-failure", False),
    "tls-mitm": ("http-failure", False),
    "http-blockpage": ("http-diff", False),
    "http-generic-blockpage": ("http-diff", False),  # the page differs from the control's
    "static": (False, True),
    "static-http": (False, True),
    "redirect": (False, True),
    "gone": (False, False),  # down for everyone: OONI's "website down"
    "down-everywhere": (False, False),
    "ipv6-only-broken": (False, True),
    "quic-https-record": (False, True),
}
OONI_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _targets(lab: Lab, names: tuple[str, ...]) -> list[Any]:
    return load_targets([lab.topology.url(f"{name}.lab.test") for name in names])


@pytest.fixture(scope="module")
def control_run(lab: Lab) -> Run:
    if lab.control is None:
        pytest.skip("the lab has no control server (control extra not installed)")
    return measure(_targets(lab, SCENARIOS), lab.settings(control=True))


@pytest.fixture(scope="module")
def by_name(control_run: Run) -> dict[str, tuple[Result, dict[str, Any]]]:
    pairs = zip(control_run.results, measurements(control_run), strict=True)
    return {r.target.domain.removesuffix(".lab.test"): (r, m) for r, m in pairs}


def _tagged(entries: list[dict[str, Any]], *tags: str) -> list[dict[str, Any]]:
    return [e for e in entries if all(t in e["tags"] for t in tags)]


# --- the base format ------------------------------------------------------------------------


def test_one_measurement_per_result_with_the_base_fields(control_run: Run) -> None:
    out = list(measurements(control_run))
    assert len(out) == len(control_run.results) == len(SCENARIOS)
    server = control_run.vantage.control_server
    assert server is not None
    for result, m in zip(control_run.results, out, strict=True):
        assert m["input"] == result.target.url
        assert m["data_format_version"] == "0.2.0"
        assert m["test_name"] == "web_connectivity"
        assert m["test_version"] == "0.5.0-censorcheck"
        assert m["software_name"] == "censorcheck"
        assert m["software_version"] == control_run.tool.version
        assert OONI_TIME.fullmatch(m["measurement_start_time"])
        assert OONI_TIME.fullmatch(m["test_start_time"])
        assert m["measurement_start_time"] == result.started_at[:19].replace("T", " ")
        assert m["test_start_time"] == control_run.started_at[:19].replace("T", " ")
        assert m["test_runtime"] == result.t
        # Lab.settings() configures no country or network: OONI's values for unknown.
        assert (m["probe_cc"], m["probe_asn"]) == ("ZZ", "AS0")
        assert m["probe_ip"] == "127.0.0.1" and m["probe_network_name"] == ""
        assert (m["resolver_asn"], m["resolver_ip"], m["resolver_network_name"]) == ("AS0", "", "")
        assert m["annotations"] == {
            "engine_name": "censorcheck",
            "engine_version": control_run.tool.version,
            "censorcheck_run_id": control_run.run_id,
            "censorcheck_vantage": "lab-censored",
            "censorcheck_rules_version": control_run.rules_version,
            "censorcheck_schema_version": control_run.schema_version,
            "censorcheck_times": "relative",
        }
        assert uuid.UUID(m["id"]).version == 5
        assert re.fullmatch(r"\d{8}T\d{6}Z_webconnectivity_ZZ_0_n1_[A-Za-z0-9]{16}", m["report_id"])
        assert m["test_helpers"] == {"backend": {"address": server.url, "type": "censorcheck"}}
    assert len({m["id"] for m in out}) == len(out)
    assert len({m["report_id"] for m in out}) == 1  # one report per run and vantage
    # Pure: converting again gives the same measurements, ids and report id included.
    assert list(measurements(control_run)) == out
    # Nothing the probe bound to is exported (the lab's source address is a loopback address).
    source = control_run.vantage.source_address
    assert source is not None
    bound = re.compile(re.escape(source) + r"(?![\d])")
    assert not any(bound.search(json.dumps(m)) for m in out)


def test_blocking_and_accessible_follow_the_verdict(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    wrong = []
    for name, (result, m) in by_name.items():
        keys = m["test_keys"]
        if (keys["blocking"], keys["accessible"]) != EXPECTED[name]:
            wrong.append(f"{name}: {keys['blocking']!r}/{keys['accessible']!r} ({result.verdict})")
        assert keys["x_censorcheck_verdict"] == result.verdict.model_dump()
        verdict = result.verdict
        consistency = None
        if verdict.status == "accessible":
            consistency = "consistent"
        elif verdict.blocking == "dns":
            consistency = "inconsistent"
        assert keys["dns_consistency"] == consistency, name
    assert not wrong, "\n".join(wrong)


# --- DNS, TCP, TLS, HTTP --------------------------------------------------------------------


def test_nxdomain_is_ooni_nxdomain_in_the_queries_and_the_experiment(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    result, m = by_name["dns-nxdomain"]
    keys = m["test_keys"]
    asked = [*result.dns, *result.dns_https]  # the HTTPS record's query last
    assert [q["failure"] for q in keys["queries"]] == ["dns_nxdomain_error"] * len(asked)
    assert [(q["hostname"], q["query_type"]) for q in keys["queries"]] == [
        (q.hostname, q.qtype) for q in asked
    ]
    assert all(q["answers"] == [] and q["rcode"] == 3 for q in keys["queries"])
    resolver = result.dns[0].resolver.removeprefix("udp://")
    assert all(q["engine"] == "udp" and q["resolver_address"] == resolver for q in keys["queries"])
    assert keys["dns_experiment_failure"] == "dns_nxdomain_error"
    assert keys["http_experiment_failure"] == "dns_nxdomain_error"  # the fetch never started
    assert keys["tcp_connect"] == [] and keys["requests"] == []
    # The control server resolved it: its addresses are there, with no failure.
    control = result.control.dns[0].answer
    assert control is not None and control.addresses
    assert keys["control"]["dns"] == {"failure": None, "addrs": control.addresses}
    assert keys["control_failure"] is None


def test_answers_carry_the_addresses_and_ttl(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    result, m = by_name["static"]
    first = result.dns[0]
    assert first.qtype == "A" and first.answer is not None
    query = m["test_keys"]["queries"][0]
    assert query["failure"] is None and query["rcode"] == 0
    assert query["answers"] == [
        {"answer_type": "A", "ipv4": a, "ttl": first.answer.ttl} for a in first.answer.addresses
    ]
    assert m["test_keys"]["dns_experiment_failure"] is None


def test_an_https_query_is_exported_as_oonis_probe_writes_one(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    """The HTTPS record's query is in ``queries``: its protocols as ALPN answers, its hints as
    addresses; the site's DNS failure is still judged on A and AAAA alone."""
    result, m = by_name["quic-https-record"]
    (query,) = result.dns_https
    assert query.answer is not None and query.answer.records
    exported = [q for q in m["test_keys"]["queries"] if q["query_type"] == "HTTPS"]
    assert len(exported) == 1 and exported[0]["hostname"] == query.hostname
    alpns = [a["alpn"] for a in exported[0]["answers"] if a["answer_type"] == "ALPN"]
    assert alpns == [p for r in query.answer.records for p in r.alpn]
    hints = [a.get("ipv4") or a.get("ipv6") for a in exported[0]["answers"] if "alpn" not in a]
    assert hints == [a for r in query.answer.records for a in (*r.ipv4hint, *r.ipv6hint)]
    assert exported[0]["failure"] is None and exported[0]["rcode"] == 0
    assert m["test_keys"]["dns_experiment_failure"] is None
    assert all(
        q["query_type"] != "HTTPS" for q in by_name["static-http"][1]["test_keys"]["queries"]
    )


def test_tcp_connect_is_our_connection_attempts(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    for name, (result, m) in by_name.items():
        tried = [t for t in result.tcp if t.skipped is None]
        ours = [(t.address, t.port, t.failure is None, t.t0, t.t) for t in tried]
        theirs = [
            (
                c["ip"],
                c["port"],
                c["status"]["success"],
                c["t0"],
                pytest.approx(c["t"] - c["t0"], abs=1e-5),
            )
            for c in _tagged(m["test_keys"]["tcp_connect"], "depth=0", "fetch_body=true")
        ]
        assert theirs == ours, name
        assert all(c["status"]["blocked"] is None for c in m["test_keys"]["tcp_connect"])
    # An address never dialled (no IPv6 here) is no connection attempt, for us or the control.
    result, m = by_name["ipv6-only-broken"]
    [skipped] = [t for t in result.tcp if t.skipped is not None]
    assert ipaddress.ip_address(skipped.address).version == 6
    [ours_aaaa] = [q.answer for q in result.dns if q.qtype == "AAAA"]
    [aaaa] = [q for q in m["test_keys"]["queries"] if q["query_type"] == "AAAA"]
    assert ours_aaaa is not None and ours_aaaa.addresses == [skipped.address]
    assert aaaa["answers"] == [
        {"answer_type": "AAAA", "ipv6": skipped.address, "ttl": ours_aaaa.ttl}
    ]
    assert [c["ip"] for c in m["test_keys"]["tcp_connect"]] == [result.tcp[0].address]
    assert not any(":" in key.rsplit(":", 1)[0] for key in m["test_keys"]["control"]["tcp_connect"])
    result, m = by_name["down-everywhere"]
    [refused] = m["test_keys"]["tcp_connect"]
    assert result.tcp[0].failure == "tcp.refused"
    assert refused["status"] == {"success": False, "failure": "connection_refused", "blocked": None}
    assert m["test_keys"]["http_experiment_failure"] == "connection_refused"
    control = m["test_keys"]["control"]["tcp_connect"]
    assert control == {
        f"{refused['ip']}:{refused['port']}": {"status": False, "failure": "connection_refused"}
    }


def test_sni_blocking_shows_the_reset_and_the_neutral_handshake(
    lab: Lab, by_name: dict[str, tuple[Result, dict[str, Any]]]
) -> None:
    result, m = by_name["tls-sni-reset"]
    handshakes = m["test_keys"]["tls_handshakes"]
    [blocked] = _tagged(handshakes, "fetch_body=true")
    assert result.tls[0].failure == "tls.reset"
    assert blocked["failure"] == "connection_reset"
    assert blocked["server_name"] == result.target.domain
    assert blocked["address"] == f"{result.tls[0].address}:{result.tls[0].port}"
    [again] = _tagged(handshakes, "censorcheck_repeat")
    assert again["failure"] == "connection_reset" and "fetch_body=false" in again["tags"]
    # The neutral name asked another host: kept apart from OONI's handshakes of this one.
    assert not _tagged(handshakes, "censorcheck_neutral_sni")
    [neutral] = _tagged(m["test_keys"]["x_censorcheck_neutral_sni_handshakes"], "fetch_body=false")
    assert neutral["server_name"] == lab.settings().neutral_sni
    assert neutral["failure"] is None and neutral["tls_version"] and neutral["cipher_suite"]
    assert "fetch_body=false" in neutral["tags"]
    assert m["test_keys"]["http_experiment_failure"] == "connection_reset"
    assert m["test_keys"]["requests"] == []
    # The control server shook hands with the host's own name at the same address.
    endpoint = m["test_keys"]["control"]["tls_handshake"][blocked["address"]]
    assert endpoint == {"server_name": result.target.domain, "status": True, "failure": None}


def test_an_interception_certificate_is_an_unknown_authority(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    result, m = by_name["tls-mitm"]
    [handshake] = _tagged(m["test_keys"]["tls_handshakes"], "fetch_body=true")
    assert result.tls[0].failure == "tls.untrusted"
    assert handshake["failure"] == "ssl_unknown_authority"
    assert [c["data"] for c in handshake["peer_certificates"]] == [
        c.der for c in result.tls[0].chain
    ]
    assert [c["sha256"] for c in handshake["x_censorcheck_chain"]] == [
        c.sha256 for c in result.tls[0].chain
    ]
    assert handshake["x_censorcheck_chain"]


def test_requests_are_newest_first_with_our_statuses_and_bodies(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    for name, (result, m) in by_name.items():
        requests = _tagged(m["test_keys"]["requests"], "fetch_body=true")
        hops = list(reversed(result.http.hops)) if result.http else []
        assert len(requests) == len(hops), name
        for request, hop in zip(requests, hops, strict=True):
            assert request["request"]["url"] == hop.url
            assert request["request"]["method"] == "GET"
            response = request["response"]
            assert hop.response is not None
            assert response["code"] == hop.response.status
            assert response["body"] == hop.response.body_prefix
            assert response["headers_list"] == [list(pair) for pair in hop.response.headers]
            # A repeated header keeps its first value in the map, as df-001 says.
            assert response["headers"] == dict(reversed(hop.response.headers))
            assert request["failure"] is None
    result, m = by_name["redirect"]
    codes = [r["response"]["code"] for r in m["test_keys"]["requests"]]
    assert codes == [200, 301]  # the final response first, as OONI lists them
    assert [r["tags"][0] for r in m["test_keys"]["requests"]] == ["depth=1", "depth=0"]
    # The https hop opened its own connection: it is in tcp_connect and tls_handshakes too.
    assert _tagged(m["test_keys"]["tcp_connect"], "depth=1")
    [handshake] = _tagged(m["test_keys"]["tls_handshakes"], "depth=1")
    assert handshake["failure"] is None and handshake["server_name"] == result.target.domain


def test_the_control_page_is_compared_like_web_connectivity(
    by_name: dict[str, tuple[Result, dict[str, Any]]],
) -> None:
    for name in ("static", "static-http", "redirect"):
        keys = by_name[name][1]["test_keys"]
        compared = ("status_code_match", "body_length_match", "title_match", "headers_match")
        assert [keys[k] for k in compared] == [True] * 4, name
    result, m = by_name["http-generic-blockpage"]
    keys = m["test_keys"]
    assert result.control.http is not None and result.control.http.hops[-1].response
    theirs = result.control.http.hops[-1].response
    assert keys["control"]["http_request"] == {
        "body_length": theirs.body_length,
        "failure": None,
        "title": theirs.title,
        "headers": dict(reversed(theirs.headers)),
        "status_code": theirs.status,
    }
    assert keys["status_code_match"] is True  # both 200...
    assert keys["title_match"] is False  # ...but not the same page
    ours = result.http.hops[-1].response if result.http else None
    assert ours is not None
    low, high = sorted((ours.body_length, theirs.body_length))
    assert keys["body_proportion"] == pytest.approx(low / high)
    assert keys["body_length_match"] is (low / high > 0.7)
    for name in ("dns-nxdomain", "tls-sni-reset", "gone"):
        keys = by_name[name][1]["test_keys"]
        assert keys["status_code_match"] is keys["body_length_match"] is None, name
    # The site that is gone for everyone: the control server could not resolve it either.
    gone = by_name["gone"][1]["test_keys"]
    assert gone["control"]["dns"] == {"failure": "dns_nxdomain_error", "addrs": []}
    assert "http_request" not in gone["control"]


def test_with_control_resolvers_the_control_holds_their_dns(lab: Lab) -> None:
    run = measure(_targets(lab, ("static", "dns-nxdomain")), lab.settings())
    for result, m in zip(run.results, measurements(run), strict=True):
        keys = m["test_keys"]
        assert m["test_helpers"] == {}
        control = keys["control"]
        assert (control["tcp_connect"], control["tls_handshake"], "http_request" in control) == (
            {},
            {},
            False,
        )
        want = [a for q in result.control.dns if q.answer for a in q.answer.addresses]
        assert control["dns"]["addrs"] == want
        assert keys["x_censorcheck_control_source"] == "resolvers"
        # What the control resolvers answered is not lost.
        assert [q["hostname"] for q in keys["x_censorcheck_control_queries"]] == [
            q.hostname for q in result.control.dns
        ]
        assert keys["status_code_match"] is None and keys["title_match"] is None


def test_each_vantage_is_its_own_report_with_its_country_and_asn(lab: Lab) -> None:
    targets = _targets(lab, ("static", "tls-sni-reset"))
    free = Vantage(name="lab-free", country="kz", asn=9198, network_type="datacenter")
    run = measure_many(
        [
            (lab.settings(censored=True), None, targets),
            (lab.settings(censored=False), free, targets),
        ]
    )
    out = list(measurements(run))
    assert len(out) == len(run.results) == 4
    seen = {(m["annotations"]["censorcheck_vantage"], m["input"]): m for m in out}
    assert len(seen) == 4 and len({m["id"] for m in out}) == 4
    url = targets[1].url
    censored, uncensored = seen[("lab-censored", url)], seen[("lab-free", url)]
    assert (censored["probe_cc"], censored["probe_asn"]) == ("ZZ", "AS0")
    assert (uncensored["probe_cc"], uncensored["probe_asn"]) == ("KZ", "AS9198")
    # OONI knows mobile and wifi only: a datacenter is ours alone.
    assert uncensored["annotations"]["censorcheck_network_type"] == "datacenter"
    assert "network_type" not in uncensored["annotations"]
    assert "_KZ_9198_n1_" in uncensored["report_id"]
    assert censored["report_id"] != uncensored["report_id"]
    assert censored["test_keys"]["blocking"] == "http-failure"
    assert uncensored["test_keys"]["blocking"] is False


def test_a_document_from_before_vantages_were_named() -> None:
    old = run_of([bare_result("a.example")])
    assert old.vantages == [] and old.results[0].vantage is None
    [m] = measurements(old)
    assert m["annotations"]["censorcheck_vantage"] == "v"
    assert m["annotations"]["censorcheck_rules_version"] == "0"
    assert m["test_keys"]["control"] == {} and m["test_keys"]["queries"] == []
    assert m["test_keys"]["dns_experiment_failure"] is None


def test_a_repeated_header_keeps_its_first_value_in_the_map() -> None:
    cookies = [("Set-Cookie", "a=1"), ("Content-Type", "text/html"), ("Set-Cookie", "b=2")]
    page = response(200, "Page", cookies)
    hop = HTTPHop(url="https://a.example/", response=page)
    result = bare_result("a.example").model_copy(update={"http": HTTPFetch(hops=[hop])})
    [m] = measurements(run_of([result]))
    [request] = m["test_keys"]["requests"]
    assert request["response"]["headers"] == {"Set-Cookie": "a=1", "Content-Type": "text/html"}
    assert request["response"]["headers_list"] == [list(pair) for pair in cookies]


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_has_one_measurement_a_line(control_run: Run, tmp_path: Path) -> None:
    other = run_of([bare_result("a.example"), bare_result("b.example")])
    path = tmp_path / "out" / "ooni.jsonl"
    count = write_jsonl([control_run, other], path)
    assert count == len(control_run.results) + 2
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == count + 1
    parsed = [json.loads(line) for line in lines[:-1]]
    assert all(isinstance(m, dict) for m in parsed)
    assert parsed == [*measurements(control_run), *measurements(other)]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ["ooni.jsonl"]  # no temporary file left
    assert write_jsonl([], path) == 0 and path.read_text(encoding="utf-8") == ""


def test_a_failed_export_leaves_the_old_file_untouched(control_run: Run, tmp_path: Path) -> None:
    path = tmp_path / "ooni.jsonl"
    path.write_text("previous export\n", encoding="utf-8")

    def runs() -> Iterator[Run]:
        yield control_run
        raise RuntimeError("the second document could not be read")

    with pytest.raises(RuntimeError):
        write_jsonl(runs(), path)
    assert path.read_text(encoding="utf-8") == "previous export\n"
    assert os.listdir(tmp_path) == ["ooni.jsonl"]
