"""The control server's bearer tokens: who is let in, how tokens are compared, token files."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from censorcheck.control.protocol import Health, Limits
from censorcheck.control.server import ServerConfig, create_app, load_tokens
from censorcheck.errors import ConfigError
from censorcheck.models import Control
from tests.control.support import OTHER, TOKEN, bearer, client, confined, post_measure


def test_health_answers_without_a_token(base: str) -> None:
    with client() as c:
        response = c.get(f"{base}/v1/health")
    assert response.status_code == 200
    health = Health.model_validate_json(response.content)
    assert health.status == "ok"
    assert health.limits == confined().limits()


def _one_char_off(token: str) -> str:
    return token[:-1] + ("b" if token[-1] != "b" else "c")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-token-this-server-knows",
        "Bearer " + _one_char_off(TOKEN),
        "Bearer " + TOKEN[:-1],  # a prefix of a real token
        "Bearer " + TOKEN + "a",  # a real token with more after it
        "Bearer " + TOKEN.upper(),
        "Bearer",
        TOKEN,  # no scheme at all
        "Basic " + TOKEN,  # the right secret under another scheme
        "Token " + TOKEN,
    ],
    ids=[
        "none",
        "wrong",
        "one-char-off",
        "prefix",
        "longer",
        "upper-case",
        "bearer-alone",
        "no-scheme",
        "basic",
        "token-scheme",
    ],
)
@pytest.mark.parametrize("endpoint", ["GET /v1/limits", "POST /v1/measure"])
def test_without_a_known_bearer_token_the_answer_is_401(
    base: str, endpoint: str, authorization: str | None
) -> None:
    method, path = endpoint.split()
    headers = {"authorization": authorization} if authorization is not None else {}
    # A valid body, so that nothing but the token can be what is refused.
    body = {"url": "http://10.0.0.1/"} if method == "POST" else None
    with client() as c:
        response = c.request(method, base + path, headers=headers, json=body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "a valid bearer token is needed"}


@pytest.mark.parametrize("token", [TOKEN, OTHER], ids=["first", "second"])
def test_every_token_of_the_server_is_accepted(base: str, token: str) -> None:
    with client() as c:
        response = c.get(f"{base}/v1/limits", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert Limits.model_validate_json(response.content) == confined().limits()
    # Forbidden, so it returns at once; what matters is that the token got it measured.
    response = post_measure(base, {"url": "http://10.0.0.1/"}, token=token)
    assert response.status_code == 200, response.text
    assert Control.model_validate_json(response.content).source == "server"


@contextlib.contextmanager
def _app_state(config: ServerConfig) -> Iterator[Any]:
    """The application's state while its lifespan runs, without a server."""
    app = create_app(config)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    try:
        yield app.state.control
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def test_token_index_names_the_token_and_compares_against_every_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = tuple(f"token-number-{i}-" + "x" * 16 for i in range(5))
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    with _app_state(confined(tokens=tokens)) as state:
        monkeypatch.setattr(hmac, "compare_digest", counting)
        for i, token in enumerate(tokens):
            compared.clear()
            assert state.token_index(token) == i
            # No early exit and fixed-size digests: the time taken says neither which token
            # matched nor how long any of them is.
            assert compared == [(32, 32)] * len(tokens)
        for other in ["", tokens[0][:-1], tokens[0] + "x", tokens[0].upper(), "\udcff" * 20]:
            compared.clear()
            assert state.token_index(other) is None
            assert compared == [(32, 32)] * len(tokens)


# --- token files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        (b"", "no token"),
        (b"# only a comment\n\n   # and another\n", "no token"),
        (b"short-token\n", "line 1"),
        (b"# fine\n" + b"a-token-with a-space-in-it\n", "line 2"),
        (b"a-token-with\ta-tab-in-it-xx\n", "line 1"),
        (b"\xff\xfe not utf-8 at all \xff\n", "not UTF-8"),
    ],
    ids=["missing", "empty", "comments-only", "short", "space", "tab", "not-utf8"],
)
def test_a_bad_token_file_is_a_config_error_naming_it(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / "tokens.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_tokens(path)
    assert str(path) in str(caught.value)
    assert why in str(caught.value)


def test_a_token_file_with_comments_gives_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.txt"
    path.write_text(f"# probes\n\n{TOKEN}\n   {OTHER}   \n# {'c' * 20}\n", encoding="utf-8")
    assert load_tokens(path) == (TOKEN, OTHER)


def test_tokens_are_hashed_as_the_file_gives_them(tmp_path: Path) -> None:
    """What a client presents is hashed the way the server hashed the file's line."""
    path = tmp_path / "tokens.txt"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    with _app_state(confined(tokens=load_tokens(path))) as state:
        assert state.digests == (hashlib.sha256(TOKEN.encode()).digest(),)
        assert state.token_index(TOKEN) == 0
