"""Quiet days: a reader whose day holds nothing on their interests is told so ("Nothing matched
your interests today", in both parts), with the day's most upvoted papers marked as not matched
to them (`quiet = "trending"`), with the note alone (`"note"`), or not mailed (`"skip"`). A day
with no new listing (a weekend) mails nobody and is no quiet day. Through the real send path,
a real SQLite store and the file transport."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from digest.deliver import FileTransport
from digest.diff import ingest_paths
from digest.editions import archived, past_editions, renderer_for, send_edition
from digest.feed import atom_feed
from digest.models import QUIET_SENTENCE, Basis, DeliveryState
from digest.settings import Settings, load_settings
from digest.store import Store

from .conftest import EXAMPLES, write_settings

READERS = """
[[subscribers]]
email = "matched@example.org"
interests = ["graph neural networks"]

[[subscribers]]
email = "trending@example.org"
interests = ["protein folding"]

[[subscribers]]
email = "note@example.org"
interests = ["protein folding"]
quiet = "note"

[[subscribers]]
email = "skip@example.org"
interests = ["protein folding"]
quiet = "skip"
"""
DAY = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers=READERS)
    )


def _send(settings: Settings, moment: dt.datetime, outbox: Path) -> dict[str, EmailMessage]:
    with Store.open(settings.database) as store:
        send_edition(store, settings, FileTransport(outbox), lambda: moment)
    found = {}
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found[path.stem] = message
    return found


def _text(message: EmailMessage, part: str) -> str:
    body = message.get_body((part,))
    assert body is not None
    return str(body.get_content())


def test_a_quiet_day_says_so_and_a_day_without_listings_mails_nobody(
    tmp_path: Path, secret_env: str
) -> None:
    settings = _settings(tmp_path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps" / "2026-11-20-listing.txt"], lambda: DAY)
    mail = _send(settings, DAY + dt.timedelta(hours=3), tmp_path / "day1")
    assert sorted(mail) == ["matched@example.org", "note@example.org", "trending@example.org"]
    assert QUIET_SENTENCE not in _text(mail["matched@example.org"], "plain")
    trending, note = mail["trending@example.org"], mail["note@example.org"]
    for message in (trending, note):
        assert str(message["Subject"]).startswith(QUIET_SENTENCE)
        for part in ("plain", "html"):
            assert QUIET_SENTENCE in _text(message, part)
    text = _text(trending, "plain")
    assert "MOST UPVOTED TODAY, NOT MATCHED TO YOUR INTERESTS" in text
    assert "TOP PICK FOR YOU" not in text and "matches:" not in text
    assert text.count("Why: not matched to your interests") == 3
    assert "Why:" not in _text(note, "plain")
    with Store.open(settings.database) as store:
        [row] = [
            r for r in store.ledger.deliveries("2026-11-20") if r.email == "trending@example.org"
        ]
        assert [p.basis for p in row.picks] == [Basis.UNMATCHED] * 3
        states = {r.email: r.state for r in store.ledger.deliveries("2026-11-20")}
        assert states["skip@example.org"] == DeliveryState.EMPTY
        # The archive shows the quiet edition as it was mailed.
        page = archived(
            store, settings, "2026-11-20", "trending@example.org", renderer_for(settings)
        )
        assert page is not None and QUIET_SENTENCE in page.html
        # So does the reader's feed.
        editions = past_editions(store, settings, "trending@example.org")
        feed = atom_feed(
            [(edition, "https://d.test/a") for edition, _ in editions],
            email="trending@example.org",
            self_url="https://d.test/f",
            home_url="https://d.test/a",
        ).decode()
        assert f"<title>{QUIET_SENTENCE} · Fri 20 Nov 2026</title>" in feed
    # The next day brings no listing (a weekend): nobody is mailed, not even a quiet note.
    assert _send(settings, DAY + dt.timedelta(days=1, hours=3), tmp_path / "day2") == {}
    # A new listing: quiet again, with papers the reader was not sent before.
    with Store.open(settings.database) as store:
        later = DAY + dt.timedelta(days=2)
        ingest_paths(store, [EXAMPLES / "dumps" / "2026-11-21-listing.txt"], lambda: later)
    third = _send(settings, DAY + dt.timedelta(days=2, hours=3), tmp_path / "day3")
    assert QUIET_SENTENCE in _text(third["trending@example.org"], "plain")
    with Store.open(settings.database) as store:
        picked = {
            day: {p.paper_id for p in store.ledger.delivery(day, "trending@example.org").picks}  # type: ignore[union-attr]
            for day in ("2026-11-20", "2026-11-22")
        }
    assert picked["2026-11-22"] and not picked["2026-11-20"] & picked["2026-11-22"]
