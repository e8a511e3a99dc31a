"""The command line as users meet it: exit codes, one-line errors, outputs, the journal."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from censorcheck.cli.common import summary_table
from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.results.store import journal_path, read_journal
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags
from tests.test_store import result as a_result
from tests.test_store import run_of

SCHEMA = Path(__file__).parent.parent / "schema" / "run.schema.json"


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_bad_target_file_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "list.txt"
    bad.write_text("https://ok.example/\nhtps://x.com\n", encoding="utf-8")
    out = str(tmp_path / "out.json")
    result = run_cli("run", str(bad), "--strict", "--control", "none", "--output", out)
    assert result.code == 2
    line = one_line_error(result.stderr)
    assert "list.txt line 2" in line and "htps://x.com" in line
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--resolver", "ftp://1.2.3.4"], "ftp://1.2.3.4"),
        (["--source-address", "not-an-ip"], "--source-address"),
        (["--ca-bundle", "/nonexistent/ca.pem"], "--ca-bundle"),
        (["--port-map", "443:10443"], "--port-map"),
        (["--treat-as-public", "300.1.2.0/24"], "--treat-as-public"),
    ],
)
def test_bad_option_is_one_line(args: list[str], needle: str, tmp_path: Path, lab: Lab) -> None:
    flags = lab_flags(lab, True)
    if "--resolver" in args:
        flags = flags[2:]  # the bad resolver replaces the lab's
    if "--source-address" in args:
        flags = [f for f in flags if f != lab.topology.censored_vantage and f != "--source-address"]
    result = run_cli("run", "static.lab.test", *flags, *args, "-o", str(tmp_path / "o.json"))
    assert result.code == 2, result.stderr
    assert needle in one_line_error(result.stderr)


def test_endless_or_deep_target_files_are_one_line_errors(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("targets: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    for path, needle in ((Path("/dev/zero"), "not a regular file"), (deep, "deep.yaml")):
        result = run_cli("run", str(path), "--control", "none", "-o", str(tmp_path / "o.json"))
        assert result.code == 2, result.stderr
        assert needle in one_line_error(result.stderr)


def test_unknown_flag_is_a_usage_error() -> None:
    result = run_cli("run", "example.org", "--control", "none", "--no-such-flag")
    assert result.code == 2
    assert "no-such-flag" in result.stderr


def test_unreachable_resolver_exits_3(tmp_path: Path, lab: Lab) -> None:
    silent = str(lab.topology.network.network_address + 250)  # nothing listens there
    flags = lab_flags(lab, True)
    flags[1] = f"udp://{silent}:53"
    result = run_cli("run", "static.lab.test", *flags, "-o", str(tmp_path / "o.json"))
    assert result.code == 3
    line = one_line_error(result.stderr)
    assert "no probe resolver answered" in line and silent in line
    # Nothing was measured, so nothing is left to resume.
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


def test_output_folder_is_refused_before_measuring(tmp_path: Path, lab: Lab) -> None:
    result = run_cli("run", "static.lab.test", *lab_flags(lab, True), "-o", str(tmp_path))
    assert result.code == 2
    assert "is a folder" in one_line_error(result.stderr)


@pytest.mark.parametrize("network", ["foo", "10.0.0.0/24", "127.150.9.1/24"])
def test_lab_network_is_checked_first(network: str, tmp_path: Path) -> None:
    result = run_cli("lab", "--network", network, cwd=tmp_path)
    assert result.code == 2
    assert "--network" in one_line_error(result.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_stdout_carries_only_the_run_document(lab: Lab) -> None:
    url = lab.topology.url("static.lab.test")
    result = run_cli("run", url, *lab_flags(lab, True), "--output", "-", "--quiet")
    assert result.code == 0, result.stderr
    run = Run.model_validate_json(result.stdout)
    assert run.results[0].verdict.status == "accessible"


def test_default_output_is_private_and_journal_is_replaced(lab: Lab, tmp_path: Path) -> None:
    url = lab.topology.url("dns-nxdomain.lab.test")
    result = run_cli(
        "run", url, *lab_flags(lab, True), "--vantage", "kz home", "-q", "--results-dir", "res",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 1  # blocked
    # The lock file (.censorcheck.lock) stays: unlinking a flock file races with waiters.
    files = [p for p in (tmp_path / "res").iterdir() if not p.name.startswith(".")]
    assert len(files) == 1, files
    assert files[0].name.endswith("-kz_home.json")
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    run = Run.model_validate_json(files[0].read_text(encoding="utf-8"))
    assert run.vantage.name == "kz home"
    assert run.results[0].verdict.outcome == "dns.nxdomain"


@pytest.mark.parametrize(("fail_on", "code"), [("never", 0), ("blocked", 1), ("down", 0)])
def test_fail_on(fail_on: str, code: int, lab: Lab) -> None:
    url = lab.topology.url("tls-sni-reset.lab.test")
    result = run_cli("run", url, *lab_flags(lab, True), "-o", "-", "-q", "--fail-on", fail_on)
    assert result.code == code


def test_fail_on_any_counts_down(lab: Lab) -> None:
    url = lab.topology.url("gone.lab.test")
    assert run_cli("run", url, *lab_flags(lab, True), "-o", "-", "-q").code == 0
    assert run_cli("run", url, *lab_flags(lab, True), "-o", "-", "-q", "--fail-on", "any").code == 1


def test_killed_run_keeps_what_it_measured(lab: Lab, tmp_path: Path) -> None:
    """SIGKILL part-way: every finished target is in the journal, each a complete result."""
    names = ["static.lab.test", "dns-nxdomain.lab.test", "tls-sni-reset.lab.test"]
    fast = [lab.topology.url(n) for n in names]
    slow = [lab.topology.url("tarpit.lab.test")]
    out = tmp_path / "run.json"
    cmd = [sys.executable, "-m", "censorcheck", "run", *fast, *slow, *lab_flags(lab, True)]
    cmd += ["--timeout", "20", "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = journal_path(out)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # The header line, then one line per fast target.
            lines = journal.read_text(encoding="utf-8").count("\n") if journal.exists() else 0
            if lines >= 1 + len(names):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not out.exists()
    kept = read_journal(journal)
    assert sorted(r.target.domain for r in kept) == sorted(names)
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600


def test_schema_is_stable() -> None:
    """The JSON contract changes only deliberately: regenerate schema/run.schema.json with
    ``censorcheck schema > schema/run.schema.json`` and bump SCHEMA_VERSION when it must."""
    result = run_cli("schema")
    assert result.code == 0
    assert result.json() == json.loads(SCHEMA.read_text(encoding="utf-8"))


def test_demo_runs_the_kz_list_against_the_lab(tmp_path: Path) -> None:
    result = run_cli("demo", "--quiet", cwd=tmp_path)
    assert result.code == 0, result.stderr
    (path,) = (tmp_path / "results").glob("*.json")
    run = Run.model_validate_json(path.read_text(encoding="utf-8"))
    verdicts = {r.target.domain: (r.verdict.status, r.verdict.outcome) for r in run.results}
    assert verdicts["twitter.com"] == ("blocked", "tls.sni_blocking")
    assert verdicts["guljan.org"] == ("blocked", "dns.nxdomain")
    assert verdicts["socialismkz.info"] == ("blocked", "http.blockpage")
    assert verdicts["respublika-kz.info"] == ("down", "dns.nxdomain")
    assert verdicts["www.facebook.com"] == ("accessible", "accessible")


def test_packaged_list_is_the_shipped_list() -> None:
    from censorcheck.measure.targets import shipped_list

    repo_copy = Path(__file__).parent.parent / "targets" / "kz.yaml"
    assert shipped_list().read_bytes() == repo_copy.read_bytes()


def test_the_table_keeps_every_word_on_a_narrow_terminal() -> None:
    """A reason is cut nowhere: on 80 columns the columns fold instead of running off the edge."""
    reason = (
        "The handshake naming the host failed twice from the probe, while one with a neutral "
        "name got the host's own trusted certificate at the same address."
    )
    one = a_result("a-rather-long-name.news-site.example")
    verdict = one.verdict.model_copy(update={"reason": reason, "outcome": "tls.sni_blocking"})
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(
        summary_table(run_of([one.model_copy(update={"verdict": verdict})]))
    )
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = " ".join(line.split("│")[-2].strip() for line in lines if line.count("│") >= 5)
    assert " ".join(cells.split()) == reason
