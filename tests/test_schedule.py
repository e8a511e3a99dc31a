"""Scheduled runs: durations, systemd units (checked by systemd-analyze), crontab lines (parsed),
install/list/remove through stub systemctl and crontab, and the scheduled command itself."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from censorcheck.errors import ConfigError
from censorcheck.lab import Lab
from censorcheck.models import Run
from censorcheck.unattended import crontab, systemd
from censorcheck.unattended.schedule import parse_duration
from tests.conftest import CLIResult, run_cli
from tests.test_cli import one_line_error
from tests.test_scenarios import lab_flags

STUB_SYSTEMCTL = '#!/bin/sh\necho "$@" >> "$STUB_LOG"\n'
STUB_CRONTAB = """#!/bin/sh
echo "crontab $*" >> "$STUB_LOG"
case "$1" in
  -l) if [ -f "$FAKE_CRONTAB" ]; then cat "$FAKE_CRONTAB"; else echo "no crontab for you" >&2; exit 1; fi ;;
  -) cat > "$FAKE_CRONTAB" ;;
  *) exit 2 ;;
esac
"""  # noqa: E501


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """HOME and XDG_CONFIG_HOME in tmp, stub systemctl and crontab first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("systemctl", STUB_SYSTEMCTL), ("crontab", STUB_CRONTAB)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(tmp_path / "calls.log"),
        "FAKE_CRONTAB": str(tmp_path / "crontab.txt"),
        "CENSORCHECK_CONTROL": "",  # not the control of whoever runs the tests
    }


def schedule(env: dict[str, str], *args: str, cwd: Path | None = None) -> CLIResult:
    return run_cli("schedule", *args, env=env, cwd=cwd)


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["STUB_LOG"])
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("90s", 90)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "0m", "-1h", "1h foo"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match="--every"):
        parse_duration(text)


def systemd_words(line: str) -> list[str]:
    """Split an ExecStart= value as systemd does (quotes, C escapes, %% and $$)."""
    words = []
    for quoted, plain in re.findall(r'"((?:[^"\\]|\\.)*)"|(\S+)', line):
        word = plain or re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), quoted)
        words.append(word.replace("%%", "%").replace("$$", "$"))
    return words


@pytest.mark.parametrize(
    "word", ["plain", "a b", "100%", "$HOME", '"q"', "back\\slash", "tab\there", "é", ""]
)
def test_systemd_quoting_round_trips(word: str) -> None:
    argv = [sys.executable, word]
    assert systemd_words(systemd.exec_line(argv)) == argv


def odd_list(folder: Path, lab: Lab | None = None) -> Path:
    """A target list whose name holds a space, a %, a $ and quotes."""
    path = folder / 'kz 100% "$HOME".yaml'
    url = lab.topology.url("static.lab.test") if lab else "https://static.lab.test/"
    path.write_text(f"targets:\n  - url: {url}\n    expect: accessible\n", encoding="utf-8")
    return path


