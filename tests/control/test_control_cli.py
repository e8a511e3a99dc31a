"""``censorcheck control serve`` and a run given a wrong control token: one-line errors, exit 2."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.lab import Lab
from tests.conftest import run_cli
from tests.control.support import TOKEN


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), stderr
    return lines[0]


def test_serve_with_a_missing_token_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-tokens.txt"
    result = run_cli("control", "serve", "--token-file", str(missing), "--listen", "127.0.0.1:9")
    assert result.code == 2, result.stderr
    line = _one_line_error(result.stderr)
    assert "--token-file" in line and str(missing) in line


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1", "127.0.0.1:70000"])
def test_serve_with_a_bad_listen_address_exits_2(tmp_path: Path, listen: str) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    result = run_cli("control", "serve", "--token-file", str(tokens), "--listen", listen)
    assert result.code == 2, result.stderr
    assert "--listen" in _one_line_error(result.stderr)


def test_a_run_with_a_wrong_control_token_exits_2_naming_the_token(
    lab: Lab, tmp_path: Path
) -> None:
    assert lab.control is not None
    wrong = "not-the-lab-token-" + "z" * 16
    args = [lab.topology.url("static.lab.test"), *lab.arguments(censored=True)]
    args += ["--control", lab.control.url, "--control-token", wrong]
    result = run_cli("run", *args, "--output", str(tmp_path / "run.json"), cwd=tmp_path)
    assert result.code == 2, result.stderr
    line = _one_line_error(result.stderr)
    assert "control token" in line
    assert wrong not in result.stderr + result.stdout  # a secret is never echoed


def test_serve_over_tls_answers_https_only(tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the tokens never cross the network in clear."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "censorcheck", "control", "serve", "--token-file", str(tokens),
            "--listen", f"127.0.0.1:{port}", "--tls-cert", str(tmp_path / "cert.pem"),
            "--tls-key", str(tmp_path / "key.pem")]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{port}"
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        deadline = time.monotonic() + 30
        while True:  # until the port answers (an event, polled), or the server died
            try:
                got = httpx.get(f"{base}/v1/health", verify=trusting)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert got.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP meets a TLS server
            httpx.get(f"http://127.0.0.1:{port}/v1/health")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tls_cert_without_key_is_one_line(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    result = run_cli("control", "serve", "--token-file", str(tokens), "--listen",
                     "127.0.0.1:9", "--tls-cert", str(tokens))  # fmt: skip
    assert result.code == 2
    assert "--tls-key" in _one_line_error(result.stderr)


def test_an_encrypted_key_with_workers_is_one_line_that_says_so(tmp_path: Path) -> None:
    """Workers have no terminal to ask for a passphrase on: refused before any starts, with
    the reason, where one process (``--workers 1``) would ask as uvicorn does."""
    from cryptography.hazmat.primitives import serialization

    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase"),
    )
    (tmp_path / "key.pem").write_bytes(encrypted)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n", encoding="utf-8")
    result = run_cli("control", "serve", "--token-file", str(tokens), "--listen", "127.0.0.1:9",
                     "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key",
                     str(tmp_path / "key.pem"), "--workers", "2")  # fmt: skip
    assert result.code == 2
    line = _one_line_error(result.stderr)
    assert "encrypted" in line and "--workers 1" in line
