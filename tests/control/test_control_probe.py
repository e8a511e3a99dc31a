"""The probe's side of the control server that needs no server: secrets and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from censorcheck.control.protocol import MeasureRequest
from censorcheck.measure import durable
from censorcheck.measure.api import public_settings
from censorcheck.models import Target
from censorcheck.results.store import Journal, journal_path
from censorcheck.settings import Settings

TOKEN = "a-token-nobody-should-find-on-disk"


def test_the_control_token_is_never_written(tmp_path: Path) -> None:
    settings = Settings(control_url="http://127.0.0.1:9/", control_token=TOKEN)
    target = Target(url="https://site.example/", domain="site.example")
    pending = durable.start([target], settings, tmp_path / "run.json")
    journal = journal_path(tmp_path / "run.json")
    Journal(journal).open(pending.header).close()
    assert TOKEN not in journal.read_text()
    assert pending.settings.control_token == TOKEN
    assert durable.resume(journal, TOKEN).settings.control_token == TOKEN
    assert durable.resume(journal).settings.control_token is None
    assert public_settings(settings)["control_token"] == "redacted"


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "ftp://site.example/"},
        {"url": "http://user:pw@site.example/"},
        {"url": "https://site.example/" + "a" * 2100},
        {"url": "https://site.example/", "addresses": ["192.0.2.1"] * 9},
        {"url": "https://site.example/", "addresses": ["not-an-ip"]},
        {"url": "https://site.example/", "headers": {"Cookie": "session=1"}},
        {"url": "https://site.example/", "headers": {"User-Agent": "x\r\nInjected: 1"}},
        {"url": "https://site.example/", "deadline": 0},
        {"url": "https://site.example/", "deadline": 3600},
    ],
)
def test_a_measure_request_refuses_what_a_server_must_not_act_on(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MeasureRequest.model_validate(fields)


def test_a_control_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(control_url="ftp://control.example/")
