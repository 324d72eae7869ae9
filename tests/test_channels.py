"""Frequency and channels: weekly readers, feed-only readers, the private Atom feed (read back
with feedparser over real HTTP), the archive list and `digest subscribers links`."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import json
import re
from pathlib import Path

import feedparser
import httpx
import pytest

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.settings import load_settings
from digest.store import Store
from digest.tokens import make_token

from .conftest import EXAMPLES, SmtpServer, assert_clean_error, fixed_clock, run, write_settings
from .test_web import start

READERS = """
[[subscribers]]
email = "ada@example.org"
interests = ["graph neural networks", "language models", "attention"]

[[subscribers]]
email = "feed@example.org"
interests = ["language models", "attention", "quantization"]
delivery = "feed"

[[subscribers]]
email = "weekly@example.org"
interests = ["language models", "attention"]
frequency = "weekly"
weekday = "mon"
"""
SUNDAY = dt.datetime(2026, 11, 22, 6, 30, tzinfo=dt.UTC)
MONDAY = SUNDAY + dt.timedelta(days=1)


def _send(settings_path: Path, moment: dt.datetime) -> object:
    settings = load_settings(settings_path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock(SUNDAY))
        return send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock(moment))


def test_feed_only_and_weekly_readers(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port, subscribers=READERS)
    sunday = _send(path, SUNDAY)
    # Only the daily email reader is mailed; the feed-only reader's edition is published;
    # the weekly reader waits for Monday.
    assert [m.rcpt_tos for m in smtp_server.handler.messages] == [["ada@example.org"]]
    assert sunday.sent == ("ada@example.org",)  # type: ignore[attr-defined]
    assert sunday.published == ("feed@example.org",)  # type: ignore[attr-defined]
    assert sunday.not_due == ("weekly@example.org",)  # type: ignore[attr-defined]
    monday = _send(path, MONDAY)
    mailed = [m.rcpt_tos[0] for m in smtp_server.handler.messages]
    assert mailed.count("weekly@example.org") == 1
    assert "feed@example.org" not in mailed
    assert monday.not_due == ()  # type: ignore[attr-defined]
    # The weekly edition holds the week's unsent papers: the store's, first seen on Sunday.
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        [row] = store.ledger.sent_editions("weekly@example.org")
        assert row.edition_id == "2026-11-23" and row.picks


def test_the_private_feed_reads_back_as_atom(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port, subscribers=READERS)
    _send(path, SUNDAY)
    settings = load_settings(path)
    url, server = start(settings)
    try:
        token = make_token(secret_env, "feed@example.org", "feed")
        answer = httpx.get(f"{url}/feed/{token}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/atom+xml")
        parsed = feedparser.parse(answer.content)
        assert not parsed.bozo, parsed.bozo_exception
        assert parsed.feed.title == "Trending papers for feed@example.org"
        [entry] = parsed.entries
        assert re.match(r"\d+ papers? · Sun 22 Nov 2026: ", entry.title)
        assert entry.link.startswith("https://digest.test/archive/2026-11-22/")
        assert "Why: matches:" in entry.content[0].value
        # A view or unsubscribe token is not a feed token; a forged one is refused.
        view = make_token(secret_env, "feed@example.org", "view")
        assert httpx.get(f"{url}/feed/{view}").status_code == 403
        assert httpx.get(f"{url}/feed/{token[:-2]}xx").status_code == 403
        # The archive lists the edition with its count and lead title, and links the feed.
        listing = html.unescape(httpx.get(f"{url}/archive/{view}").text)
        assert "Sunday 22 November 2026" in listing and "in your feed" in listing
        assert entry.title.split(": ", 1)[1] in listing
        assert f"/feed/{token}" in listing
        # The archived edition links back to the list instead of to itself.
        edition = httpx.get(f"{url}/archive/2026-11-22/{view}").text
        assert "All past digests" in edition and "View in browser" not in edition
    finally:
        server.stop()


def test_email_footer_links_the_feed(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port, subscribers=READERS)
    _send(path, SUNDAY)
    [received] = smtp_server.handler.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    text = message.get_body(("plain",))
    assert text is not None
    token = make_token(secret_env, "ada@example.org", "feed")
    assert f"Atom feed: https://digest.test/feed/{token}" in text.get_content()


def test_subscribers_links_prints_every_reader_url(database: Path | str, tmp_path: Path) -> None:
    write_settings(tmp_path, database=database, subscribers=READERS)
    result = run("subscribers", "links", "ada@example.org", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    links = json.loads(result.stdout)
    assert list(links) == ["preferences", "welcome", "archive", "feed", "unsubscribe"]
    secret = "cli-test-secret-key-123456"  # what tests.conftest.run puts in the environment
    # Issue 32: the welcome page too (topics, papers to rate, a library).
    welcome = make_token(secret, "ada@example.org", "preferences")
    assert links["welcome"] == f"https://digest.test/welcome/{welcome}"
    assert (
        links["feed"] == f"https://digest.test/feed/{make_token(secret, 'ada@example.org', 'feed')}"
    )
    plain = run("subscribers", "links", "ada@example.org", cwd=tmp_path)
    assert plain.stdout.splitlines()[0] == f"preferences: {links['preferences']}"
    assert_clean_error(
        run("subscribers", "links", "ada@exmple.org", cwd=tmp_path),
        2,
        "did you mean ada@example.org",
    )


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ('frequency = "hourly"', "frequency"),
        ('delivery = "pigeon"', "delivery"),
        ('frequency = "weekly"\nweekday = "someday"', "weekday"),
    ],
)
def test_bad_channel_settings_are_clear_errors(
    database: Path | str, tmp_path: Path, row: str, needle: str
) -> None:
    write_settings(
        tmp_path,
        database=database,
        subscribers=f'[[subscribers]]\nemail = "a@example.org"\n{row}\n',
    )
    result = run("subscribers", "list", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert needle in result.stderr
