"""Replayable history (issue 32, item 5): `digest ingest --as-of DATE|filename` stores dumps as
first seen on their day, so `digest send --date DAY` replays a real week without faking the
clock, and an edition's "N new papers" counts only the papers new that day."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from pathlib import Path

from digest.clock import utc_now
from digest.deliver import MemoryTransport
from digest.editions import Editions, send_edition
from digest.editions.replay import name_date
from digest.settings import load_settings
from digest.store import Store

from .conftest import CORPORA, EXAMPLES, assert_clean_error, run, shared_or_skip, write_settings

READER = """
[[subscribers]]
email = "reader@example.org"
interests = ["robot", "language model", "diffusion", "graph"]
max_items = 8
"""
ARXIV_WEEK = ("2025-03-24", "2025-03-25", "2025-03-26", "2025-03-27", "2025-03-28")


def _subject(outbox: MemoryTransport) -> str:
    [(_, _, data)] = outbox.outbox
    return str(email.message_from_bytes(data, policy=email.policy.default)["Subject"])


def test_dates_come_from_dump_names_only_when_they_are_dates() -> None:
    assert name_date("dumps/2025-07-25.jsonl") == dt.date(2025, 7, 25)
    assert name_date("2025-07-25-listing.txt") == dt.date(2025, 7, 25)
    assert name_date("2025-13-25.jsonl") is None
    assert name_date("listing-2025-07-25.txt") is None
    assert name_date("2025-07-251.txt") is None


def test_a_real_arxiv_week_replays_with_as_of(tmp_path: Path, secret_env: str) -> None:
    corpus = shared_or_skip(CORPORA / "arxiv-daily")
    week = tmp_path / "week"
    week.mkdir()
    for day in ARXIV_WEEK:
        (week / f"{day}.jsonl").write_bytes((corpus / f"{day}.jsonl").read_bytes())
    settings = load_settings(
        write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers=READER)
    )
    Editions(settings).ingest([str(week)], as_of="filename")
    with Store.open(settings.database) as store:
        since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        seen = {p.first_seen.date() for p in store.catalog.recent_papers(since)}
        assert seen == {dt.date.fromisoformat(day) for day in ARXIV_WEEK}
        subjects = []
        for day in ARXIV_WEEK:
            outbox = MemoryTransport()
            day_ = dt.date.fromisoformat(day)
            report = send_edition(store, settings, outbox, utc_now, date=day_)
            assert report.sent == ("reader@example.org",), day
            subjects.append(_subject(outbox))
    # The first edition is all that day's papers; later ones may add earlier days' unsent
    # papers, and then say how many are new.
    assert subjects[0].startswith("8 new papers · Mon 24 Mar"), subjects
    assert all(re.match(r"8 (new papers|papers, [1-7] new) · ", s) for s in subjects), subjects


def test_a_capped_first_week_does_not_call_older_papers_new(
    tmp_path: Path, secret_env: str
) -> None:
    settings = load_settings(
        write_settings(
            tmp_path,
            database=tmp_path / "digest.sqlite",
            subscribers=READER.replace("max_items = 8", "max_items = 3"),
        )
    )
    dumps = EXAMPLES / "dumps"
    # Three days at once, then the last day's edition twice over (first and second edition).
    Editions(settings).ingest([str(dumps)], as_of="filename")
    with Store.open(settings.database) as store:
        first, second = MemoryTransport(), MemoryTransport()
        send_edition(store, settings, first, utc_now, date=dt.date(2026, 11, 21))
        send_edition(store, settings, second, utc_now, date=dt.date(2026, 11, 22))
    # 2026-11-21's edition holds papers first seen on the 20th too: not all of them are new.
    assert not _subject(first).startswith("3 new papers"), _subject(first)
    assert _subject(first).startswith("3 papers")


def test_the_cli_replays_the_examples(tmp_path: Path, secret_env: str) -> None:
    settings = write_settings(tmp_path, subscribers=READER)
    ingested = run(
        "--settings",
        settings,
        "ingest",
        "--as-of",
        "filename",
        "--json",
        EXAMPLES / "dumps",
        cwd=tmp_path,
    )
    assert ingested.returncode == 0, ingested.stderr
    sent = run(
        "--settings",
        settings,
        "send",
        "--transport",
        "file",
        "--date",
        "2026-11-20",
        cwd=tmp_path,
    )
    assert sent.returncode == 0, sent.stderr
    assert "sent 1," in sent.stdout and "nothing new for 0" in sent.stdout, sent.stdout
    # One date for every dump given.
    (tmp_path / "one").mkdir()
    one = write_settings(tmp_path / "one", subscribers=READER)
    dump = EXAMPLES / "dumps" / "2026-11-22-listing.txt"
    assert (
        run(
            "--settings", one, "ingest", "--as-of", "2026-11-22", dump, cwd=tmp_path / "one"
        ).returncode
        == 0
    )


def test_bad_as_of_values_are_one_line(tmp_path: Path, secret_env: str) -> None:
    settings = write_settings(tmp_path, subscribers=READER)
    dump = EXAMPLES / "dumps" / "2026-11-22-listing.txt"
    bad = run("--settings", settings, "ingest", "--as-of", "yesterday", dump, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--as-of" in bad.stderr
    assert_clean_error(
        run("--settings", settings, "ingest", "--as-of", "2999-01-01", dump, cwd=tmp_path),
        3,
        "has not begun",
    )
    plain = tmp_path / "listing.txt"
    plain.write_bytes(dump.read_bytes())
    assert_clean_error(
        run("--settings", settings, "ingest", "--as-of", "filename", plain, cwd=tmp_path),
        3,
        "starts with its date",
    )
