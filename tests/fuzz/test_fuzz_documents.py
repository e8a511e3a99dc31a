"""Property: no run document or journal makes a reading command crash. ``diff``, ``reanalyze``,
``report``, ``query``, ``history``, ``export`` and ``run --resume`` are run as commands (in this
process, through typer's test runner) on a damaged file: each succeeds, skips the file with a
warning, or ends with one line and exit code 2."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from censorcheck.cli import app
from censorcheck.measure import durable
from censorcheck.measure.verdict import Observations, judge_quic
from censorcheck.models import (
    Certificate,
    Control,
    DNSAnswer,
    DNSQuery,
    HTTPResponse,
    QUICFetch,
    QUICHandshake,
    Result,
    Run,
    Summary,
    Target,
    TCPConnect,
    TLSHandshake,
    Tool,
    VantageInfo,
    Verdict,
)
from censorcheck.results.diff import diff_sides, load_side
from censorcheck.results.reanalyze import reanalyze as rejudge
from censorcheck.results.store import Journal, JournalHeader, journal_path, read_run
from censorcheck.results.warehouse import Warehouse
from censorcheck.settings import Settings
from tests.fuzz.bounds import loads_or_user_error, time_limit
from tests.fuzz.inputs import json_mutated, mutated, nested

ADDRESS = "192.0.2.10"


def _result(url: str, started: str, blocked: bool) -> Result:
    target = Target(url=url, domain=url.split("/")[2], category="NEWS")
    answer = DNSAnswer(rcode="NOERROR", addresses=[ADDRESS], cnames=["c.example"], ttl=60, t=0.01)
    dns = DNSQuery(
        resolver="udp://192.0.2.53", hostname=target.domain, qtype="A", answer=answer, t=0.01
    )
    cert = Certificate(
        subject="CN=a.example", issuer="CN=CA", sans=["a.example"], not_before="2026-01-01",
        not_after="2027-01-01", sha256="00" * 32,
    )  # fmt: skip
    tls = TLSHandshake(
        address=ADDRESS, port=443, sni=target.domain, version="TLSv1.3", chain=[cert], trusted=True,
        failure="tls.reset" if blocked else None,
    )  # fmt: skip
    hand = QUICHandshake(address=ADDRESS, port=443, sni=target.domain, alpn="h3", trusted=True)
    page = HTTPResponse(status=200, headers=[("server", "x")], body_length=10, body_sha256="00")
    quic = [QUICFetch(address=ADDRESS, port=443, handshake=hand, response=page)]
    obs = Observations(target=target, tls=[tls], control=Control(), quic=quic)
    verdict = Verdict(
        status="blocked" if blocked else "accessible",
        outcome="tls.reset" if blocked else "accessible",
        confidence=0.9,
        reason="seed",
    )
    return Result(
        target=target, started_at=started, t=0.1, dns=[dns],
        tcp=[TCPConnect(address=ADDRESS, port=443, t=0.01)], tls=[tls], control=Control(),
        quic=quic, verdict=verdict, quic_verdict=judge_quic(obs),
    )  # fmt: skip


def _run(n: int) -> Run:
    started = f"2026-12-0{n}T10:00:00.000Z"
    results = [
        _result("https://a.example/", started, blocked=n == 2),
        _result("http://b.example:8080/p", started, blocked=False),
    ]
    return Run(
        run_id=f"run-{n}",
        started_at=started,
        finished_at=started,
        tool=Tool(version="0"),
        vantage=VantageInfo(name="home", ipv6=False, country="KZ", asn=64500),
        settings={"timeout": 1.0},
        rules_version="6",
        results=results,
        summary=Summary.of(results),
    )


OLD, NEW = _run(1), _run(2)
SEED = OLD.model_dump(mode="json")
SEED_BYTES = OLD.model_dump_json(indent=1).encode()


def _journal_seed(folder: Path) -> bytes:
    """A journal as an interrupted run leaves it: header, one result, a torn last line."""
    settings = Settings(resolvers=["udp://127.0.0.1:9"], control_resolvers=[])
    targets = [r.target for r in OLD.results]
    header = JournalHeader(
        run_id="run-9", started_at=OLD.started_at, settings=settings, targets=targets
    )
    path = folder / "seed.journal.jsonl"
    journal = Journal(path).open(header)
    journal.append(OLD.results[0])
    journal.close()
    return path.read_bytes() + b'{"target": {"url": "https://b.exa'


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("fuzz-documents")
    (folder / "new.json").write_text(NEW.model_dump_json())
    yield folder


runner = CliRunner()


def command(*args: str, ok: tuple[int, ...] = (0,), codes: tuple[int, ...] = (2,)) -> str:
    """Run ``censorcheck ARGS``; fail unless it ends with an ``ok`` code, or with one line and
    an error code in ``codes``. Returns stderr."""
    with time_limit():
        result = runner.invoke(app, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    if result.exit_code in ok:
        return result.stderr
    assert result.exit_code in codes, (result.exit_code, result.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    return result.stderr


def document() -> st.SearchStrategy[bytes]:
    """A run document's bytes: valid JSON with some values changed, or bytes mutated."""
    return st.one_of(
        json_mutated(SEED).map(lambda doc: json.dumps(doc).encode()),
        mutated(SEED_BYTES),
        st.binary(max_size=512),
    )


