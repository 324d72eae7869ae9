"""How the web app answers what went wrong: a full disk is 503 with Retry-After (nothing was
changed; try again), not 500; the JSON API and the webhooks answer every error as JSON, the
pages as a page. Through the real app (Flask's test client) on a real SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from digest.diff import ingest_paths
from digest.editions import make_token
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.store.sqlite import Sqlite
from digest.web import create_app

from .conftest import EXAMPLES, fixed_clock, write_settings


@pytest.fixture
def app(tmp_path: Path, secret_env: str) -> tuple[FlaskClient, Settings, str]:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "d.sqlite"))
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    return create_app(settings, fixed_clock()).test_client(), settings, secret_env


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write fails the way SQLite fails on a full disk (SQLITE_FULL)."""
    execute = Sqlite.execute

    def full(self: Sqlite, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")
        return execute(self, sql, params)

    monkeypatch.setattr(Sqlite, "execute", full)
    monkeypatch.setattr(Sqlite, "executemany", full)


def test_a_full_disk_is_503_with_retry_after_not_500(
    app: tuple[FlaskClient, Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, settings, secret = app
    _disk_full(monkeypatch)
    token = make_token(secret, "ada@example.org", "unsubscribe")
    answer = client.post(f"/unsubscribe/{token}")
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert "Nothing was changed" in answer.text and "d.sqlite" not in answer.text
    monkeypatch.undo()
    with Store.open(settings.database) as store:
        assert store.readers.suppressed("ada@example.org") is None


def test_the_json_api_answers_errors_as_json(app: tuple[FlaskClient, Settings, str]) -> None:
    client, _, _ = app
    for method, path in (
        ("GET", "/api/no-such-thing"),
        ("GET", "/api/subscribe"),  # 405
        ("POST", "/webhooks/nowhere"),
    ):
        answer = client.open(path, method=method)
        assert answer.status_code in (404, 405) and answer.is_json, path
        assert (answer.json or {})["error"]
    big = client.post(
        "/api/subscribe", data=b"{" + b" " * 70_000 + b"}", content_type="application/json"
    )
    assert big.status_code == 413 and big.is_json and (big.json or {})["error"]
    # The pages stay pages.
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
