"""`digest serve` over real HTTP: waitress on 127.0.0.1 in a thread, httpx as the client, a real
SQLite store and a real SMTP server for the editions the archive and unsubscribe refer to."""

from __future__ import annotations

import contextlib
import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.tokens import make_token
from digest.web import WebServer, create_app

from .conftest import EXAMPLES, FIXED_NOW, SmtpServer, fixed_clock, write_settings


@dataclass
class Web:
    url: str
    settings: Settings
    secret: str
    folder: Path

    def token(self, email: str, purpose: str) -> str:
        return make_token(self.secret, email, purpose)

    def send(self, smtp: SmtpServer) -> None:
        with Store.open(self.settings.database) as store:
            send_edition(store, self.settings, SmtpTransport(self.settings.smtp), fixed_clock())


ADMIN = "operator-token-0123456789abcdef"
OP = {"Authorization": f"Bearer {ADMIN}"}  # the operator's credential for the preview


@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", ADMIN)
    return ADMIN


def start(settings: Settings) -> tuple[str, WebServer]:
    server = WebServer(settings, "127.0.0.1", 0, app=create_app(settings, fixed_clock())).start()
    return server.url, server


@pytest.fixture
def web(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str, admin_env: str
) -> Iterator[Web]:
    path = write_settings(tmp_path, database=database, port=smtp_server.port)
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    url, server = start(settings)
    try:
        yield Web(url, settings, secret_env, tmp_path)
    finally:
        server.stop()


def test_preview_lists_subscribers_and_shows_both_parts(web: Web) -> None:
    listing = httpx.get(f"{web.url}/preview", headers=OP)
    assert listing.status_code == 200
    assert "ada@example.org" in listing.text and "grace@example.org" in listing.text
    page = httpx.get(f"{web.url}/preview/ada@example.org", headers=OP)
    assert page.status_code == 200
    assert 'width="640"' in page.text and 'width="375"' in page.text  # desktop and mobile
    assert "Manage preferences:" in page.text  # the plain-text part, shown as text
    # The only script anywhere: the app's own file that fits the frames to their emails.
    assert page.headers["content-security-policy"].endswith("; script-src 'self'")
    assert '<script src="/static/fit-frames.js"></script>' in page.text
    assert "<script>" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    email = httpx.get(f"{web.url}/preview/ada@example.org/email.html", headers=OP)
    assert email.status_code == 200
    assert email.text.startswith('<!DOCTYPE html><html lang="en"')  # standards mode
    assert httpx.get(f"{web.url}/preview/nobody@example.org", headers=OP).status_code == 404


def test_preview_reloads_changed_templates(
    database: Path | str, tmp_path: Path, secret_env: str, admin_env: str
) -> None:
    from digest.render import BUILTIN_TEMPLATES

    own = tmp_path / "mine"
    own.mkdir()
    text = (BUILTIN_TEMPLATES / "digest.txt.j2").read_text()
    (own / "digest.txt.j2").write_text("FIRST VERSION\n" + text)
    settings = load_settings(
        write_settings(tmp_path, database=database, extra='templates = "mine"')
    )
    url, server = start(settings)
    try:
        assert "FIRST VERSION" in httpx.get(f"{url}/preview/ada@example.org", headers=OP).text
        (own / "digest.txt.j2").write_text("SECOND VERSION\n" + text)
        page = httpx.get(f"{url}/preview/ada@example.org", headers=OP).text
        assert "SECOND VERSION" in page and "FIRST VERSION" not in page
    finally:
        server.stop()


def test_preview_can_be_switched_off(
    database: Path | str, tmp_path: Path, secret_env: str, admin_env: str
) -> None:
    settings = load_settings(
        write_settings(tmp_path, database=database, extra="[web]\npreview = false")
    )
    url, server = start(settings)
    try:
        assert httpx.get(f"{url}/preview", headers=OP).status_code == 404
        assert httpx.get(f"{url}/preview/ada@example.org/email.html", headers=OP).status_code == 404
        assert "/preview" not in httpx.get(url).text
    finally:
        server.stop()


