"""--workers: N processes measure a run; the document is the one a single process writes, and a
run stopped, or one whose worker dies, keeps what it measured and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.results.store import journal_path, read_journal, read_run, write_run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags

# Differ between two runs of one list whatever the process count: the run's identity and
# clock, and the bytes of pages that change on every request (the lab's dynamic sites) or
# trickle until a timeout (its tarpit). Every float but a confidence is a timing.
_VARYING = {"run_id", "started_at", "finished_at", "headers", "title", "transfer"}
_VARYING |= {"body_length", "body_sha256", "body_prefix"}


def comparable(value: Any, key: str = "") -> Any:
    """A decoded document without what differs from one run of it to the next."""
    if isinstance(value, dict):
        return {k: comparable(v, k) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [comparable(v, key) for v in value]
    if isinstance(value, float) and key != "confidence":
        return "<timing>"
    return value


@pytest.fixture(scope="module")
def targets_file(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lab") / "lab-targets.txt"
    path.write_text("\n".join(lab.topology.target_urls()) + "\n", encoding="utf-8")
    return path


def test_two_workers_write_the_document_one_writes(
    lab: Lab, targets_file: Path, tmp_path: Path
) -> None:
    docs = []
    for workers in ("1", "2"):
        out = tmp_path / f"run-{workers}.json"
        result = run_cli("run", str(targets_file), *lab_flags(lab, True), "--workers", workers,
                         "--concurrency", "64", "-q", "-o", str(out))  # fmt: skip
        assert result.code == 1, result.stderr  # done, something blocked
        docs.append(json.loads(out.read_text(encoding="utf-8")))
        # Written a result at a time, it is byte for byte what pydantic writes of the whole.
        write_run(read_run(out), tmp_path / "again.json")
        assert (tmp_path / "again.json").read_bytes() == out.read_bytes()
    one, two = (Run.model_validate(d) for d in docs)
    assert [r.target.url for r in two.results] == lab.topology.target_urls()
    assert two.summary == one.summary
    # The head whole; of each result what it claims, and which observations it holds. Their
    # details may differ between two runs on a loaded machine whatever the process count: a
    # hedged neutral-SNI QUIC handshake, a slow body repeated as a possible freeze.
    heads = [comparable({k: v for k, v in d.items() if k != "results"}) for d in docs]
    assert heads[1] == heads[0]
    assert [_claims(r) for r in docs[1]["results"]] == [_claims(r) for r in docs[0]["results"]]


def _claims(result: dict[str, Any]) -> tuple[Any, ...]:
    verdicts = [result["verdict"], result.get("quic_verdict") or {}]
    return (
        result["target"],
        result.get("vantage"),
        sorted(k for k, v in result.items() if v not in (None, [], {})),
        # Status and layer, not the outcome's name: whether the probe still saw the true answer
        # after an injected one (dns.injection or dns.inconsistent) is a race a loaded machine
        # decides either way, whatever the process count.
        [(v.get("status"), v.get("blocking")) for v in verdicts],
    )


# A few rows of every kind: what the setups below compare.
_SOME = ["static", "dns-nxdomain", "tls-sni-reset", "http-blockpage", "gone", "dynamic"]


def _setup(lab: Lab, tmp_path: Path, kind: str) -> list[str]:
    if kind == "control server":
        return lab.arguments(censored=True, control=True)
    vantages = tmp_path / "vantages.yaml"
    data = {"vantages": [v.model_dump(exclude_none=True) for v in lab.vantages()]}
    vantages.write_text(yaml.safe_dump(data), encoding="utf-8")
    topo = lab.topology
    flags = ["--vantage-file", str(vantages), "--ca-bundle", str(lab.ca_bundle)]
    flags += ["--treat-as-public", str(topo.network), "--timeout", "3"]
    flags += ["--control-resolver", f"tcp://{topo.honest_resolver}:{topo.ports.dns}"]
    if kind == "two vantages":
        return [*flags, "--vantage", "lab-censored", "--vantage", "lab-proxy", "--control", "none"]
    return [*flags, "--vantage", "lab-censored", "--control", "vantage:lab-free"]


@pytest.mark.parametrize("kind", ["two vantages", "control server", "control vantage"])
def test_workers_measure_every_setup_as_one_process(lab: Lab, tmp_path: Path, kind: str) -> None:
    urls = [lab.topology.url(f"{name}.lab.test") for name in _SOME]
    env = {"CENSORCHECK_VANTAGES": str(tmp_path / "none.yaml")}
    docs = []
    for workers in ("1", "2"):
        out = tmp_path / f"run-{workers}.json"
        result = run_cli("run", *urls, *_setup(lab, tmp_path, kind), "--workers", workers, "-q",
                         "-o", str(out), "--fail-on", "never", env=env)  # fmt: skip
        assert result.code == 0, result.stderr
        docs.append(json.loads(out.read_text(encoding="utf-8")))
    assert comparable(docs[1]) == comparable(docs[0])
    run = Run.model_validate(docs[1])
    assert len(run.results) == len(urls) * len(run.vantages)
    if kind == "control server":
        assert {r.control.source for r in run.results} == {"server"}


def test_workers_print_the_document_on_stdout_and_judge_it(lab: Lab) -> None:
    urls = [lab.topology.url(n) for n in ("static.lab.test", "dns-nxdomain.lab.test")]
    result = run_cli("run", *urls, *lab_flags(lab, True), "--workers", "2", "-o", "-", "-q",
                     "--fail-on", "blocked")  # fmt: skip
    assert result.code == 1, result.stderr
    run = Run.model_validate_json(result.stdout)
    assert [r.verdict.status for r in run.results] == ["accessible", "blocked"]


def _workers_of(pid: int) -> list[int]:
    """The worker processes of a run: its children but multiprocessing's resource tracker."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                found.append(int(child))
    return found


