"""The web app's one rule, checked on every route of its URL map: only a POST changes state.
GET, HEAD and OPTIONS (link scanners, prefetchers, `curl -I`) leave every table as it was, on
both engines, whatever the route and whichever valid token it is given. Also the other page
holes of the hardening review: forms checked before any write, removed readers' links, a
health check that creates nothing, and a blank operator credential."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask

from digest.diff import ingest_paths
from digest.errors import SettingsError
from digest.feedback import Vote, vote_token
from digest.settings import load_settings
from digest.store import Store
from digest.web import WebServer, create_app

from .conftest import EXAMPLES, SmtpServer, fixed_clock, write_settings
from .test_web import ADMIN, OP, Web


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", ADMIN)
    return ADMIN


TABLES = ("subscribers", "feedback", "suppressions", "deliveries", "sent_papers", "papers")


def state(database: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a page could change, in a stable order."""
    with Store.open(database) as store:
        return {
            table: sorted(
                (tuple(map(repr, row)) for row in store.database.execute(f"SELECT * FROM {table}")),  # noqa: S608
            )
            for table in TABLES
        }


def _paper_id(database: Path | str) -> int:
    with Store.open(database) as store:
        row = store.database.execute("SELECT min(id) FROM papers").fetchone()
    return int(row[0])


def _urls(app: Flask, web: Web, paper_id: int) -> Iterator[str]:
    """Every route of the app, each token-taking one with every kind of valid token (the
    route's own purpose among them), for a reader with a profile, an edition and a vote."""
    email = "ada@example.org"
    tokens = [web.token(email, purpose) for purpose in ("view", "feed", "unsubscribe")]
    tokens.append(web.token(email, "preferences"))
    for verdict in ("more", "less"):
        tokens.append(vote_token(web.secret, Vote(email, paper_id, verdict)))
    day = "2026-11-22"
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        values: dict[str, list[str]] = {"token": tokens, "edition": [day], "email": [email]}
        combos: list[dict[str, str]] = [{}]
        for argument in sorted(rule.arguments):
            combos = [{**c, argument: v} for c in combos for v in values[argument]]
        for combo in combos:
            path = rule.rule
            for name, value in combo.items():
                path = path.replace(f"<{name}>", value)
            yield path


def test_no_get_head_or_options_changes_anything_on_any_route(
    database: Path | str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    secret_env: str,
    operator_env: str,
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port)
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    app = create_app(settings, fixed_clock())
    server = WebServer(settings, "127.0.0.1", 0, app=app).start()
    web = Web(server.url, settings, secret_env, tmp_path)
    try:
        web.send(smtp_server)
        before = state(database)
        urls = sorted(set(_urls(app, web, _paper_id(database))))
        assert len(urls) > 20
        answered = 0
        with httpx.Client(base_url=web.url, headers=OP) as client:
            for url in urls:
                for method in ("GET", "HEAD", "OPTIONS"):
                    response = client.request(method, url)
                    assert response.status_code < 500, (method, url, response.status_code)
                    answered += response.status_code == 200
        assert answered > 2 * len(urls) // 3  # the tokens were valid: the pages answered
        assert state(database) == before
        # The same routes do change state on POST (the walk above could have missed them).
        unsubscribe = f"/unsubscribe/{web.token('ada@example.org', 'unsubscribe')}"
        assert httpx.post(web.url + unsubscribe).status_code == 200
        assert state(database)["suppressions"] != before["suppressions"]
    finally:
        server.stop()


@pytest.fixture
def served(
    database: Path | str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    secret_env: str,
    operator_env: str,
) -> Iterator[Web]:
    path = write_settings(tmp_path, database=database, port=smtp_server.port)
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    server = WebServer(settings, "127.0.0.1", 0, app=create_app(settings, fixed_clock())).start()
    try:
        yield Web(server.url, settings, secret_env, tmp_path)
    finally:
        server.stop()


@pytest.mark.parametrize("forget", ["99999999999999999999999", "²", "12abc", "-3"])
def test_a_bad_form_field_saves_nothing(served: Web, forget: str) -> None:
    """A form with any bad field is refused whole: before, the profile was saved and only
    then did `forget` fail (a 500 after a partial write)."""
    url = f"{served.url}/preferences/{served.token('ada@example.org', 'preferences')}"
    before = state(served.settings.database)
    answer = httpx.post(url, data={"interests": "quantum error correction", "forget": forget})
    assert answer.status_code == 400 and "forget" in answer.text
    assert state(served.settings.database) == before


def test_a_removed_readers_links_answer_410(served: Web, smtp_server: SmtpServer) -> None:
    email = "ada@example.org"
    served.send(smtp_server)
    paper_id = _paper_id(served.settings.database)
    archive = f"/archive/{served.token(email, 'view')}"
    assert httpx.get(served.url + archive).status_code == 200
    # ada lives in the settings file of these tests: remove her there, as an operator would.
    settings = served.settings.model_copy(
        update={"subscribers": tuple(s for s in served.settings.subscribers if s.email != email)}
    )
    server = WebServer(settings, "127.0.0.1", 0, app=create_app(settings, fixed_clock())).start()
    try:
        vote = vote_token(served.secret, Vote(email, paper_id, "more"))
        for path in (
            archive,
            f"/archive/2026-11-22/{served.token(email, 'view')}",
            f"/feed/{served.token(email, 'feed')}",
            f"/preferences/{served.token(email, 'preferences')}",
            f"/feedback/{vote}",
        ):
            answer = httpx.get(server.url + path)
            assert answer.status_code == 410, path
            assert "removed" in answer.text and "Nov" not in answer.text
        assert httpx.post(f"{server.url}/feedback/{vote}").status_code == 410
    finally:
        server.stop()


def test_health_check_never_creates_a_database(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    path = write_settings(tmp_path, database=tmp_path / "digest.sqlite", port=smtp_server.port)
    settings = load_settings(path)
    server = WebServer(settings, "127.0.0.1", 0, app=create_app(settings, fixed_clock())).start()
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (tmp_path / f"digest.sqlite{suffix}").unlink()
        for method in ("GET", "HEAD"):
            assert httpx.request(method, f"{server.url}/healthz").status_code == 503
        assert not (tmp_path / "digest.sqlite").exists()
    finally:
        server.stop()


def test_an_operator_token_of_spaces_is_refused(
    tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", " " * 16)
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "d.sqlite"))
    with pytest.raises(SettingsError, match="DIGEST_ADMIN_TOKEN"):
        create_app(settings, fixed_clock())
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", "  " + ADMIN + "  ")
    create_app(load_settings(write_settings(tmp_path, database=tmp_path / "d.sqlite")))


def test_a_store_opened_to_read_refuses_writes_on_both_engines(database: Path | str) -> None:
    """What the pages' GETs open: the engine itself refuses a write (before, a PostgreSQL
    store opened read-only wrote as any other)."""
    from digest.errors import StoreError

    Store.open(database).close()
    with Store.open(database, read_only=True) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.readers.unsubscribe("ada@example.org", fixed_clock()())
        assert store.readers.suppressions() == {}  # and it still reads
    with Store.open(database) as store:  # the pooled connection is writable again elsewhere
        store.readers.unsubscribe("ada@example.org", fixed_clock()())
        assert "ada@example.org" in store.readers.suppressions()