def test_archive_shows_the_sent_edition_at_its_view_link(web: Web, smtp_server: SmtpServer) -> None:
    web.send(smtp_server)
    sent = smtp_server.handler.messages[0].data.decode()
    link = re.search(r"https://digest\.test(/archive/[^\s\"<>=]+)", sent.replace("=\r\n", ""))
    assert link is not None
    page = httpx.get(web.url + link.group(1))
    assert page.status_code == 200
    assert "Unsubscribe" in page.text
    day = FIXED_NOW.date().isoformat()
    ada = web.token("ada@example.org", "view")
    assert httpx.get(f"{web.url}/archive/{day}/{ada}").status_code == 200
    assert httpx.get(f"{web.url}/archive/2001-01-01/{ada}").status_code == 404
    assert httpx.get(f"{web.url}/archive/not-a-date/{ada}").status_code == 404
    # A view token is not an unsubscribe token, and a forged one is refused.
    assert httpx.get(f"{web.url}/archive/{day}/{ada[:-3]}abc").status_code == 403
    unsub = web.token("ada@example.org", "unsubscribe")
    assert httpx.get(f"{web.url}/archive/{day}/{unsub}").status_code == 403
    listing = httpx.get(f"{web.url}/archive/{ada}")
    assert listing.status_code == 200 and f'href="/archive/{day}/{ada}"' in listing.text
    # A signed link of an address that is no subscriber (any more) opens nothing.
    nobody = httpx.get(f"{web.url}/archive/{web.token('nobody@example.org', 'view')}")
    assert nobody.status_code == 410