def _place(work: Path, data: bytes) -> Path:
    """``data`` as the only run document of a folder."""
    folder = work / "one"
    folder.mkdir(exist_ok=True)
    path = folder / "2026-12-01T10-00-00Z-home.json"
    path.write_bytes(data)
    return path


DEEP = nested(100_000).encode()
# A run document whose results hold a huge number: DuckDB's columns and int() both have limits.
HUGE_NUMBER = json.dumps({**SEED, "results": [{**SEED["results"][0], "t": 10**400}]}).encode()


@given(data=document())
@example(data=DEEP)
@example(data=HUGE_NUMBER)
def test_run_documents_for_diff_and_reanalyze(work: Path, data: bytes) -> None:
    path = _place(work, data)
    run = loads_or_user_error(lambda: read_run(path))
    if isinstance(run, Run):
        rejudge(run)
        diff_sides(load_side(path, index=False), load_side(work / "new.json", index=False))


@given(data=document())
@example(data=DEEP)
@example(data=HUGE_NUMBER)
def test_run_documents_in_the_results_table(work: Path, data: bytes) -> None:
    # What report, query, history and export read: the folder's documents as table rows.
    folder = _place(work, data).parent

    def load() -> list[tuple[object, ...]]:
        with Warehouse([folder], index=False) as wh:
            return wh.rows("SELECT url, vantage, status, run_started_at FROM results")

    loads_or_user_error(load)


# Each command end to end is slower (a page rendered, a table printed): fewer examples.
@settings(max_examples=max(5, settings.default.max_examples // 50))
@given(data=document())
@example(data=HUGE_NUMBER)
def test_reading_commands_on_a_damaged_document(work: Path, data: bytes) -> None:
    path = _place(work, data)
    folder = str(path.parent)
    command("diff", "--no-index", str(path), str(work / "new.json"), ok=(0, 1))
    command("diff", "--no-index", folder, str(work / "new.json"), ok=(0, 1))
    command("reanalyze", str(path), "--output", "-")
    command("report", "--no-index", "--markdown", "--html", str(work / "page.html"), folder)
    command("query", "--no-index", "--format", "json", folder, "SELECT * FROM results")
    command("history", "--no-index", folder)
    command("export", "--no-index", "--format", "ooni", "--output", str(work / "x.jsonl"), folder)


@st.composite
def journal(draw: st.DrawFn, seed: bytes) -> bytes:
    """A journal's bytes: lines changed one by one (each a JSON value or mutated), or mutated
    as a whole."""
    if draw(st.booleans()):
        return draw(mutated(seed))
    lines = seed.split(b"\n")
    at = draw(st.integers(0, len(lines) - 1))
    try:
        value = json.loads(lines[at])
    except ValueError:
        return draw(mutated(seed))
    lines[at] = json.dumps(draw(json_mutated(value))).encode()
    return b"\n".join(lines)


@pytest.fixture(scope="module")
def journal_seed(work: Path) -> bytes:
    return _journal_seed(work)


@given(data=st.data())
def test_resume_reads_a_damaged_journal(
    work: Path, journal_seed: bytes, data: st.DataObject
) -> None:
    # What --resume reads before it measures anything: the header, then the results kept. A
    # journal it cannot read is a StoreError, exit code 4, as the store has always said.
    path = journal_path(work / "resumed.json")
    path.write_bytes(data.draw(journal(journal_seed)))
    pending = loads_or_user_error(lambda: durable.resume(path), codes=(2, 4))
    if isinstance(pending, durable.Pending):
        assert {t.url for t in pending.todo} <= {t.url for t in pending.header.targets}


# Only in a namespace with loopback alone: a damaged header may name any resolver, "system" too.
isolated = pytest.mark.skipif(
    [name for _, name in socket.if_nameindex()] != ["lo"],
    reason="needs a network namespace with loopback only (make test runs pytest in one)",
)


@isolated
@pytest.mark.parametrize("cut", [40, 200, -30, -1])
def test_run_resume_of_a_damaged_journal(work: Path, journal_seed: bytes, cut: int) -> None:
    path = journal_path(work / f"cut{cut}.json")
    path.write_bytes(journal_seed[:cut] + b"\x00\xff\n" + journal_seed[cut:])
    command("run", "--resume", str(path), ok=(0, 1, 3), codes=(2, 4))
