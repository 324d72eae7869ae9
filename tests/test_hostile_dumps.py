"""Hostile dumps: every one is that dump's one-line error (exit 3), a batch with a bad dump
stores nothing, links other than http(s) never leave a dump, and nothing from a dump reaches a
terminal as an escape sequence."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from digest.errors import DumpError
from digest.sources import MAX_DUMP_BYTES, load_snapshot, parse_snapshot

from .conftest import EXAMPLES, FIXED_NOW, assert_clean_error, run, write_settings

GOOD = EXAMPLES / "dumps" / "2026-11-20-listing.txt"
OTHER_GOOD = EXAMPLES / "dumps" / "2026-11-21-listing.txt"


def _hf(**paper: object) -> bytes:
    item = {"paper": {"id": "2501.00001", "title": "A paper", "summary": "Text.", **paper}}
    return json.dumps([item]).encode()


HOSTILE = {
    "huge-upvotes.json": (_hf(upvotes=10**30), "upvotes"),
    "long-integer.json": (
        b'[{"paper": {"id": "2501.00001", "title": "T", "upvotes": ' + b"9" * 5000 + b"}}]",
        "invalid JSON",
    ),
    "authors-number.json": (_hf(authors=5), "'authors' is int"),
    "nested.jsonl": (
        b'{"id": "2501.00001", "title": "T"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "line 2",
    ),
    "negative-upvotes.json": (_hf(upvotes=-5), "upvotes -5 is out of range"),
    "page-authors.txt": (
        b"Get trending papers in your email inbox!\n\nTitle one\n\nAbstract.\n\n\xe2\x80\xa2 "
        + b"9" * 5000
        + b" authors\n",
        "line",
    ),
    "late-nul.txt": (GOOD.read_bytes() + b"\n" * 9000 + b"\x00tail\n", "NUL byte"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_dump_is_one_line_error_and_its_batch_stores_nothing(
    database: Path | str, tmp_path: Path, name: str
) -> None:
    write_settings(tmp_path, database=database)
    data, needle = HOSTILE[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    result = run("ingest", GOOD, bad, OTHER_GOOD, cwd=tmp_path)
    assert_clean_error(result, 3, needle)
    assert name in result.stderr
    assert not (tmp_path / "digest.sqlite").exists()


def test_a_batch_that_fails_while_storing_stores_none_of_it(tmp_path: Path) -> None:
    from digest.store import Store

    first = parse_snapshot(GOOD.read_bytes(), "good1")
    second = parse_snapshot(OTHER_GOOD.read_bytes(), "good2")
    with Store.open(tmp_path / "d.sqlite") as store:
        # A paper whose upvotes cannot be stored makes the whole batch fail, not just its dump.
        broken = dataclasses.replace(second.papers[0], upvotes=10**30)
        bad = dataclasses.replace(second, papers=(broken,))
        with pytest.raises(OverflowError):
            store.catalog.ingest_many([first, bad], FIXED_NOW)
        assert store.counts()["snapshots"] == 0 and store.counts()["papers"] == 0


def test_only_http_links_leave_a_dump() -> None:
    links = {
        "javascript:alert(1)": None,
        "JAVASCRIPT:alert(1)": None,
        " data:text/html,<script>alert(1)</script>": None,
        "vbscript:msgbox(1)": None,
        "//evil.example/x": None,
        "https://github.com/a/b": "https://github.com/a/b",
    }
    for link, kept in links.items():
        snapshot = parse_snapshot(_hf(githubRepo=link, projectPage=link), "hf.json")
        assert snapshot.papers[0].code_url == kept, link
        assert snapshot.papers[0].project_url == kept, link
        assert snapshot.papers[0].title == "A paper"
        item = json.loads(_hf())
        item[0]["thumbnail"] = link  # an image source is a link too
        [paper] = parse_snapshot(json.dumps(item).encode(), "hf.json").papers
        assert paper.thumbnail_url == kept, link
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        "<title>Kept paper</title><link>javascript:alert(1)</link>"
        "<description>Abstract.</description></item></channel></rss>"
    )
    [paper] = parse_snapshot(feed.encode(), "feed.rss").papers
    assert paper.title == "Kept paper" and paper.url is None and paper.pdf_url is None


def test_size_is_checked_before_reading_everything(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="not a regular file"):
        load_snapshot(Path("/dev/zero"))  # never read at all
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:  # sparse: no real disk used
        handle.truncate(3 * MAX_DUMP_BYTES)
    with pytest.raises(DumpError, match="byte limit"):
        load_snapshot(big)


def test_control_characters_never_reach_the_store_or_the_terminal(tmp_path: Path) -> None:
    write_settings(tmp_path)
    dump = tmp_path / "escapes.json"
    title = "Evil \x1b[2J\x1b]0;pwned\x07 title \u202etxt.exe"
    dump.write_bytes(_hf(title=title, authors=[{"name": "Ma\x1b[31mllory"}]))
    assert run("ingest", dump, cwd=tmp_path).returncode == 0
    changes = run("changes", cwd=tmp_path)
    assert changes.returncode == 0, changes.stderr
    assert "\x1b" not in changes.stdout and "\x07" not in changes.stdout
    assert "\u202e" not in changes.stdout
    assert "Evil" in changes.stdout
    with sqlite3.connect(tmp_path / "digest.sqlite") as db:
        stored = db.execute("SELECT title, authors FROM papers").fetchone()
    assert "\x1b" not in stored[0] + stored[1]


def test_a_stored_script_link_never_reaches_the_email() -> None:
    """A store filled before ingest checked links may hold one: the email drops it too."""
    import datetime as dt

    from digest.models import Edition, Paper, Pick, Subscriber
    from digest.render import Links, Renderer

    paper = Paper(
        key="title:x",
        title="Paper with bad links",
        abstract="Abstract.",
        url="javascript:alert(1)",
        pdf_url="data:text/html,x",
        code_url="vbscript:x",
    )
    day = dt.date(2026, 11, 22)
    edition = Edition(day.isoformat(), day, Subscriber("ada@example.org"), (Pick(paper, 1.0),))
    links = Links(
        "https://d.test/a",
        "https://d.test/p",
        "https://d.test/u",
        "https://d.test/l",
        "https://d.test/f",
    )
    email = Renderer().render(edition, links)
    for scheme in ("javascript:", "data:text", "vbscript:"):
        assert scheme not in email.html and scheme not in email.text
    assert "https://arxiv.org/search/" in email.html


def test_subscriber_names_cannot_drive_the_terminal(database: Path | str, tmp_path: Path) -> None:
    write_settings(tmp_path, database=database)
    added = run(
        "subscribers", "add", "eve@example.org", "--name", "Eve\x1b[2J\x1b[31m", cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    listed = run("subscribers", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "eve@example.org" in listed.stdout
    assert "\x1b" not in listed.stdout + listed.stderr


def test_the_daemon_refuses_a_hostile_file_once_and_ingests_the_next(
    database: Path | str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import shutil

    from digest.schedule import Context, run_ingest

    watched = tmp_path / "incoming"
    watched.mkdir()
    (watched / "a-hostile.json").write_bytes(_hf(upvotes=10**30))
    shutil.copy(GOOD, watched / "b-good.txt")
    settings = write_settings(
        tmp_path, database=database, extra='[schedule]\nwatch = ["incoming"]\n'
    )
    caplog.set_level(logging.INFO, logger="digest.daemon")
    context = Context()
    run_ingest(str(settings), context)
    assert "a-hostile.json" in caplog.text and "out of range" in caplog.text
    assert "b-good.txt: 5 new" in caplog.text
    caplog.clear()
    run_ingest(str(settings), context)
    assert caplog.text == ""  # the refused file is remembered: one log line, not every poll