def test_one_click_unsubscribe_works_without_cookies_or_redirects(
    web: Web, smtp_server: SmtpServer
) -> None:
    token = web.token("grace@example.org", "unsubscribe")
    asked = httpx.get(f"{web.url}/unsubscribe/{token}")
    assert asked.status_code == 200 and '<form method="post">' in asked.text
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressed("grace@example.org") is None  # a GET changes nothing
    done = httpx.post(
        f"{web.url}/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert "set-cookie" not in done.headers
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressed("grace@example.org") is not None
    web.send(smtp_server)
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [["ada@example.org"]]


def test_bad_tokens_get_400_or_403_and_change_nothing(web: Web) -> None:
    token = web.token("ada@example.org", "unsubscribe")
    for bad, status in (
        ("garbage", 400),
        (token[:-4] + "AAAA", 403),
        (web.token("ada@example.org", "preferences"), 403),
        (make_token("another-secret-key-456789", "ada@example.org"), 403),
    ):
        assert httpx.post(f"{web.url}/unsubscribe/{bad}").status_code == status, bad
    view = web.token("ada@example.org", "view")
    assert httpx.get(f"{web.url}/preferences/{view}").status_code == 403  # wrong purpose
    assert httpx.get(f"{web.url}/preferences/{token}").status_code == 200  # unsubscribe's opens it
    assert httpx.post(f"{web.url}/preferences/x.y", data={"max_items": "3"}).status_code == 403
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressions() == {}
        assert store.readers.subscriber_rows() == []


def test_preferences_edit_interests_and_schedule(web: Web) -> None:
    url = f"{web.url}/preferences/{web.token('ada@example.org', 'preferences')}"
    form = httpx.get(url)
    assert form.status_code == 200 and "graph neural networks" in form.text
    saved = httpx.post(
        url,
        data={
            "interests": "diffusion models\nrobot learning^2",
            "exclude": "survey",
            "max_items": "4",
            "send_at": "6:45",
            "timezone": "Europe/Berlin",
            "weekdays_only": "on",
        },
    )
    assert saved.status_code == 200 and "Saved" in saved.text
    with Store.open(web.settings.database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert row.profile["interests"] == [
        {"phrase": "diffusion models", "weight": 1.0},
        {"phrase": "robot learning", "weight": 2.0},
    ]
    assert (row.profile["max_items"], row.send_at, row.timezone) == (4, "06:45", "Europe/Berlin")
    assert row.weekdays_only is True
    refused = httpx.post(url, data={"interests": "x", "max_items": "500"})
    assert refused.status_code == 400 and "between 1 and 100" in refused.text
    bad_zone = httpx.post(url, data={"interests": "x", "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400 and "unknown time zone" in bad_zone.text
    too_many = httpx.post(url, data={"interests": "\n".join(f"t{n}" for n in range(60))})
    assert too_many.status_code == 400 and "too many" in too_many.text
    huge = httpx.post(url, data={"interests": "x" * 100_000})
    assert huge.status_code == 413
    with Store.open(web.settings.database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert row.profile["max_items"] == 4  # the refused forms changed nothing


def test_preferences_show_every_error_and_keep_the_channels(web: Web) -> None:
    url = f"{web.url}/preferences/{web.token('ada@example.org', 'preferences')}"
    form = httpx.get(url).text
    assert 'type="time"' in form and '<datalist id="zones">' in form
    assert '<option value="Europe/Berlin">' in form
    assert 'name="authors"' in form and 'name="liked"' in form
    assert f"/feed/{web.token('ada@example.org', 'feed')}" in form
    refused = httpx.post(
        url,
        data={
            "interests": "x^0",
            "max_items": "500",
            "send_at": "25:99",
            "timezone": "Mars/Olympus",
            "frequency": "weekly",
            "weekday": "sun",
            "weekdays_only": "on",
        },
    )
    assert refused.status_code == 400
    page = html.unescape(refused.text)
    for needle in ("weight after ^", "between 1 and 100", "25:99", "Mars/Olympus", "weekly"):
        assert needle in page, needle
    saved = httpx.post(
        url,
        data={"interests": "graphs", "frequency": "weekly", "weekday": "wed", "delivery": "feed"},
    )
    assert saved.status_code == 200 and "Saved" in saved.text
    with Store.open(web.settings.database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert (row.profile["frequency"], row.profile["weekday"], row.profile["delivery"]) == (
        "weekly",
        "wed",
        "feed",
    )
    assert 'value="wed" selected' in saved.text and 'value="feed" checked' in saved.text


def test_hostile_text_in_a_form_comes_back_escaped(web: Web) -> None:
    url = f"{web.url}/preferences/{web.token('ada@example.org', 'preferences')}"
    page = httpx.post(url, data={"interests": "<script>alert(1)</script>", "max_items": "2"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


@pytest.mark.integration
def test_serve_binds_loopback_by_default(database: Path | str, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    settings = write_settings(tmp_path, database=database)
    env = {"DIGEST_SECRET_KEY": "serve-test-secret-0123456789", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--settings", str(settings), "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match is not None, line
        deadline = time.monotonic() + 10
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{match.group(1)}/healthz")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health.text == "ok\n"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_serve_without_a_secret_key_is_one_line(database: Path | str, tmp_path: Path) -> None:
    from .conftest import assert_clean_error, run

    result = run(
        "--settings",
        write_settings(tmp_path, database=database),
        "serve",
        cwd=tmp_path,
        env={"DIGEST_SECRET_KEY": ""},
    )
    assert_clean_error(result, 2, "DIGEST_SECRET_KEY")


def test_preview_listing_pages_and_finds_addresses(web: Web) -> None:
    from digest.profile import ProfileInput, validated_row

    with Store.open(web.settings.database) as store:
        store.readers.upsert_subscribers(
            [validated_row(ProfileInput(f"reader{n}@example.org")) for n in range(250)], FIXED_NOW
        )
    first = httpx.get(f"{web.url}/preview", headers=OP).text
    assert "252 subscriber(s)" in first and "Page 1 of 3" in first
    assert first.count('<a href="/preview/') == 100
    last = httpx.get(f"{web.url}/preview", params={"page": "3"}, headers=OP).text
    assert last.count('<a href="/preview/') == 52
    every = [
        *re.findall(r'<a href="/preview/([^"]+)"', first),
        *re.findall(
            r'<a href="/preview/([^"]+)"', httpx.get(f"{web.url}/preview?page=2", headers=OP).text
        ),
        *re.findall(r'<a href="/preview/([^"]+)"', last),
    ]
    assert len(every) == len(set(every)) == 252  # settings readers first, nobody twice
    assert every[:2] == ["ada%40example.org", "grace%40example.org"]
    beyond = httpx.get(f"{web.url}/preview", params={"page": "99"}, headers=OP).text
    assert "Page 3 of 3" in beyond and beyond.count('<a href="/preview/') == 52
    found = httpx.get(f"{web.url}/preview", params={"q": "READER17"}, headers=OP).text
    assert found.count('<a href="/preview/') == 11  # reader17 and reader170-179
    for bad in ("x", "0", "-1", "9" * 30, "1e9", "99999999"):
        assert httpx.get(f"{web.url}/preview", params={"page": bad}, headers=OP).status_code == 400


def test_resubscribe_undoes_an_unsubscribe_but_never_a_bounce(web: Web) -> None:
    token = web.token("grace@example.org", "unsubscribe")
    done = httpx.post(f"{web.url}/unsubscribe/{token}")
    assert f'action="/resubscribe/{token}"' in done.text
    back = httpx.post(f"{web.url}/resubscribe/{token}")
    assert back.status_code == 200 and "gets trending-paper digests again" in back.text
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressed("grace@example.org") is None
        store.ledger.record_progress(
            "2026-11-22", FIXED_NOW, failed=[("ada@example.org", "550 no such user", True)]
        )
    bounced = httpx.post(f"{web.url}/resubscribe/{web.token('ada@example.org', 'unsubscribe')}")
    assert bounced.status_code == 409 and "550 no such user" in bounced.text
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressed("ada@example.org") == "550 no such user"
    assert httpx.get(f"{web.url}/resubscribe/{token}").status_code == 405  # a GET changes nothing
    forged = httpx.post(f"{web.url}/resubscribe/{web.token('ada@example.org', 'view')}")
    assert forged.status_code == 403


def test_preferences_link_to_the_archive_and_unsubscribe(web: Web) -> None:
    page = httpx.get(f"{web.url}/preferences/{web.token('ada@example.org', 'preferences')}").text
    assert f'href="/archive/{web.token("ada@example.org", "view")}"' in page
    assert f'href="/unsubscribe/{web.token("ada@example.org", "unsubscribe")}"' in page


def test_preview_needs_the_operator_credential(
    database: Path | str, tmp_path: Path, secret_env: str
) -> None:
    settings = load_settings(
        write_settings(tmp_path, database=database)
    )  # no DIGEST_ADMIN_TOKEN: preview off
    url, server = start(settings)
    try:
        assert httpx.get(f"{url}/preview", headers=OP).status_code == 404
        assert httpx.get(f"{url}/preview/ada@example.org/email.html").status_code == 404
    finally:
        server.stop()


def test_preview_refuses_strangers_and_accepts_bearer_or_basic(web: Web) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "x"}):
        refused = httpx.get(f"{web.url}/preview", headers=headers)
        assert refused.status_code == 401 and "ada@example.org" not in refused.text
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{web.url}/preview/ada@example.org/email.html").status_code == 401
    assert httpx.get(f"{web.url}/preview", auth=("anyone", ADMIN)).status_code == 200
    assert httpx.get(f"{web.url}/preview", auth=("anyone", "nope")).status_code == 401


def test_preview_links_work_for_nobody(web: Web) -> None:
    html = httpx.get(f"{web.url}/preview/ada@example.org/email.html", headers=OP).text
    links = re.findall(
        r"https://digest\.test(/(?:unsubscribe|preferences|archive|feedback)/[^\"'\s<>]+)", html
    )
    assert {link.split("/")[1] for link in links} == {
        "unsubscribe",
        "preferences",
        "archive",
        "feedback",
    }
    for link in links:
        for method in ("GET", "POST"):
            answer = httpx.request(method, web.url + link)
            assert answer.status_code in (403, 405), (method, link)
            if answer.status_code == 403:
                assert "comes from a preview" in answer.text, link
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressions() == {} and store.readers.subscriber_rows() == []


def test_preview_is_ranked_once_per_edition(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    import digest.editions.pages
    from digest.editions import preview as real

    calls: list[str] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("rank")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(digest.editions.pages, "preview", counting)
    for _ in range(3):
        assert httpx.get(f"{web.url}/preview/ada@example.org", headers=OP).status_code == 200
        assert httpx.get(f"{web.url}/preview/ada@example.org/email.html", headers=OP).is_success
    assert calls == ["rank"]
    dump = web.folder / "new.json"
    dump.write_text('[{"paper": {"id": "2511.99999", "title": "Graph neural nets anew"}}]')
    with Store.open(web.settings.database) as store:  # a new dump: the next digest may change
        ingest_paths(store, [dump], fixed_clock())
    httpx.get(f"{web.url}/preview/ada@example.org", headers=OP)
    assert len(calls) == 2


def _long_write(database: Path | str) -> Any:
    """Another process's long write (an ingest) holding the store's write lock: a connection
    of its own, in a transaction; `.execute("COMMIT")` ends it."""
    if isinstance(database, Path):
        import sqlite3

        writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        writer.execute("BEGIN IMMEDIATE")
        return writer
    import psycopg

    connection = psycopg.connect(database, autocommit=True)
    connection.execute("BEGIN")
    connection.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':write'))")
    return connection


def test_reader_pages_answer_while_another_process_writes(web: Web) -> None:
    impatient = load_settings(
        write_settings(web.folder, extra="[web]\nbusy_timeout = 0.2\n"),
        database=web.settings.database,
    )
    quick_url, quick = start(impatient)
    writer = _long_write(web.settings.database)
    token = web.token("grace@example.org", "unsubscribe")
    try:
        assert httpx.get(f"{web.url}/healthz", timeout=60).text == "ok\n"
        prefs = httpx.get(f"{web.url}/preferences/{web.token('ada@example.org', 'preferences')}")
        assert prefs.status_code == 200
        # A write that cannot get the lock within [web] busy_timeout: 503, nothing internal.
        busy = httpx.post(f"{quick_url}/unsubscribe/{token}", timeout=120)
        assert busy.status_code == 503 and busy.headers["retry-after"].isdigit()
        assert "sqlite" not in busy.text and str(web.folder) not in busy.text
        # The writer finishes while the next unsubscribe waits for it (up to 10 s by default):
        # that one succeeds.
        threading.Timer(0.2, lambda: writer.execute("COMMIT")).start()
        done = httpx.post(f"{web.url}/unsubscribe/{token}", timeout=120)
        assert done.status_code == 200, done.text
    finally:
        quick.stop()
        with contextlib.suppress(Exception):  # committed already, in the usual case
            writer.execute("COMMIT")
        writer.close()
    with Store.open(web.settings.database) as store:
        assert store.readers.suppressed("grace@example.org") is not None


def test_slow_clients_do_not_starve_the_server(
    database: Path | str, tmp_path: Path, secret_env: str
) -> None:
    import socket

    extra = "[web]\nconnection_limit = 20\nchannel_timeout = 1\n"
    settings = load_settings(write_settings(tmp_path, database=database, extra=extra))
    url, server = start(settings)
    port = int(url.rsplit(":", 1)[1])
    idle = []
    try:
        for _ in range(60):  # more half-open connections than the limit
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(sock)
        # Idle connections are closed after channel_timeout, so a real client gets in (the
        # old defaults, 100 connections and 120 s, would keep this waiting past the timeout).
        answer = httpx.get(f"{url}/healthz", timeout=60)
        assert answer.text == "ok\n"
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_stopping_after_the_loop_has_closed_its_sockets(
    database: Path | str, tmp_path: Path, secret_env: str
) -> None:
    # CI once failed with EBADF: the loop saw the stop flag between stop() setting it and
    # pulling the trigger, closed the trigger, and the pull wrote to a closed descriptor.
    settings = load_settings(write_settings(tmp_path, database=database))
    url, server = start(settings)
    assert httpx.get(f"{url}/healthz").text == "ok\n"
    server._stop.set()  # the flag alone: the loop notices it within one poll timeout
    assert server._thread is not None
    server._thread.join()
    server.stop()  # must not write to the closed trigger


def test_rotated_keys_keep_old_links_working(
    database: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = "old-secret-key-0123456789", "new-secret-key-9876543210"
    monkeypatch.setenv("DIGEST_SECRET_KEY", f"{new} {old}")
    settings = load_settings(write_settings(tmp_path, database=database))
    url, server = start(settings)
    try:
        for key in (old, new):  # a link mailed before the rotation, and one after
            token = make_token(key, "ada@example.org", "preferences")
            assert httpx.get(f"{url}/preferences/{token}").status_code == 200
        stranger = make_token("other-secret-key-000000000", "ada@example.org", "preferences")
        assert httpx.get(f"{url}/preferences/{stranger}").status_code == 403
    finally:
        server.stop()
    from digest.editions import links_for

    signed = links_for(settings, f"{new} {old}", "2026-11-22", "ada@example.org").preferences
    assert signed.endswith(make_token(new, "ada@example.org", "preferences"))  # the first signs
