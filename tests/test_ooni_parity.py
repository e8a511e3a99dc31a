"""The parity table with OONI's QA suite (tests/parity/) against what it names: every lab row and
verdict row exists and expects what the table claims, every difference from OONI is explained,
and docs/ooni-parity.md is the table as it stands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from censorcheck.lab.scenarios import BY_NAME
from tests.parity.model import SETUPS, Parity, Setup, agrees
from tests.parity.render import PAGE, render
from tests.parity.table import OONI_COUNT, TABLE
from tests.verdict.builders import Case
from tests.verdict.test_rules import CASES

ROWS: dict[str, Case] = {c.id: c for c in CASES}
# The control each set-up stands for, as a verdict row records it.
SOURCE: dict[Setup, str] = {"resolvers": "resolvers", "server": "server", "ooni": "ooni"}
README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_ooni_scenario_has_one_entry() -> None:
    names = [e.name for e in TABLE]
    assert len(names) == len(set(names)) == OONI_COUNT
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]+", n) for n in names)


@pytest.mark.parametrize("entry", TABLE, ids=[e.name for e in TABLE])
def test_the_entry_claims_what_its_rows_expect(entry: Parity) -> None:
    assert entry.ours, "an entry with no verdict of ours"
    assert bool(entry.lab) != bool(entry.rows), "a lab row or verdict rows, one of the two"
    if entry.lab:
        scenario = BY_NAME[entry.lab]
        assert set(entry.ours) == set(SETUPS)  # the lab runs every set-up
        got = {
            "resolvers": scenario.expected(control=False),
            "server": scenario.expected(control=True),
            "ooni": scenario.expected(control=True, ooni=True),
        }
        for setup in SETUPS:
            e = got[setup]
            assert entry.ours[setup] == (e.status, e.blocking, e.outcome), setup
        return
    assert set(entry.ours) == set(entry.rows)
    for setup, row_id in entry.rows.items():
        case = ROWS[row_id]
        assert case.expect == entry.ours[setup], row_id
        assert case.control.source == SOURCE[setup], row_id


@pytest.mark.parametrize("entry", TABLE, ids=[e.name for e in TABLE])
def test_a_difference_from_ooni_is_explained_and_only_then(entry: Parity) -> None:
    differs = any(not agrees(entry.ooni, v) for v in entry.ours.values())
    assert bool(entry.why) == differs


def test_agreement_is_judged_by_meaning() -> None:
    """The comparison itself: a TLS reset is OONI's http-failure, a refusal on a redirect hop
    too; down is not accessible with no blocking; no claim is null."""
    assert agrees((False, "http-failure"), ("blocked", "tls", "tls.reset"))
    assert agrees((False, "http-failure"), ("blocked", "tcp", "tcp.refused"))
    assert not agrees((False, "dns"), ("blocked", "tls", "tls.reset"))
    assert not agrees((False, "dns"), ("inconclusive", None, "dns.inconsistent"))
    assert agrees((False, False), ("down", None, "dns.nxdomain"))
    assert not agrees((False, False), ("inconclusive", None, "tcp.refused"))
    assert agrees((None, None), ("inconclusive", None, "dns.unverified"))
    assert agrees((True, False), ("accessible", None, "accessible"))


def test_the_page_is_the_table() -> None:
    """Regenerate with `python -m tests.parity.render`."""
    assert PAGE.read_text(encoding="utf-8") == render()


def test_the_methodology_names_every_scenario_and_only_real_ones() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Methodology")
    table = text[start : text.index("\n\n", text.index("| outcome |", start))]
    named = set(re.findall(r"`([a-z]+[A-Z][A-Za-z0-9]*)`", table))  # camelCase: OONI's names
    assert named == {e.name for e in TABLE}


def test_where_we_differ_names_every_difference() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("### Where we differ from OONI")
    section = text[start : text.index("\n#", start + 1)]
    named = set(re.findall(r"`([a-z]+[A-Z][A-Za-z0-9]*)`", section))
    assert named == {e.name for e in TABLE if e.why}
