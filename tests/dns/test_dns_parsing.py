"""Reading DNS answers and parsing resolver URIs: no servers."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset
import pytest

from censorcheck.errors import ConfigError
from censorcheck.measure.probes.dns import parse_resolver, read_answer


def test_read_answer_follows_cnames() -> None:
    query = dns.message.make_query("www.example.test", "A")
    reply = dns.message.make_response(query)
    reply.answer += [
        dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "edge.cdn.test."),
        dns.rrset.from_text("edge.cdn.test.", 30, "IN", "CNAME", "e1.cdn.test."),
        dns.rrset.from_text("e1.cdn.test.", 20, "IN", "A", "192.0.2.7", "192.0.2.8"),
        dns.rrset.from_text("elsewhere.test.", 5, "IN", "A", "192.0.2.99"),
    ]
    answer = read_answer(reply, 0.01)
    assert answer.cnames == ["edge.cdn.test", "e1.cdn.test"]
    assert answer.addresses == ["192.0.2.7", "192.0.2.8"]
    assert answer.ttl == 20 and answer.rcode == "NOERROR"
    looping = dns.message.make_response(query)
    looping.answer += [
        dns.rrset.from_text("www.example.test.", 60, "IN", "CNAME", "a.test."),
        dns.rrset.from_text("a.test.", 60, "IN", "CNAME", "www.example.test."),
    ]
    assert read_answer(looping, 0.0).cnames == ["a.test"]
    bare = dns.message.make_response(query)
    bare.question = []
    bare.set_rcode(dns.rcode.REFUSED)
    assert query.is_response(bare)  # dnspython accepts error replies without a question
    assert read_answer(bare, 0.0).model_dump() == {
        "rcode": "REFUSED",
        "addresses": [],
        "cnames": [],
        "ttl": None,
        "t": 0.0,
        "records": [],
    }


VALID = [
    ("system", "system", "", 53, ""),
    ("udp://192.0.2.1", "udp", "192.0.2.1", 53, ""),
    ("udp://192.0.2.1:5353", "udp", "192.0.2.1", 5353, ""),
    ("UDP://192.0.2.1/", "udp", "192.0.2.1", 53, ""),
    ("tcp://[2001:db8::1]", "tcp", "2001:db8::1", 53, ""),
    ("tls://192.0.2.1", "tls", "192.0.2.1", 853, ""),
    ("tls://[2001:db8::1]:8853", "tls", "2001:db8::1", 8853, ""),
    ("https://dns.example/dns-query", "https", "dns.example", 443, "/dns-query"),
    ("https://DNS.Example", "https", "dns.example", 443, "/dns-query"),
    ("https://192.0.2.1:8443/resolve", "https", "192.0.2.1", 8443, "/resolve"),
    ("https://[2001:db8::1]/dns-query", "https", "2001:db8::1", 443, "/dns-query"),
]


@pytest.mark.parametrize(("uri", "scheme", "host", "port", "path"), VALID)
def test_parse_resolver(uri: str, scheme: str, host: str, port: int, path: str) -> None:
    resolver = parse_resolver(uri)
    assert (resolver.scheme, resolver.host, resolver.port, resolver.path) == (
        scheme,
        host,
        port,
        path,
    )
    assert resolver.uri == uri


INVALID = [
    ("", "not a resolver URI"),
    ("8.8.8.8", "not a resolver URI"),
    ("dns://8.8.8.8", "unknown scheme"),
    ("udp://dns.google", "needs an IP address"),
    ("tls://dns.google:853", "needs an IP address"),
    ("udp://2001:db8::1", "brackets"),
    ("udp://[192.0.2.1]", "bracket"),
    ("udp://192.0.2.1:99999", "port"),
    ("udp://192.0.2.1:0", "port 0"),
    ("udp://192.0.2.1:abc", "port"),
    ("tcp://192.0.2.1/dns", "no path"),
    ("https://bad_host!/dns-query", "not a valid host name"),
    ("https://user@dns.example/", "not allowed"),
    ("https:///dns-query", "no host"),
    ("https://dns.example/dns-query?x=1", "not allowed"),
]


@pytest.mark.parametrize(("uri", "why"), INVALID)
def test_parse_resolver_rejects(uri: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_resolver(uri)
    message = str(caught.value)
    assert why in message and repr(uri) in message and "\n" not in message