def _stop_part_way(lab: Lab, out: Path, stop: Any) -> tuple[int, str]:
    """Start a two-worker run of fast targets and a slow one, call ``stop(proc)`` once the
    fast ones are journaled; the exit code and stderr."""
    names = ["static.lab.test", "dns-nxdomain.lab.test", "tls-sni-reset.lab.test"]
    urls = [lab.topology.url(n) for n in names] + [lab.topology.url("tarpit.lab.test")]
    cmd = [sys.executable, "-m", "censorcheck", "run", *urls, *lab_flags(lab, True)]
    cmd += ["--timeout", "30", "-o", str(out), "-q", "--workers", "2", "--fail-on", "never"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = journal_path(out)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            lines = journal.read_text(encoding="utf-8").count("\n") if journal.exists() else 0
            if lines >= 1 + len(names):
                break
            time.sleep(0.02)
        stop(proc)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(r.target.domain for r in read_journal(journal)) == sorted(names), err
    return proc.returncode, err


def _resumes(lab: Lab, out: Path) -> None:
    result = run_cli("run", "--resume", str(journal_path(out)), "--workers", "2", "-q",
                     "--fail-on", "never", timeout=120)  # fmt: skip
    assert result.code == 0, result.stderr
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    domains = ["static", "dns-nxdomain", "tls-sni-reset", "tarpit"]
    assert [r.target.domain for r in run.results] == [f"{d}.lab.test" for d in domains]
    assert run.summary.total == 4
    assert not journal_path(out).exists()


def test_sigterm_stops_every_worker_and_the_run_resumes(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    code, err = _stop_part_way(lab, out, lambda proc: proc.send_signal(signal.SIGTERM))
    assert code == 143, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "stopped by SIGTERM" in lines[0] and "censorcheck run --resume" in lines[0]
    _resumes(lab, out)


def test_a_worker_that_dies_stops_the_run_in_one_line_and_it_resumes(
    lab: Lab, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"

    def kill_a_worker(proc: subprocess.Popen[str]) -> None:
        # Only the slow target is still in hand, in one of the two: killing both is the same.
        for pid in _workers_of(proc.pid):
            os.kill(pid, signal.SIGKILL)

    code, err = _stop_part_way(lab, out, kill_a_worker)
    assert code == 5, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "worker process died" in lines[0] and "SIGKILL" in lines[0]
    assert str(journal_path(out)) in lines[0] and "censorcheck run --resume" in lines[0]
    _resumes(lab, out)


def test_a_worker_starts_from_a_module_that_loads_nothing_of_the_measuring() -> None:
    """A spawned worker imports its target's module first: a light one, so that the probes and
    their libraries load with the collector held off (``collector.loading``)."""
    code = (
        "import sys, censorcheck.measure.spawned; "
        "print(sorted(m for m in sys.modules if m.startswith(('asyncio', 'censorcheck.'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(
        ["censorcheck.measure", "censorcheck.measure.collector", "censorcheck.measure.spawned"]
    )