def test_systemd_install_list_remove(home: dict[str, str], tmp_path: Path) -> None:
    targets = odd_list(tmp_path)
    dry = schedule(home, "install", str(targets), "--every", "1h", "--vantage", "home",
                   "--name", "kz", "--systemd", "--dry-run")  # fmt: skip
    assert dry.code == 0, dry.stderr
    assert "would be written" in dry.stdout and "RandomizedDelaySec=" in dry.stdout
    units = Path(home["XDG_CONFIG_HOME"]) / "systemd" / "user"
    assert not units.exists() and calls(home) == []

    done = schedule(home, "install", str(targets), "--every", "1h", "--vantage", "home",
                    "--name", "kz", "--systemd", "--keep", "30", cwd=tmp_path)  # fmt: skip
    assert done.code == 0, done.stderr
    service, timer = units / "censorcheck-kz.service", units / "censorcheck-kz.timer"
    assert calls(home) == ["--user daemon-reload", "--user enable --now censorcheck-kz.timer"]
    exec_start = next(
        line[10:] for line in service.read_text().splitlines() if line.startswith("ExecStart=")
    )
    argv = systemd_words(exec_start)
    assert argv[:4] == [sys.executable, "-m", "censorcheck", "run"]
    assert argv[-2:] == ["--", str(targets)]  # the odd name survives, as one word
    assert "--lock" in argv and argv[argv.index("--lock") + 1] == "skip"
    assert argv[argv.index("--results-dir") + 1] == str(tmp_path / "results")
    assert argv[argv.index("--keep") + 1] == "30"
    # The control is written out: a timer does not see the shell's CENSORCHECK_CONTROL.
    assert argv[argv.index("--control") + 1] == "ooni"
    assert f"WorkingDirectory={tmp_path}\n" in service.read_text()
    assert "OnUnitActiveSec=3600s" in timer.read_text() and "RandomizedDelaySec=360s" in (
        timer.read_text()
    )

    listed = schedule(home, "list")
    assert listed.code == 0 and listed.stdout.startswith("kz\tsystemd\t3600s\t")
    removed = schedule(home, "remove", "kz")
    assert removed.code == 0, removed.stderr
    assert not service.exists() and not timer.exists()
    assert calls(home)[-2:] == ["--user disable --now censorcheck-kz.timer", "--user daemon-reload"]
    gone = schedule(home, "remove", "kz")
    assert gone.code == 2 and "no schedule named 'kz'" in one_line_error(gone.stderr)


