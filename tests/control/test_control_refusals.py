"""What a control answer says when the dial guard refuses, and what it never says: a refusal
is ``control.forbidden_address`` where it happened (an IPv6 form of loopback included, as a
literal or through a real AAAA answer), and a resolver is named only by a neutral label."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.server import ServerConfig
from censorcheck.lab import Lab
from tests.control.support import TOKEN, assert_nothing_dialled, measure, serving, settings
from tests.control.test_control_guard import _lab_config
from tests.nameserver import udp_nameserver

# Names the nameserver below answers, with the AAAA data each gets (A: none).
AAAA = {
    "compatible.v6.test": "::127.0.0.1",
    "mapped.v6.test": "::ffff:127.0.0.1",
    "translated.v6.test": "::ffff:0:127.0.0.1",
    "sitelocal.v6.test": "fec0::1",
}


def _aaaa_only(query: dns.message.Message, peer: tuple[str, int]) -> list[dns.message.Message]:
    """The AAAA data of the names in ``AAAA``, and no A for any."""
    reply = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True)
    if question.rdtype == dns.rdatatype.AAAA and name in AAAA:
        reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "AAAA", AAAA[name]))
    return [reply]


@contextlib.contextmanager
def nameserver() -> Iterator[str]:
    """A real UDP nameserver on loopback answering ``AAAA``; yields its resolver URI."""
    with udp_nameserver(_aaaa_only) as (host, port):
        yield f"udp://{host}:{port}"


@pytest.fixture(scope="module")
def ipv6_server() -> Iterator[str]:
    """The default guard, with IPv6 on (``control serve --ipv6 on``), resolving with the
    nameserver above. Its IPv4 loopback source keeps a wrongly allowed dial on this machine."""
    with nameserver() as resolver:
        measuring = settings(resolvers=[resolver], source_address="127.0.0.1", ipv6="on")
        with serving(ServerConfig(tokens=(TOKEN,), settings=measuring)) as url:
            yield url


@pytest.mark.parametrize("literal", ["::127.0.0.1", "::ffff:0:127.0.0.1", "fec0::1"])
def test_an_ipv6_literal_of_loopback_is_refused_with_ipv6_on(
    ipv6_server: str, literal: str
) -> None:
    control = measure(ipv6_server, f"http://[{literal}]:8080/")
    assert_nothing_dialled(control)
    assert control.failure == "control.forbidden_address", control
    assert not control.deadline_hit


@pytest.mark.parametrize("name", sorted(AAAA))
def test_an_aaaa_answer_of_loopback_is_resolved_but_never_dialled(
    ipv6_server: str, name: str
) -> None:
    control = measure(ipv6_server, f"http://{name}:8080/")
    answered = [q for q in control.dns if q.qtype == "AAAA" and q.answer is not None]
    assert answered and answered[0].answer is not None
    got = [ipaddress.ip_address(a) for a in answered[0].answer.addresses]
    assert got == [ipaddress.ip_address(AAAA[name])]  # the name did resolve
    assert_nothing_dialled(control)
    assert control.tcp and all(
        (c.skipped or "").startswith("forbidden address") for c in control.tcp
    )
    assert control.failure == "control.forbidden_address", control
    # The resolver is named by its place in the server's list, never by its address.
    assert {q.resolver for q in control.dns} == {"control-1"}


def test_a_refused_ipv4_literal_is_no_deadline(default_guard: str) -> None:
    control = measure(default_guard, "http://127.0.0.1:9/")
    assert control.failure == "control.forbidden_address", control
    assert not control.deadline_hit


def test_a_name_resolving_only_to_forbidden_addresses_is_no_success(lab: Lab) -> None:
    with serving(_lab_config(lab)) as url:
        control = measure(url, lab.topology.url("static.lab.test"))
    assert control.dns and any(q.answer is not None for q in control.dns)
    assert control.failure == "control.forbidden_address", control
    assert {q.resolver for q in control.dns} == {"control-1"}


def test_a_measured_answer_names_no_resolver_address(lab: Lab) -> None:
    """Positive control: a name the server may measure works, and still shows only labels."""
    config = _lab_config(lab, only_networks=(lab.topology.network,))
    with serving(config) as url:
        control = measure(url, lab.topology.url("static.lab.test"))
    assert control.failure is None, control
    assert control.dns and {q.resolver for q in control.dns} == {"control-1"}
    assert lab.topology.resolver_uri(censored=False) not in control.model_dump_json()
