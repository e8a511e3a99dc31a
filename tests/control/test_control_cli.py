"""``censorcheck control serve`` and a run given a wrong control token: one-line errors, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

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
