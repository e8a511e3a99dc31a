"""What people expect of a command line: one-line usage errors, --version, completion, a man
page, exports where they are asked for, private result files, and text shown as it came."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import time
from pathlib import Path

import pytest

from censorcheck.models import Run, VantageInfo
from censorcheck.results import cache
from tests.conftest import run_cli
from tests.test_cli import one_line_error
from tests.test_cli_terminal import column, squeezed
from tests.test_store import result as a_result
from tests.test_store import run_of

MAN_PAGE = Path(__file__).parent.parent / "docs" / "censorcheck.1"
# Rich markup, an emoji code and a link: each must come out as typed.
MARKUP = "[bold]x[/bold] :x: [link=https://e.test]y[/link]"


def _run(vantage: str, status: str, run_id: str, url: str = "https://news.example/") -> Run:
    one = a_result("news.example").model_copy(update={"vantage": vantage})
    target = one.target.model_copy(update={"url": url})
    verdict = one.verdict.model_copy(
        update={
            "status": status,
            "outcome": "dns.nxdomain" if status == "blocked" else status,
            "reason": f"reason {MARKUP}",
        }
    )
    run = run_of([one.model_copy(update={"target": target, "verdict": verdict})])
    return run.model_copy(
        update={"run_id": run_id, "vantage": VantageInfo(name=vantage, ipv6=False)}
    )


@pytest.fixture
def two_views(tmp_path: Path) -> Path:
    """A folder with the same target seen from a free and a censored vantage, one document
    each; the URL and the vantage names carry markup."""
    folder = tmp_path / "runs"
    folder.mkdir()
    url = f"https://news.example/{MARKUP.replace(' ', '')}"
    for name, status in (("free", "accessible"), ("censored", "blocked")):
        run = _run(f"{name}{MARKUP}", status, f"run-{name}", url)
        (folder / f"{name}.json").write_text(run.model_dump_json(), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["run", "x", "--ipv6", "maybe"], "error: --ipv6: 'maybe' is not one of auto, on, off"),
        (["run", "x.example", "--keep", "-1"], "error: --keep: "),
        (["run", "x.example", "--no-such-flag"], "error: no such option: --no-such-flag"),
        (["report", "."], "error: --html: give --html FILE, --markdown or both"),
        (["export"], "error: missing folder"),
        (["diff", "a.json", "b.json", "--format", "xml"], "error: --format: 'xml' is not one of"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(args: list[str], start: str) -> None:
    result = run_cli(*args)
    assert result.code == 2, result.stderr
    line = one_line_error(result.stderr)
    assert line.startswith(start), line
    assert line.endswith("--help)")


def test_version_and_completion() -> None:
    from censorcheck import __version__

    assert run_cli("--version").stdout.strip() == f"censorcheck {__version__}"
    # What the installed bash completion asks the CLI (not --show-completion, whose shell is
    # guessed from the parent processes: a test run from sh would fail for no fault of ours).
    env = {
        "_CENSORCHECK_COMPLETE": "complete_bash",
        "COMP_WORDS": "censorcheck dif",
        "COMP_CWORD": "1",
    }
    shown = run_cli(env=env)
    assert shown.code == 0, shown.stderr
    assert shown.stdout.split() == ["diff"]
    env["COMP_WORDS"] = "censorcheck diff --across"
    env["COMP_CWORD"] = "2"
    assert run_cli(env=env).stdout.split() == ["--across-vantages"]


def test_run_help_lists_every_exit_code() -> None:
    shown = " ".join(run_cli("run", "--help").stdout.split())
    for code in ("0 done", "1 done", "2 bad usage", "3 nothing", "4 results", "130 Ctrl-C", "143"):
        assert code in shown, code
    assert "see the README" not in shown


def test_the_man_page_is_the_one_the_cli_writes() -> None:
    """docs/censorcheck.1 is regenerated with ``censorcheck man > docs/censorcheck.1``."""
    written = run_cli("man")
    assert written.code == 0, written.stderr
    assert written.stdout == MAN_PAGE.read_text(encoding="utf-8")
    for command in ("run", "diff", "export", "vantage add", "cache prune", "dns-scan"):
        assert ".SS censorcheck " + command.replace("-", "\\-") in written.stdout
    for option in ("\\-\\-across\\-vantages", "\\-\\-summary", "\\-\\-format"):
        assert option in written.stdout
    # dns-scan's help escapes rich markup; the page shows the brackets themselves.
    assert "[country=CC] [asn=N] [# note]" in written.stdout
    assert "[country=CC] [asn=N] [# note]" in run_cli("dns-scan", "--help").stdout


def test_markup_from_documents_comes_out_literally(two_views: Path, tmp_path: Path) -> None:
    printed = {
        "diff": run_cli(
            "diff",
            str(two_views / "free.json"),
            str(two_views / "censored.json"),
            "--across-vantages",
            "--no-index",
        ),
        "history": run_cli("history", str(two_views), "--no-index"),
        "query": run_cli("query", str(two_views), "select url, vantage, reason from results"),
    }
    for name, result in printed.items():
        assert result.code in (0, 1), (name, result.stderr)
        # A cell may fold over lines: each column is read top to bottom.
        columns = [column(result.stdout, i) for i in range(result.stdout.count("┳") + 1)]
        assert any(squeezed(MARKUP) in c for c in columns), (name, result.stdout)
    env = {"CENSORCHECK_VANTAGES": str(tmp_path / "v.yaml")}
    added = run_cli("vantage", "add", "vpn", "--notes", MARKUP, env=env)
    assert added.code == 0, added.stderr
    assert MARKUP in run_cli("vantage", "list", env=env).stdout


def test_diff_across_vantages_pairs_the_same_targets(two_views: Path, tmp_path: Path) -> None:
    free, censored = two_views / "free.json", two_views / "censored.json"
    plain = run_cli("diff", str(free), str(censored), "--json", "--no-index")
    assert plain.json()["compared"] == 0  # different vantages: nothing pairs without the flag
    across = run_cli("diff", str(free), str(censored), "--across-vantages", "-f", "json")
    assert across.code == 1, across.stderr  # blocked from the second, not from the first
    report = across.json()
    assert report["compared"] == 1 and report["counts"]["newly_blocked"] == 1
    # One document holding both views.
    both = json.loads(free.read_text(encoding="utf-8"))
    other = json.loads(censored.read_text(encoding="utf-8"))
    both["results"] += other["results"]
    (tmp_path / "both.json").write_text(json.dumps(both), encoding="utf-8")
    names = [f"free{MARKUP}", f"censored{MARKUP}"]
    one = run_cli("diff", str(tmp_path / "both.json"), "--across-vantages", "--format", "tsv",
                  "--vantage", names[0], "--vantage", names[1])  # fmt: skip
    assert one.code == 1, one.stderr
    _, row = one.stdout.splitlines()
    pair = f"{names[0]} -> {names[1]}"
    assert row.split("\t")[:3] == ["newly_blocked", report["changes"][0]["url"], pair]


def test_vantage_add_refuses_what_run_refuses(tmp_path: Path) -> None:
    env = {"CENSORCHECK_VANTAGES": str(tmp_path / "v.yaml")}
    for flags, needle in (
        (["--resolver", "udpp://192.0.2.1"], "udpp"),
        (["--proxy", "ftp://192.0.2.1:21", "--resolver", "tcp://192.0.2.1"], "ftp://"),
        (["--proxy", "ftp://192.0.2.1:21"], "a proxy is socks5://"),
    ):
        added = run_cli("vantage", "add", "bad", *flags, env=env)
        assert added.code == 2, added.stderr
        assert needle in one_line_error(added.stderr)
        refused = run_cli("run", "x.example", "--control", "none", *flags, "-o", "-")
        assert refused.code == 2 and needle in one_line_error(refused.stderr)
    assert not (tmp_path / "v.yaml").exists()


def test_report_and_history_agree_on_an_unknown_target(two_views: Path) -> None:
    for args in (["history"], ["report", "--markdown"]):
        result = run_cli(*args, str(two_views), "--target", "nope.com", "--no-index")
        assert result.code == 2, result.stderr
        assert "no target nope.com" in one_line_error(result.stderr)


def test_export_to_stdout_or_to_a_named_file(two_views: Path, tmp_path: Path) -> None:
    streamed = run_cli("export", str(two_views), "-f", "csv", "-o", "-", "--no-index")
    assert streamed.code == 0, streamed.stderr
    rows = list(csv.DictReader(io.StringIO(streamed.stdout)))
    assert len(rows) == 2 and {r["vantage"] for r in rows} == {f"free{MARKUP}", f"censored{MARKUP}"}
    jsonl = run_cli("export", str(two_views), "-f", "ooni", "-o", "-", "--no-index")
    assert jsonl.code == 0, jsonl.stderr
    assert len([json.loads(line) for line in jsonl.stdout.splitlines()]) == 2
    refused = run_cli("export", str(two_views), "-f", "parquet", "-o", "-")
    assert refused.code == 2 and "Parquet" in one_line_error(refused.stderr)
    for name in ("exp.csv", "exp.parquet", "exp.jsonl"):
        done = run_cli("export", str(two_views), "-o", str(tmp_path / name), "--no-index")
        assert done.code == 0, done.stderr
        assert (tmp_path / name).is_file()  # a file, where the name says which format
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    folder = run_cli("export", str(two_views), "-f", "parquet", "-o", str(tmp_path / "out"))
    assert folder.code == 0, folder.stderr
    assert stat.S_IMODE((tmp_path / "out" / "results.parquet").stat().st_mode) == 0o600


def test_the_index_is_private_and_pruned(two_views: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run_cli("history", str(two_views), env=env).code == 0
    folder = tmp_path / "cache" / "censorcheck" / "index"
    (index,) = folder.glob("results-*.duckdb")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    stale = folder / "results-0000000000000000.duckdb"
    stale.write_bytes(b"\0" * 4096)
    month_ago = time.time() - 31 * 86400
    os.utime(stale, (month_ago, month_ago))
    # Each use prunes what is a month unused.
    assert run_cli("history", str(two_views), env=env).code == 0
    assert not stale.exists() and index.exists()
    # And `cache prune` by size: nothing fits in 0 MB.
    pruned = run_cli("cache", "prune", "--max-size", "0", env=env)
    assert pruned.code == 0, pruned.stderr
    assert not list(folder.iterdir())
    assert cache.prune(folder, None, 0).removed == []
