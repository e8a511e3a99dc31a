"""The censor in the kernel, on addresses that look public: the real CLI, with no lab-only flag.

Runs only inside a network namespace of the test run's own (``make test`` starts pytest in one)
with nftables installed; elsewhere it is skipped and says why.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest

from censorcheck.lab.netns import KernelLab, KernelRule, enter_prefix, unavailable, where
from tests.conftest import run_cli
from tests.nameserver import udp_nameserver

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

SITE = "45.90.1.10"  # a global address, as a real site's is: no --treat-as-public anywhere
CENSORED = "45.90.1.2"
FREE = "45.90.1.3"
ISP_RESOLVER = "45.90.1.53"
HONEST_RESOLVER = "45.90.1.54"
NAME = "site.kernel.test"
PORTS = {"open": 8080, "drop_syn": 8081, "reset": 8082, "stall": 8083}


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><head><title>Kernel lab site</title></head><body>news</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _one_name(query: dns.message.Message, peer: tuple[str, int]) -> list[dns.message.Message]:
    """A resolver that knows one name (SITE) and denies every other, as a real one does for
    the random canary names the probe asks."""
    reply = dns.message.make_response(query)
    name = query.question[0].name.to_text(omit_final_dot=True)
    if name == NAME and query.question[0].rdtype == dns.rdatatype.A:
        reply.answer.append(dns.rrset.from_text(NAME + ".", 60, "IN", "A", SITE))
    elif name != NAME:
        reply.set_rcode(dns.rcode.NXDOMAIN)
    return [reply]


@pytest.fixture(scope="module")
def kernel_lab() -> Iterator[None]:
    rules = [
        KernelRule("drop_syn", CENSORED, SITE, PORTS["drop_syn"]),
        KernelRule("reset", CENSORED, SITE, PORTS["reset"]),
        KernelRule("stall", CENSORED, SITE, PORTS["stall"]),
        KernelRule("drop_udp", CENSORED, ISP_RESOLVER, 53),
    ]
    addresses = [SITE, CENSORED, FREE, ISP_RESOLVER, HONEST_RESOLVER]
    with KernelLab(addresses, rules), contextlib.ExitStack() as resolvers:
        servers = [ThreadingHTTPServer((SITE, port), _Page) for port in PORTS.values()]
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        for address in (ISP_RESOLVER, HONEST_RESOLVER):
            resolvers.enter_context(udp_nameserver(_one_name, address, 53))
        try:
            yield
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()


def _run(kind: str, vantage: str, resolver: str = HONEST_RESOLVER) -> Any:
    url = f"http://{NAME}:{PORTS[kind]}/"
    done = run_cli(
        "run", url, "--source-address", vantage, "--resolver", f"udp://{resolver}:53",
        "--control-resolver", f"udp://{HONEST_RESOLVER}:53", "--timeout", "1", "-o", "-", "-q",
        "--control", "none",
    )  # fmt: skip
    assert done.code in (0, 1), done.stderr
    return done.json()["results"][0]


def test_nothing_leaves_the_namespace() -> None:
    with socket.socket() as sock:
        sock.settimeout(5)
        with pytest.raises(OSError) as caught:
            sock.connect(("8.8.8.8", 53))
    assert caught.value.errno == errno.ENETUNREACH


@pytest.mark.usefixtures("kernel_lab")
@pytest.mark.parametrize(
    ("kind", "tcp", "http"),
    [
        ("drop_syn", "tcp.timeout", None),
        ("reset", "tcp.refused", None),
        ("stall", None, "http.timeout"),
    ],
)
def test_the_kernel_censor_acts_on_the_censored_vantage_only(
    kind: str, tcp: str | None, http: str | None
) -> None:
    censored = _run(kind, CENSORED)
    assert [c["skipped"] for c in censored["tcp"]] == [None]  # a public-looking address
    assert censored["tcp"][0]["failure"] == tcp
    assert (censored["http"] or {}).get("failure") == http
    # Without a control server nothing confirms the site from elsewhere: never blocked, and
    # never accessible or down either.
    assert censored["verdict"]["status"] == "inconclusive"

    free = _run(kind, FREE)
    assert free["verdict"]["status"] == "accessible", free["verdict"]["reason"]


@pytest.mark.usefixtures("kernel_lab")
def test_a_resolver_whose_udp_is_dropped_is_one_clear_error() -> None:
    url = f"http://{NAME}:{PORTS['open']}/"
    done = run_cli(
        "run", url, "--source-address", CENSORED, "--resolver", f"udp://{ISP_RESOLVER}:53",
        "--control-resolver", f"udp://{HONEST_RESOLVER}:53", "--timeout", "1", "-o", "-", "-q",
        "--control", "none",
    )  # fmt: skip
    assert done.code != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no probe resolver answered")
    assert ISP_RESOLVER in lines[0]


def test_a_lab_in_this_namespace_runs_here() -> None:
    assert where("auto") == ("here", "")
    assert where("off")[0] == "loopback"
    assert enter_prefix() == []  # a caller in this namespace needs no nsenter


def test_a_second_lab_on_taken_addresses_leaves_the_first_ones_alone() -> None:
    """Labs of parallel test workers share this namespace: a collision is an OSError (a random
    network is then retried) and removes nothing of the lab holding the address."""
    address = "45.90.2.7"
    with KernelLab([address]):
        second = KernelLab(["45.90.2.8", address])
        with pytest.raises(OSError) as caught:
            second.start()
        assert caught.value.errno == errno.EADDRINUSE
        with socket.socket() as sock:
            sock.bind((address, 0))  # still there
        with socket.socket() as sock, pytest.raises(OSError):
            sock.bind(("45.90.2.8", 0))  # the second lab's own address went with it