def test_generated_units_pass_systemd_analyze(home: dict[str, str], tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    targets = odd_list(tmp_path)
    done = schedule(home, "install", str(targets), "--every", "1d", "--systemd", "--name", "v",
                    "--arg=--resolver", "--arg=udp://127.0.0.53:53")  # fmt: skip
    assert done.code == 0, done.stderr
    units = Path(home["XDG_CONFIG_HOME"]) / "systemd" / "user"
    service, timer = units / "censorcheck-v.service", units / "censorcheck-v.timer"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    proc = subprocess.run([analyze, "verify", "--user", str(service), str(timer)], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    if "Failed to initialize manager" in proc.stderr:  # no user manager possible here
        proc = subprocess.run([analyze, "verify", str(service), str(timer)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "censorcheck" not in proc.stderr, proc.stderr  # no warning about our units


def test_cron_install_runs_its_line(home: dict[str, str], lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "kz list.yaml"
    url = lab.topology.url("static.lab.test")
    targets.write_text(f"targets:\n  - url: {url}\n    expect: accessible\n", encoding="utf-8")
    Path(home["FAKE_CRONTAB"]).write_text("MAILTO=''\n0 * * * * /bin/true\n", encoding="utf-8")
    flags = [f"--arg={flag}" for flag in (*lab_flags(lab, True), "--check")]
    done = schedule(home, "install", str(targets), "--every", "30m", "--vantage", "home",
                    "--cron", *flags, cwd=tmp_path)  # fmt: skip
    assert done.code == 0, done.stderr
    table = Path(home["FAKE_CRONTAB"]).read_text(encoding="utf-8")
    assert table.startswith("MAILTO=''\n0 * * * * /bin/true\n")  # other entries kept
    (name, job), *_ = crontab.entries(table).items()
    assert name == "kz_list-home"
    fields = job.split(None, 5)
    assert len(fields) == 6
    minute, *rest = fields[:5]
    assert re.fullmatch(r"\d+-59/30", minute) and rest == ["*", "*", "*", "*"]
    words = shlex.split(fields[5])
    assert words[:3] == ["cd", str(tmp_path), "&&"]
    assert words[-3:] == [">>", str(tmp_path / "results" / "censorcheck.log"), "2>&1"]
    argv = words[3:-3]
    assert argv[-2:] == ["--", str(targets)]
    # shlex.split round-trips: quoting the words again gives the line back.
    requoted = " ".join(shlex.quote(w) for w in argv)
    log = shlex.quote(words[-2])
    assert fields[5] == f"cd {shlex.quote(str(tmp_path))} && {requoted} >> {log} 2>&1"
    # The scheduled command itself works: run it as cron does, through /bin/sh, from $HOME.
    proc = subprocess.run(["/bin/sh", "-c", fields[5]], capture_output=True, text=True,
                          timeout=60, cwd=home["HOME"] if os.path.isdir(home["HOME"]) else "/",
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert proc.returncode == 0, (tmp_path / "results" / "censorcheck.log").read_text()
    assert "check: 0 failed, 1 passed" in (tmp_path / "results" / "censorcheck.log").read_text()
    (document,) = (tmp_path / "results").glob("*-home.json")
    assert Run.model_validate_json(document.read_text()).results[0].verdict.status == "accessible"

    listed = schedule(home, "list")
    assert f"{name}\tcron\t" in listed.stdout
    assert schedule(home, "remove", name).code == 0
    assert Path(home["FAKE_CRONTAB"]).read_text() == "MAILTO=''\n0 * * * * /bin/true\n"


@pytest.mark.parametrize(("every", "fields"), [(3600, r"\d+ \* \* \* \*"),
                                               (7200, r"\d+ [01]-23/2 \* \* \*"),
                                               (86400, r"\d+ \d+ \* \* \*"),
                                               (60, r"\* \* \* \* \*")])  # fmt: skip
def test_cron_times(every: int, fields: str) -> None:
    assert re.fullmatch(fields, crontab.when(every, "kz-home"))


def test_cron_refuses_what_it_cannot_carry(home: dict[str, str], tmp_path: Path) -> None:
    targets = odd_list(tmp_path)  # a '%' in the name
    result = schedule(home, "install", str(targets), "--cron", "--dry-run")
    assert result.code == 2 and "use --systemd" in one_line_error(result.stderr)
    plain = tmp_path / "kz.yaml"
    plain.write_text("targets:\n  - https://a.example/\n", encoding="utf-8")
    result = schedule(home, "install", str(plain), "--cron", "--every", "7h", "--dry-run")
    assert result.code == 2 and "7h" not in result.stderr and "evenly" in result.stderr


def test_bad_rows_are_named_at_install_as_the_runs_will_treat_them(
    home: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("htps://x.com\n", encoding="utf-8")
    result = schedule(home, "install", str(bad), "--systemd", "--dry-run")
    *warnings, error = result.stderr.splitlines()
    assert result.code == 2 and error.startswith("error: ") and "no targets" in error
    assert len(warnings) == 1 and "bad.txt line 1" in warnings[0]
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("https://static.lab.test/\nhtps://x.com\n", encoding="utf-8")
    # The runs skip the bad row, so the install says so and goes on ...
    result = schedule(home, "install", str(mixed), "--systemd", "--dry-run")
    assert result.code == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "mixed.txt line 2" in warning and warning.endswith("; skipped")
    # ... unless they are to be strict, which fails now rather than at three in the morning.
    result = schedule(home, "install", str(mixed), "--systemd", "--dry-run", "--arg=--strict")
    assert result.code == 2 and "mixed.txt line 2" in one_line_error(result.stderr)
    assert calls(home) == []


def test_the_schedule_names_its_control(home: dict[str, str], tmp_path: Path) -> None:
    targets = tmp_path / "list.txt"
    targets.write_text("https://static.lab.test/\n", encoding="utf-8")
    configured = {**home, "CENSORCHECK_CONTROL": "https://control.example.net/"}
    for env, flags, control in (
        (configured, [], "https://control.example.net/"),
        (configured, ["--control", "none"], "none"),
    ):
        dry = schedule(env, "install", str(targets), "--cron", "--dry-run", *flags)
        assert dry.code == 0, dry.stderr
        assert f"--control {control} " in dry.stdout, dry.stdout
    bad = schedule(home, "install", str(targets), "--cron", "--dry-run", "--control", "ftp://x")
    assert bad.code == 2 and "--control ftp://x" in one_line_error(bad.stderr)
