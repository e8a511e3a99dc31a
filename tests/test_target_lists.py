"""Target lists at scale: a bad row costs that row (one warning naming file and line) unless
``--strict``; hashbang fragments make distinct targets; ``lists update CC`` fetches Citizen Lab's
lists from a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from censorcheck.errors import TargetError
from censorcheck.lab import Lab
from censorcheck.measure.targets import load_targets, normalise_url
from censorcheck.models import Run
from tests.conftest import run_cli
from tests.test_scenarios import lab_flags

HEADER = "url,category_code,category_description,date_added,source,notes\n"


# --- skipping bad rows --------------------------------------------------------------------------


YAML_HEAD = "targets:\n  - https://a.example/\n"
BAD_ROWS = [
    ("l.txt", "https://a.example/\nhtps://x.com\nb.example\n", 2),
    ("l.csv", HEADER + "https://a.example/,NEWS,,,,\n,NEWS,,,,\nhttps://b.example/,,,,,\n", 3),
    ("l.csv", HEADER + "https://a.example/,,,,,\nhttps://x.example/,,,,,,,\nb.example,,,,,\n", 3),
    ("l.yaml", YAML_HEAD + "  - url: x.example\n    colour: red\n  - b.example\n", 4),
    ("l.yaml", YAML_HEAD + "  - [1, 2]\n  - b.example\n", 3),
    ("l.yaml", YAML_HEAD + "  - url: https://x.example/\n    expect: fine\n  - b.example\n", 4),
]


@pytest.mark.parametrize(("name", "text", "bad_line"), BAD_ROWS)
def test_a_bad_row_is_skipped_with_its_file_and_line(
    tmp_path: Path, name: str, text: str, bad_line: int
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    skipped: list[str] = []
    targets = load_targets([str(path)], on_skip=skipped.append)
    assert [t.domain for t in targets] == ["a.example", "b.example"]
    [reason] = skipped
    assert reason.startswith(f"{path} line {bad_line}: "), reason
    assert "\n" not in reason
    # Strict (the library's default): the same row is an error, with the same words.
    with pytest.raises(TargetError) as raised:
        load_targets([str(path)])
    assert str(raised.value) == reason


def test_a_list_that_is_not_a_list_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    for name, text in (("a.csv", "address\nhttps://a.example/\n"), ("b.yaml", "- a.example\n")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(TargetError, match=str(path)):
            load_targets([str(path)], on_skip=lambda _: None)
    every_row_bad = tmp_path / "c.txt"
    every_row_bad.write_text("htps://x\nftp://y.example/\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"no targets \(2 rows skipped\)"):
        load_targets([str(every_row_bad)], on_skip=lambda _: None)


# --- fragments ---------------------------------------------------------------------------------


def test_hashbang_fragments_are_distinct_targets(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        HEADER + "https://twitter.com/#!/a,GRP,,,,\nhttps://twitter.com/#!/b,GRP,,,,\n"
        "https://example.org/page#top,NEWS,,,,\nhttps://example.org/page#bottom,NEWS,,,,\n",
        encoding="utf-8",
    )
    urls = [t.url for t in load_targets([str(path)])]
    assert urls == [
        "https://twitter.com/#!/a",
        "https://twitter.com/#!/b",
        "https://example.org/page",  # an anchor in one page: the same target
    ]
    assert normalise_url("HTTPS://Twitter.COM/#!/caf\u00e9") == "https://twitter.com/#!/caf%C3%A9"


# --- the CLI: the run goes on, or --strict stops it --------------------------------------------


def test_a_run_skips_a_bad_row_and_strict_refuses_it(lab: Lab, tmp_path: Path) -> None:
    static = lab.topology.url("static.lab.test")
    path = tmp_path / "list.txt"
    path.write_text(f"{static}#!/a\nhtps://broken.example\n{static}#!/b\n", encoding="utf-8")
    out = tmp_path / "run.json"
    flags = [*lab_flags(lab, True), "--control", "none", "--output", str(out)]
    done = run_cli("run", str(path), *flags)
    assert done.code == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {path} line 2: 'htps://broken.example' is not a valid URL "
        "(scheme must be http or https); skipped"
    ]
    run = Run.model_validate_json(out.read_text(encoding="utf-8"))
    assert [r.target.url for r in run.results] == [f"{static}#!/a", f"{static}#!/b"]
    assert {r.verdict.status for r in run.results} == {"accessible"}
    # The fragment is the page's own business: the request asked for the path alone.
    for r in run.results:
        assert r.http is not None and r.http.hops[0].response is not None
        assert r.http.hops[0].response.status == 200
    out.unlink()
    strict = run_cli("run", str(path), *flags, "--strict")
    assert strict.code == 2
    assert strict.stderr.startswith(f"error: {path} line 2: ") and not out.exists()


# --- lists update ------------------------------------------------------------------------------


class _Lists(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test reads what was asked from ``asked``


@pytest.fixture
def lists_server() -> Iterator[tuple[str, type[_Lists]]]:
    handler = type("Handler", (_Lists,), {"files": {}, "asked": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # bound: ready now
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/test-lists/lists/", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_lists_update_fetches_global_and_the_country(
    lists_server: tuple[str, type[_Lists]], tmp_path: Path
) -> None:
    url, handler = lists_server
    global_csv = HEADER + "https://www.example.com/,NEWS,News Media,2014-04-15,,\n"
    kz_csv = HEADER + "https://respublika-kaz.info/,NEWS,,,,\nhtps://typo,NEWS,,,,\n"
    handler.files["/test-lists/lists/global.csv"] = global_csv.encode()
    handler.files["/test-lists/lists/kz.csv"] = kz_csv.encode()
    folder = tmp_path / "targets"
    done = run_cli("lists", "update", "KZ", "--url", url, "--folder", str(folder))
    assert done.code == 0, done.stderr
    assert handler.asked == ["/test-lists/lists/global.csv", "/test-lists/lists/kz.csv"]
    assert (folder / "global.csv").read_text(encoding="utf-8") == global_csv
    assert (folder / "kz.csv").read_text(encoding="utf-8") == kz_csv
    lines = done.stderr.splitlines()
    assert f"warning: {folder / 'kz.csv'} line 3: 'htps://typo' is not a valid URL" in lines[0]
    assert lines[1:] == [
        f"{folder / 'global.csv'}: 1 targets from {url}global.csv",
        f"{folder / 'kz.csv'}: 1 targets from {url}kz.csv, 1 rows a run will skip",
    ]
    # What was written is a list the run reads.
    assert [t.domain for t in load_targets([str(folder) + "/kz.csv"], on_skip=lambda _: None)] == [
        "respublika-kaz.info"
    ]
    # The URL may come from the environment (the setting) instead of the flag.
    handler.asked.clear()
    env = {"CENSORCHECK_LISTS_URL": url}
    assert run_cli("lists", "update", "kz", "--folder", str(folder), env=env).code == 0
    assert handler.asked == ["/test-lists/lists/global.csv", "/test-lists/lists/kz.csv"]


def test_a_missing_or_broken_list_replaces_nothing(
    lists_server: tuple[str, type[_Lists]], tmp_path: Path
) -> None:
    url, handler = lists_server
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "global.csv").write_text("previous\n", encoding="utf-8")
    handler.files["/test-lists/lists/global.csv"] = (HEADER + "https://a.example/,,,,,\n").encode()
    missing = run_cli("lists", "update", "XX", "--url", url, "--folder", str(folder))
    assert missing.code == 2
    assert missing.stderr.startswith(f"error: {url}xx.csv: HTTP 404")
    # An error page served as the list is not a list.
    handler.files["/test-lists/lists/xx.csv"] = b"<html>rate limited</html>\n"
    broken = run_cli("lists", "update", "XX", "--url", url, "--folder", str(folder))
    assert broken.code == 2 and f"{url}xx.csv is not a target list" in broken.stderr
    assert (folder / "global.csv").read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in folder.iterdir()) == ["global.csv"]
    bad = run_cli("lists", "update", "Kazakhstan", "--url", url, "--folder", str(folder))
    assert bad.code == 2 and "two-letter" in bad.stderr
