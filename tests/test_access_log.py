"""`digest serve`'s access log (issue 32, item 9): a line per request, with no token and no
address in it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.editions import make_token
from digest.settings import load_settings
from digest.web import create_app

from .conftest import fixed_clock, write_settings


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("digest.access")
    before = logger.level, logger.propagate
    logger.propagate = True  # `digest serve` in this process would have turned it off
    caplog.set_level(logging.INFO, logger="digest.access")
    try:
        yield caplog
    finally:
        logger.setLevel(before[0])
        logger.propagate = before[1]


def test_requests_are_logged_without_tokens(
    tmp_path: Path, secret_env: str, access: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "digest.sqlite"))
    client = create_app(settings, fixed_clock()).test_client()
    token = make_token(secret_env, "ada@example.org", "preferences")
    assert client.get(f"/preferences/{token}?from=mail").status_code == 200
    assert client.get("/unsubscribe/not-a-token").status_code == 400
    assert client.get("/no/such/ada@example.org/" + "x" * 40).status_code == 404
    lines = [r.getMessage() for r in access.records if r.name == "digest.access"]
    assert len(lines) == 3, lines
    assert '"GET /preferences/<token>" 200 ' in lines[0]
    assert '"GET /unsubscribe/<token>" 400 ' in lines[1]
    assert '"GET /no/such/…/…" 404 ' in lines[2]
    text = "\n".join(lines)
    assert token not in text and token.split(".")[1] not in text
    assert "ada@" not in text and "from=mail" not in text
