"""The crashes the fuzzer and issue 18 found, as a user meets them: the real CLI in a process of
its own, one line on stderr and exit code 2 instead of a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from censorcheck.measure.probes.context import verifying_context
from censorcheck.measure.targets import load_targets
from censorcheck.settings import Settings
from tests.conftest import run_cli
from tests.fuzz.bounds import loads_or_user_error

# Nothing listens on loopback port 9: if a bad input were accepted, the run would end quickly
# with failures and no packet would leave the machine.
LOCAL = ("--resolver", "udp://127.0.0.1:9", "--control-resolver", "udp://127.0.0.1:9")
LOCAL += ("--control", "none", "--timeout", "0.5")


def _one_line_exit_2(*args: str, cwd: Path) -> str:
    result = run_cli(*args, cwd=cwd)
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_yaml_list_with_a_nul(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("targets:\n  - https://a.example/\x00\n", encoding="utf-8")
    line = _one_line_exit_2("run", str(path), *LOCAL, cwd=tmp_path)
    assert "list.yaml line 2" in line


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\ufffe"])
def test_a_yaml_list_with_another_control_character(tmp_path: Path, char: str) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(f"targets:\n  - https://a.example/\n  - b{char}.example\n", encoding="utf-8")
    line = loads_or_user_error(lambda: load_targets([str(path)]))
    assert isinstance(line, str) and "list.yaml line 3" in line


def _bundles(tmp_path: Path) -> dict[str, Path]:
    """CA bundles that cannot be used, whoever runs the test (root in a user namespace reads
    through chmod 000, so unreadable files are taken from what no permission opens)."""
    (tmp_path / "a-directory").mkdir()
    os.mkfifo(tmp_path / "a-fifo")
    (tmp_path / "binary.pem").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "bad.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    # A regular file whose read fails (EIO) for everyone, root included.
    return {
        "is a directory": tmp_path / "a-directory",
        "not a regular file": tmp_path / "a-fifo",
        "not a PEM CA bundle": tmp_path / "binary.pem",
        "not a PEM CA bundle ": tmp_path / "bad.pem",
        "cannot read it": Path("/proc/self/mem"),
        "no such file": tmp_path / "missing.pem",
    }


@pytest.mark.parametrize(
    "why",
    [
        "is a directory",
        "not a regular file",
        "not a PEM CA bundle",
        "not a PEM CA bundle ",
        "cannot read it",
        "no such file",
    ],
)
def test_an_unusable_ca_bundle_says_why(tmp_path: Path, why: str) -> None:
    # In this process, as the run builds its SSL contexts; the real CLI below, for two of them.
    bundle = _bundles(tmp_path)[why]
    settings = Settings(ca_bundle=bundle, resolvers=["udp://127.0.0.1:9"], control_resolvers=[])
    line = loads_or_user_error(lambda: verifying_context(settings))
    assert isinstance(line, str) and f"--ca-bundle {bundle}: {why.strip()}" in line


@pytest.mark.parametrize("why", ["is a directory", "cannot read it"])
def test_run_with_an_unusable_ca_bundle(tmp_path: Path, why: str) -> None:
    bundle = _bundles(tmp_path)[why]
    line = _one_line_exit_2(
        "run", "https://a.example/", *LOCAL, "--ca-bundle", str(bundle), cwd=tmp_path
    )
    assert f"--ca-bundle {bundle}: {why}" in line


def test_a_ca_bundle_that_denies_reading(tmp_path: Path) -> None:
    # PermissionError, the cause of the 192-line traceback: a file of another user's that this
    # one cannot read. Only where one exists (not as real root).
    denied = next((p for p in (Path("/proc/1/environ"), Path("/etc/shadow")) if _denied(p)), None)
    if denied is None:
        pytest.skip("every candidate file is readable here (real root)")
    line = _one_line_exit_2(
        "run", "https://a.example/", *LOCAL, "--ca-bundle", str(denied), cwd=tmp_path
    )
    assert f"--ca-bundle {denied}: cannot read it" in line


def _denied(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.read(1)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def test_dns_scan_and_control_serve_check_the_bundle_alike(tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t" * 32 + "\n")
    resolvers = tmp_path / "resolvers.txt"
    resolvers.write_text("127.0.0.1:9\n")
    bundle = str(tmp_path / "a-directory")
    scan = _one_line_exit_2(
        "dns-scan", "a.example", "--resolvers", str(resolvers), "--control-resolver",
        "udp://127.0.0.1:9", "--timeout", "0.5", "--ca-bundle", bundle, "-o", "-", cwd=tmp_path,
    )  # fmt: skip
    serve = _one_line_exit_2(
        "control", "serve", "--token-file", str(tokens), "--listen", "127.0.0.1:9",
        "--ca-bundle", bundle, cwd=tmp_path,
    )  # fmt: skip
    assert f"--ca-bundle {bundle}: is a directory" in scan
    assert f"--ca-bundle {bundle}: is a directory" in serve
