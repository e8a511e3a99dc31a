"""The control server's dial guard, against a real uvicorn server over loopback: forbidden
addresses are never dialled, whether asked for, resolved to or redirected to (see support)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.server import ServerConfig
from censorcheck.lab import Lab
from censorcheck.measure.bogons import embedded_ipv4
from tests.control.support import (
    TOKEN,
    Listeners,
    assert_nothing_dialled,
    confined,
    host,
    listening,
    measure,
    responding,
    serving,
    settings,
)

# --- the dial guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:{port}/", []),
        ("https://127.0.0.1:{port}/", []),
        # Linux delivers a connect to 0.0.0.0 to a local listener.
        ("http://0.0.0.0:{port}/", []),
        ("http://[::1]:{port6}/", []),
        ("http://[::ffff:127.0.0.1]:{port}/", []),
        ("http://[64:ff9b::7f00:1]:{port}/", []),  # NAT64
        ("http://[2002:7f00:1::]:{port}/", []),  # 6to4
        ("http://10.0.0.1/", []),
        ("http://192.168.1.1/", []),
        ("http://100.64.0.1/", []),  # shared (CGNAT)
        ("http://169.254.169.254/latest/meta-data/", []),
        ("http://[fe80::1]/", []),
        ("http://224.0.0.1/", []),
        ("http://[ff02::1]/", []),
        ("http://240.0.0.1/", []),
        ("http://255.255.255.255/", []),
        # The probe's own addresses are dialled on the URL's port: each must pass the guard too.
        ("http://192.0.2.1:{port}/", ["127.0.0.1", "::ffff:127.0.0.1", "0.0.0.0", "::1"]),
    ],
)
def test_the_default_guard_dials_no_forbidden_address(
    default_guard: str, loopback_listeners: Listeners, url: str, addresses: list[str]
) -> None:
    if "{port6}" in url and loopback_listeners.v6 is None:
        pytest.skip("no IPv6 loopback on this machine")
    port6 = loopback_listeners.v6.port if loopback_listeners.v6 is not None else 0
    control = measure(
        default_guard, url.format(port=loopback_listeners.v4.port, port6=port6), addresses=addresses
    )
    assert_nothing_dialled(control)
    assert len(control.tcp) == 1 + len(addresses)
    assert not loopback_listeners.v4.saw_connection()
    assert loopback_listeners.v6 is None or not loopback_listeners.v6.saw_connection()


def test_embedded_ipv4_sees_through_nat64_and_mapped_addresses() -> None:
    """The reason the NAT64 and mapped rows above are refused as loopback."""
    for wrapped in ("::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        inner = embedded_ipv4(ipaddress.ip_address(wrapped))
        assert inner == ipaddress.ip_address("127.0.0.1"), wrapped


def test_a_listener_that_is_dialled_notices_it() -> None:
    """Positive control for the rows above: with the guard opened to 127.0.0.1 the same
    measurement connects, and the listener sees it."""
    config = ServerConfig(
        tokens=(TOKEN,),
        settings=settings(source_address="127.0.0.1"),
        only_networks=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    with listening("127.0.0.1") as listener, serving(config) as url:
        control = measure(url, f"http://127.0.0.1:{listener.port}/", deadline=0.5)
        assert listener.saw_connection(wait=2)
    assert control.tcp[0].skipped is None and control.tcp[0].failure is None


def test_the_probes_addresses_are_dialled_only_where_allowed() -> None:
    """``addresses`` comes from the probe: allowed ones are connected to (that is their point),
    forbidden ones never, whether outside ``only_networks`` or unspecified."""
    with listening("127.0.0.1") as outside:
        port = outside.port
        with (
            responding(host(10), port) as site,
            listening(host(11), port) as inside,
            serving(confined()) as url,
        ):
            probe_says = ["127.0.0.1", host(11), "10.0.0.1", "169.254.169.254", "0.0.0.0"]
            control = measure(url, f"http://{host(10)}:{port}/", addresses=probe_says)
            assert inside.saw_connection(wait=2)
        assert not outside.saw_connection()
    by_address = {c.address: c for c in control.tcp}
    assert set(by_address) == {host(10), *probe_says}
    for address in (host(10), host(11)):
        assert by_address[address].skipped is None and by_address[address].failure is None
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "0.0.0.0"):
        skipped = by_address[address].skipped
        assert skipped is not None and skipped.startswith("forbidden address"), address
    # The page comes through the server's own address only, never through the probe's.
    assert control.http is not None and control.http.failure is None
    assert control.http.hops[0].address == host(10)
    assert site.hits == ["/"]


# --- names that resolve to private addresses ----------------------------------------------------


def _lab_config(lab: Lab, **overrides: Any) -> ServerConfig:
    topo = lab.topology
    lab_settings = settings(
        resolvers=[topo.resolver_uri(censored=False)],
        source_address=topo.free_vantage,
        ca_bundle=lab.ca_bundle,
        timeout=2.0,
        treat_as_public=[str(topo.network)],  # what --treat-as-public gives `control serve`
    )
    return ServerConfig(tokens=(TOKEN,), settings=lab_settings, **overrides)


def test_a_name_resolving_to_loopback_is_resolved_but_never_dialled(lab: Lab) -> None:
    topo = lab.topology
    static = topo.address_of_service("static")
    with listening(static) as listener, serving(_lab_config(lab)) as url:
        for target in (
            topo.url("static.lab.test"),
            f"http://static-http.lab.test:{listener.port}/",
        ):
            control = measure(url, target)
            # The name did resolve, to the lab's loopback address: only the guard stopped it.
            answers = [q.answer for q in control.dns if q.answer is not None]
            assert any(static in a.addresses for a in answers), control.dns
            assert_nothing_dialled(control)
            assert {c.skipped for c in control.tcp} == {"forbidden address: loopback"}
        assert not listener.saw_connection()


def test_a_name_inside_only_networks_is_measured(lab: Lab) -> None:
    """Positive control: the same lab names, with the lab's network allowed, connect."""
    topo = lab.topology
    config = _lab_config(lab, only_networks=(topo.network,))
    with listening(topo.address_of_service("static")) as listener, serving(config) as url:
        control = measure(url, topo.url("static.lab.test"))
        assert control.failure is None, control
        assert control.tcp and control.tcp[0].failure is None and control.tcp[0].skipped is None
        assert control.tls and control.tls[0].failure is None
        assert control.http is not None and control.http.failure is None
        last = control.http.hops[-1].response
        assert last is not None and last.status == 200
        measure(url, f"http://static-http.lab.test:{listener.port}/", deadline=0.5)
        assert listener.saw_connection(wait=2)


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/",
        "//127.0.0.1:{port}/",  # scheme-relative
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:{port}/",
    ],
)
def test_a_redirect_out_of_the_allowed_networks_is_not_followed(location: str) -> None:
    with (
        listening("127.0.0.1") as target,
        responding(
            host(10), status=302, headers={"location": location.format(port=target.port)}
        ) as site,
        serving(confined()) as url,
    ):
        control = measure(url, f"http://{host(10)}:{site.server_address[1]}/")
        assert not target.saw_connection()
    assert site.hits == ["/"]
    fetch = control.http
    assert fetch is not None
    assert len(fetch.hops) == 2, fetch
    first, refused = fetch.hops
    assert first.response is not None and first.response.status == 302
    assert refused.tcp is not None and refused.tcp.skipped is not None
    assert refused.tcp.skipped.startswith("forbidden address"), refused.tcp
    assert refused.response is None and fetch.failure is not None
    # Said where it happened, on the hop; the control's first page stays usable evidence.
    assert control.failure is None, control


def test_a_redirect_inside_the_allowed_networks_is_followed() -> None:
    """Positive control: the same redirect to an address inside ``NET`` is dialled."""
    with responding(host(11)) as target, serving(confined()) as url:
        location = f"http://{host(11)}:{target.server_address[1]}/landed"
        with responding(host(10), status=302, headers={"location": location}) as site:
            control = measure(url, f"http://{host(10)}:{site.server_address[1]}/")
    assert target.hits == ["/landed"]
    assert control.http is not None and control.http.failure is None
    assert [h.response.status for h in control.http.hops if h.response] == [302, 200]
    assert control.failure is None, control
