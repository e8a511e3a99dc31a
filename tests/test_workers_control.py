"""--workers against a control server whose grant is smaller than the worker count: the run
measures with no more processes than the grant can be split into, so no worker asks beyond its
part, and no target loses its control to a 429."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.server import ServerConfig
from censorcheck.lab import Lab
from censorcheck.models import Run
from tests.conftest import run_cli
from tests.control.support import TOKEN, serving

# Sites the control server measures quickly, so that two workers' requests overlap.
_SITES = ("static", "static-http", "dynamic", "cdn", "redirect", "http-blockpage", "dns-nxdomain",
          "tls-sni-reset", "gone", "http-reset", "tls-mitm")  # fmt: skip


def test_a_grant_of_one_slot_is_never_exceeded_by_two_workers(lab: Lab, tmp_path: Path) -> None:
    # One measurement in flight and a burst of one for the whole run; a rate high enough that
    # pacing, not waiting, is what keeps to it.
    if lab.control is None:
        pytest.skip("the lab has no control server (control extra not installed)")
    config = ServerConfig(tokens=(TOKEN,), settings=lab.control.settings(),
                          only_networks=(ipaddress.ip_network(lab.topology.network),),
                          rate=1000.0, burst=1, max_in_flight=1)  # fmt: skip
    urls = [lab.topology.url(f"{name}.lab.test") for name in _SITES]
    flags = [f for f in lab.arguments(censored=True) if f not in ("--control", "none")]
    out = tmp_path / "run.json"
    with serving(config) as url:
        result = run_cli("run", *urls, *flags, "--control", url, "--control-token", TOKEN,
                         "--workers", "2", "--concurrency", "8", "-q", "-o", str(out),
                         "--fail-on", "never")  # fmt: skip
    assert result.code == 0, result.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert len(run.results) == len(urls)
    assert [r.control.failure for r in run.results] == [None] * len(urls)
    assert {r.control.source for r in run.results} == {"server"}
