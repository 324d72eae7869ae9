"""`digest send --date` and `digest preview --date`: the edition of an earlier day (a
backfill, a day replayed), ranked from the papers first seen by that day's end, recorded in
the ledger under that day's id, sent once like any other."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest

from digest.deliver import FileTransport, MemoryTransport
from digest.diff import ingest_paths
from digest.editions import preview, send_edition
from digest.errors import DigestError
from digest.models import Subscriber
from digest.settings import Settings, load_settings
from digest.store import Store

from .conftest import EXAMPLES, assert_clean_error, run, write_settings

READER = """
[[subscribers]]
email = "reader@example.org"
interests = []
max_items = 50
"""
DAY1 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
LATER = DAY1 + dt.timedelta(days=2, hours=3)


def _store(tmp_path: Path) -> tuple[Settings, set[str], set[str]]:
    """Two days ingested at their dates; the titles each brought."""
    settings = load_settings(
        write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers=READER)
    )
    dumps = EXAMPLES / "dumps"
    with Store.open(settings.database) as store:
        [first] = ingest_paths(store, [dumps / "2026-11-20-listing.txt"], lambda: DAY1)
        [second] = ingest_paths(store, [dumps / "2026-11-21-listing.txt"], lambda: DAY2)
    return settings, {p.title for p in first.new}, {p.title for p in second.new}


def _titles(outbox: MemoryTransport, titles: set[str]) -> set[str]:
    [(_, _, data)] = outbox.outbox
    message = email.message_from_bytes(data, policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text = " ".join(str(body.get_content()).split())
    return {t for t in titles if " ".join(t.split()) in text}


def test_an_earlier_day_is_sent_from_the_papers_seen_by_its_end(
    tmp_path: Path, secret_env: str
) -> None:
    settings, first, second = _store(tmp_path)
    assert first and second
    with Store.open(settings.database) as store:
        mailed = MemoryTransport()
        report = send_edition(store, settings, mailed, lambda: LATER, date=DAY1.date())
        assert report.edition_id == "2026-11-20" and report.sent == ("reader@example.org",)
        shown = _titles(mailed, first | second)
        assert shown and shown <= first  # nothing first seen on the next day
        # The ledger as usual: the same day again sends nothing.
        again = send_edition(store, settings, MemoryTransport(), lambda: LATER, date=DAY1.date())
        assert again.sent == () and again.already_sent == ("reader@example.org",)
        # The next day's edition holds that day's papers.
        following = MemoryTransport()
        send_edition(store, settings, following, lambda: LATER, date=DAY2.date())
        assert _titles(following, first | second) <= second
        assert [row.edition_id for row in store.ledger.deliveries("2026-11-21")] == ["2026-11-21"]


def test_a_day_that_has_not_begun_has_no_edition(tmp_path: Path, secret_env: str) -> None:
    settings, _, _ = _store(tmp_path)
    person = Subscriber("reader@example.org")
    with Store.open(settings.database) as store:
        with pytest.raises(DigestError, match="no edition of 2026-11-22 yet"):
            send_edition(
                store, settings, FileTransport(tmp_path / "a"), lambda: DAY2, date=LATER.date()
            )
        with pytest.raises(DigestError, match="no edition of 2026-11-22 yet"):
            preview(store, settings, person, lambda: DAY2, date=LATER.date())
        assert store.ledger.deliveries("2026-11-22") == []
        earlier = preview(store, settings, person, lambda: LATER, date=DAY1.date())
        assert "Fri 20 Nov" in earlier.subject


def test_the_cli_takes_a_date_and_refuses_a_bad_one(tmp_path: Path, secret_env: str) -> None:
    settings = write_settings(tmp_path, subscribers=READER)
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    sent = run(
        "--settings", settings, "send", "--transport", "file", "--date", "2020-01-02", cwd=tmp_path
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("edition 2020-01-02:")
    assert_clean_error(
        run("--settings", settings, "send", "--date", "2999-01-01", cwd=tmp_path),
        1,
        "no edition of 2999-01-01 yet",
    )
    bad = run("--settings", settings, "preview", "--date", "2026-13-01", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--date" in bad.stderr
    shown = run("--settings", settings, "preview", "--date", "2020-01-02", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "preview.html").is_file()
