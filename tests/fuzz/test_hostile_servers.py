"""A run against servers that break DNS, HTTP and TLS on purpose (tests/fuzz/hostile.py) finishes,
in bounded time and memory, with a result for every target and each failure a stable code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from censorcheck.measure.failures import FAILURES
from tests.conftest import run_cli
from tests.fuzz.hostile import DNS_KINDS, WEB_KINDS, HostileServers

# Each exchange is cut at its timeout (1 s) or the per-target deadline; a run of a few dozen
# targets in parallel is done in seconds. A hang would meet this first.
RUN_LIMIT = 90.0
# The gzip bomb inflates to 256 MiB; a probe that inflated it all would pass this.


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("hostile")
    with HostileServers().running() as servers:
        urls = [f"https://{kind}.hostile.example/" for kind in DNS_KINDS]
        urls += [f"http://127.0.0.1:{servers.http_port}/{kind}" for kind in WEB_KINDS]
        urls += [f"https://127.0.0.1:{servers.tls_port}/"]
        (folder / "hostile.txt").write_text("\n".join(urls) + "\n")
        start = time.monotonic()
        result = run_cli(
            "run", str(folder / "hostile.txt"), "--resolver", f"udp://127.0.0.1:{servers.dns_port}",
            "--control", "none", "--control-resolver", f"udp://127.0.0.1:{servers.dns_port}",
            "--treat-as-public", "127.0.0.0/8", "--timeout", "1", "--ipv6", "off",
            "--quic", "never",
            "--output", str(folder / "run.json"), "--quiet", cwd=folder, timeout=RUN_LIMIT,
        )  # fmt: skip
        took = time.monotonic() - start
    # No memory bound here: RUSAGE_CHILDREN is the largest child this test worker ever waited
    # for (Chromium, from another test file, say), not this run's. The bytes each hostile server
    # could make the probe hold are bounded by the tests below and by the tracemalloc bounds.
    print(f"hostile run: {took:.1f} s")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code in (0, 1), result.stderr
    yield json.loads((folder / "run.json").read_text())


def _by_url(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["target"]["url"]: r for r in document["results"]}


def _failures(result: dict[str, Any]) -> list[str]:
    layers = [*result["dns"], *result["tcp"], *result["tls"]]
    if result["http"] is not None:
        layers.append(result["http"])
    return [f["failure"] for f in layers if f.get("failure")]


@pytest.mark.parametrize("kind", DNS_KINDS)
def test_a_hostile_resolver_gives_failures(document: dict[str, Any], kind: str) -> None:
    result = _by_url(document)[f"https://{kind}.hostile.example/"]
    dns_failures = {q["failure"] for q in result["dns"] if q["failure"]}
    assert dns_failures, result["dns"]
    assert dns_failures <= FAILURES
    # Nothing was learned of the site, and without a control nothing can be claimed of it.
    assert result["verdict"]["status"] != "accessible"


BROKEN_WEB = ("bad-status", "endless-headers", "bad-chunks")


@pytest.mark.parametrize("kind", BROKEN_WEB)
def test_a_broken_http_response_is_a_failure(document: dict[str, Any], kind: str) -> None:
    result = next(r for url, r in _by_url(document).items() if url.endswith(f"/{kind}"))
    assert set(_failures(result)) <= FAILURES
    assert result["http"] is not None and result["http"]["failure"], result["http"]


@pytest.mark.parametrize("kind", ["gzip-bomb", "endless-body"])
def test_an_endless_body_is_read_up_to_max_body(document: dict[str, Any], kind: str) -> None:
    # A large body is no failure (every big page would be one): it is cut at --max-body, after
    # decompression, and recorded as read.
    result = next(r for url, r in _by_url(document).items() if url.endswith(f"/{kind}"))
    responses = [hop["response"] for hop in result["http"]["hops"] if hop.get("response")]
    assert responses and all(r["body_length"] <= 1 << 20 for r in responses), responses


def test_an_endless_certificate_chain_is_a_tls_failure(document: dict[str, Any]) -> None:
    result = next(r for url, r in _by_url(document).items() if url.startswith("https://127."))
    handshakes = result["tls"]
    assert handshakes and all(h["failure"] in FAILURES for h in handshakes), handshakes
