"""Property: no answer from a control makes a run crash. A body from an OONI test helper, or
from our own control server, is read as the clients read it: a model, or the failure
``control.bad_response``. A model that validates becomes a Control that survives a JSON round
trip and that the verdict rules judge without an exception, beside probe observations of the
same site."""

from __future__ import annotations

import contextlib
import json

import dns.message
import dns.rrset
import pydantic
from hypothesis import example, given
from hypothesis import strategies as st

from censorcheck.control.ooni import THResponse, to_control
from censorcheck.measure.failures import FAILURES
from censorcheck.measure.probes import dnstransport
from censorcheck.measure.probes.dns import read_answer
from censorcheck.measure.probes.dnswire import Query
from censorcheck.measure.verdict import Observations, judge
from censorcheck.models import Control, DNSAnswer, DNSQuery, Target, TCPConnect
from censorcheck.scan.wire import parse_reply
from tests.fuzz.bounds import time_limit
from tests.fuzz.inputs import json_mutated, mutated, nested

URLS = (
    "https://a.example/",
    "http://a.example/",
    "http://a.example:8080/x",
    "https://[2001:db8::1]/",
)

# An answer of the shape OONI's helpers give (ooni/spec ts-017), every part present.
HELPER_ANSWER = {
    "tcp_connect": {
        "192.0.2.10:443": {"status": True, "failure": None},
        "[2001:db8::10]:443": {"status": False, "failure": "connection_refused"},
        "192.0.2.10:80": {"status": False, "failure": "generic_timeout_error"},
    },
    "tls_handshake": {
        "192.0.2.10:443": {"server_name": "a.example", "status": True, "failure": None},
        "[2001:db8::10]:443": {
            "server_name": "a.example", "status": False, "failure": "ssl_invalid_hostname",
        },
    },
    "quic_handshake": {
        "192.0.2.10:443": {"server_name": "a.example", "status": True, "failure": None},
    },
    "http_request": {
        "body_length": 1234, "discovered_h3_endpoint": "a.example:443", "failure": None,
        "title": "A", "headers": {"Server": "x", "Alt-Svc": 'h3=":443"'}, "status_code": 200,
    },
    "http3_request": {
        "body_length": 1234, "failure": None, "title": "A", "headers": {}, "status_code": 200,
    },
    "dns": {"failure": None, "addrs": ["192.0.2.10", "2001:db8::10", "a.example"]},
    "ip_info": {"192.0.2.10": {"asn": 64500, "flags": 11}},
}  # fmt: skip
HELPER_BYTES = json.dumps(HELPER_ANSWER).encode()


def _probe_side(url: str) -> Observations:
    host = url.split("/")[2].strip("[]").rsplit(":", 1)[0] if "[" not in url else "2001:db8::1"
    answer = DNSAnswer(rcode="NOERROR", addresses=["192.0.2.10"], t=0.01)
    dns = [DNSQuery(resolver="udp://192.0.2.53", hostname=host, qtype="A", answer=answer, t=0.01)]
    tcp = [TCPConnect(address="192.0.2.10", port=443, failure="tcp.refused", t=0.01)]
    return Observations(target=Target(url=url, domain=host), dns=dns, tcp=tcp)


def body() -> st.SearchStrategy[bytes]:
    return st.one_of(
        json_mutated(HELPER_ANSWER).map(lambda doc: json.dumps(doc).encode()),
        mutated(HELPER_BYTES),
        st.binary(max_size=256),
    )


@given(data=body(), url=st.sampled_from(URLS))
@example(data=nested(100_000).encode(), url=URLS[0])
@example(data=b'{"tcp_connect": {"1.2.3.4:' + b"9" * 5000 + b'": {"status": true}}}', url=URLS[1])
@example(
    data=b'{"dns": {"addrs": ["::1%eth0", "999.1.1.1"]},'
    b' "http_request": {"status_code": 99999999999}}',
    url=URLS[0],
)
def test_ooni_helper_answers(data: bytes, url: str) -> None:
    with time_limit():
        try:
            answer = THResponse.model_validate_json(data)
        except pydantic.ValidationError:
            return  # the client's control.bad_response
        control = to_control(answer, url, "ooni:th.example")
        assert Control.model_validate_json(control.model_dump_json()) == control
        obs = _probe_side(url)
        judge(Observations(target=obs.target, dns=obs.dns, tcp=obs.tcp, control=control))


CONTROL_BYTES = (
    Control(dns=_probe_side(URLS[0]).dns, tcp=_probe_side(URLS[0]).tcp, failure=None)
    .model_dump_json()
    .encode()
)


@given(data=st.one_of(mutated(CONTROL_BYTES), json_mutated(json.loads(CONTROL_BYTES)).map(
    lambda doc: json.dumps(doc).encode())))  # fmt: skip
# Found by `make fuzz`: an answer whose address had lost a digit validated, then stopped the
# rules (ValueError from the bogon check) before any verdict.
@example(data=CONTROL_BYTES.replace(b'"addresses":["192.0.2.10"]', b'"addresses":[".0.2.10"]'))
@example(data=CONTROL_BYTES.replace(b'"address":"192.0.2.10"', b'"address":"a.example"'))
def test_control_server_answers(data: bytes) -> None:
    assert b'"addresses":["192.0.2.10"]' in CONTROL_BYTES  # the examples above edit these
    assert b'"address":"192.0.2.10"' in CONTROL_BYTES
    with time_limit():
        try:
            control = Control.model_validate_json(data)
        except pydantic.ValidationError:
            return  # the client's control.bad_response
        obs = _probe_side(URLS[0])
        judge(Observations(target=obs.target, dns=obs.dns, tcp=obs.tcp, control=control))


# --- DNS replies: the probe's reader (dnspython, then our checks) and dns-scan's own ------------

QUERY = Query.build("a.example", "A", query_id=4660)


def _reply_seed() -> bytes:
    reply = dns.message.make_response(dns.message.from_wire(QUERY.wire))
    reply.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "CNAME", "b.example."))
    reply.answer.append(dns.rrset.from_text("b.example.", 60, "IN", "A", "192.0.2.10"))
    return reply.to_wire()


REPLY = _reply_seed()
# The address record's class changed from IN to 5: dnspython keeps it as opaque data, which is
# no address (found by make fuzz once addresses were checked to be IPs).
_A_IN = REPLY.rfind(b"\x00\x01\x00\x01")
OTHER_CLASS = REPLY[:_A_IN] + b"\x00\x01\x00\x05" + REPLY[_A_IN + 4 :]
# A name that points at itself, and one pointing past the end.
LOOP = REPLY[:12] + b"\xc0\x0c" + REPLY[-4 - 16 :]
PAST_END = REPLY[:12] + b"\xc3\xff\x00\x01\x00\x01"


@given(wire=st.one_of(mutated(REPLY), st.binary(max_size=600)))
@example(wire=LOOP)
@example(wire=PAST_END)
@example(wire=OTHER_CLASS)
@example(wire=REPLY[:11])
@example(wire=REPLY + b"\x00" * 65000)
def test_dns_replies(wire: bytes) -> None:
    with time_limit():
        exchange = dnstransport._parse(QUERY, wire, 0.01)
        assert exchange.failure is None or exchange.failure in FAILURES
        assert (exchange.reply is None) == (exchange.failure is not None)
        if exchange.reply is not None:
            read_answer(exchange.reply, 0.01)
        with contextlib.suppress(ValueError):  # dns-scan's dns.bad_response
            parse_reply(wire)
