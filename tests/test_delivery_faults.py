"""Delivery against a real aiosmtpd server that misbehaves on purpose: 4xx then success,
5xx, a dropped connection, slow replies, a relay that keeps failing, and a SIGKILL mid-send."""

from __future__ import annotations

import datetime as dt
import email
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import retry_deferred, send_edition
from digest.errors import DeliveryError
from digest.models import RecordedPick
from digest.settings import Settings, load_settings
from digest.store import Store

from .conftest import (
    EXAMPLES,
    FIXED_NOW,
    FaultyHandler,
    fixed_clock,
    reader_subscribers,
    readers_ready,
    write_settings,
)

pytestmark = pytest.mark.integration

FAST_RETRIES = "max_retries = 3\nretry_delay = 0.01\nmax_consecutive_errors = 3\n"


def _setup(
    database: Path | str, folder: Path, port: int, smtp_extra: str = FAST_RETRIES
) -> tuple[Settings, Store]:
    path = write_settings(folder, database=database, port=port)
    path.write_text(path.read_text().replace("timeout = 5\n", "timeout = 2\n" + smtp_extra))
    settings = load_settings(path)
    store = Store.open(settings.database)
    ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    return settings, store


def test_a_451_is_retried_with_backoff(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.temporary_once.add("ada@example.org")
    waits: list[float] = []
    settings, store = _setup(database, tmp_path, port)
    with store:
        report = send_edition(
            store, settings, SmtpTransport(settings.smtp), fixed_clock(), sleep=waits.append
        )
    assert sorted(report.sent) == ["ada@example.org", "grace@example.org"]
    assert [to for to, _ in handler.messages].count("ada@example.org") == 1
    assert len(waits) == 1 and 0.01 <= waits[0] <= 0.02  # retry_delay plus up to as much jitter


def test_a_550_fails_and_suppresses_the_address(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.always["ada@example.org"] = "550 5.1.1 no such user"
    settings, store = _setup(database, tmp_path, port)
    with store:
        report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        assert report.failed[0][0] == "ada@example.org" and "550" in report.failed[0][1]
        assert report.sent == ("grace@example.org",)
        assert store.readers.suppressed("ada@example.org") is not None
        # The next edition does not even try the suppressed address.
        tomorrow = fixed_clock(FIXED_NOW.replace(day=23))
        later = send_edition(store, settings, SmtpTransport(settings.smtp), tomorrow)
        assert later.suppressed == ("ada@example.org",)
        assert store.ledger.delivery("2026-11-23", "ada@example.org").state == "suppressed"  # type: ignore[union-attr]
    assert "ada@example.org" not in [to for to, _ in handler.messages]


def test_a_relay_refusing_the_message_or_a_block_suppresses_nobody(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    """`554 5.7.1 content policy` at DATA suppressed every reader of a send for good, though
    the bounce policy calls 5.7.1 soft: a refusal of the message is not the reader's fault,
    and a block at RCPT (550 5.7.1) says nothing of the address either. Both fail this
    edition and are tried in the next; 550 5.1.1 at RCPT still suppresses (above)."""
    handler, port = faulty
    handler.refuse_data["ada@example.org"] = "554 5.7.1 Message rejected: content policy"
    handler.always["grace@example.org"] = "550 5.7.1 Service unavailable; client host blocked"
    settings, store = _setup(database, tmp_path, port)
    with store:
        report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        assert dict(report.failed) == {
            "ada@example.org": "554 5.7.1 Message rejected: content policy",
            "grace@example.org": "550 5.7.1 Service unavailable; client host blocked",
        }
        assert store.readers.suppressed("ada@example.org") is None
        assert store.readers.suppressed("grace@example.org") is None
        handler.refuse_data.clear()
        handler.always.clear()
        tomorrow = fixed_clock(FIXED_NOW.replace(day=23))
        later = send_edition(store, settings, SmtpTransport(settings.smtp), tomorrow)
    assert sorted(later.sent) == ["ada@example.org", "grace@example.org"]


def _ids(handler: FaultyHandler) -> dict[str, list[str]]:
    """Message-IDs received per recipient."""
    ids: dict[str, list[str]] = {}
    for to, data in handler.messages:
        ids.setdefault(to, []).append(email.message_from_bytes(data)["Message-ID"])
    return ids


LATER = fixed_clock(FIXED_NOW + dt.timedelta(minutes=10))  # past the first 5-minute backoff


def test_a_connection_dropped_after_the_data_is_deferred_then_retried_once(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.drop_after = 1  # the relay hangs up after the second message's data, unanswered
    settings, store = _setup(database, tmp_path, port)
    with store:
        report = send_edition(
            store, settings, SmtpTransport(settings.smtp), fixed_clock(), sleep=lambda _: None
        )
        [(second, why)] = report.deferred
        assert report.sent == (
            next(a for a in ("ada@example.org", "grace@example.org") if a != second),
        )
        assert "may have been delivered" in why
        row = store.ledger.delivery("2026-11-22", second)
        assert row is not None and row.state == "deferred" and row.ambiguous
        # Not resent blindly in the same run, nor by a re-run before its time.
        again = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        assert again.sent == () and [a for a, _ in again.deferred] == [second]
        assert retry_deferred(store, settings, SmtpTransport(settings.smtp), fixed_clock()) == []
        [retried] = retry_deferred(store, settings, SmtpTransport(settings.smtp), LATER)
        assert retried.sent == (second,)
        assert retry_deferred(store, settings, SmtpTransport(settings.smtp), LATER) == []
        assert store.ledger.delivery_counts("2026-11-22") == {"sent": 2}
    ids = _ids(handler)
    assert sorted(ids) == ["ada@example.org", "grace@example.org"]
    assert all(len(set(v)) == 1 for v in ids.values())  # a repeat keeps its Message-ID


def test_a_reply_that_times_out_after_the_data_is_ambiguous(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.slow_first = 6.0  # longer than the 2 s client timeout
    settings, store = _setup(database, tmp_path, port)
    with store:
        report = send_edition(
            store, settings, SmtpTransport(settings.smtp), fixed_clock(), sleep=lambda _: None
        )
        [(first, _)] = report.deferred
        assert len(report.sent) == 1
        [retried] = retry_deferred(store, settings, SmtpTransport(settings.smtp), LATER)
        assert retried.sent == (first,)
    # The slow first message may also have been accepted after the client gave up: then it
    # exists twice, with one Message-ID. Nobody is missing.
    ids = _ids(handler)
    assert sorted(ids) == ["ada@example.org", "grace@example.org"]
    assert all(len(set(v)) == 1 and len(v) <= 2 for v in ids.values())


def test_a_relay_that_keeps_failing_pauses_the_send(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.always.update({"ada@example.org": "451 busy", "grace@example.org": "451 busy"})
    settings, store = _setup(
        database, tmp_path, port, "max_retries = 1\nretry_delay = 0\nmax_consecutive_errors = 2\n"
    )
    with store, pytest.raises(DeliveryError, match="paused: 2 messages in a row failed"):
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    with Store.open(settings.database) as store:
        assert store.ledger.delivery_counts("2026-11-22") == {"deferred": 2}
        assert store.readers.suppressed("ada@example.org") is None  # 4xx never suppresses
        # The relay recovers; the retry sends both once their time has come.
        handler.always.clear()
        [report] = retry_deferred(store, settings, SmtpTransport(settings.smtp), LATER)
    assert sorted(report.sent) == ["ada@example.org", "grace@example.org"]


def test_temporary_failures_back_off_until_the_cutoff_then_fail(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    handler, port = faulty
    handler.always["ada@example.org"] = "451 4.7.1 greylisted, try again later"
    settings, store = _setup(
        database,
        tmp_path,
        port,
        "max_retries = 0\nretry_backoff_minutes = 5\nretry_for_hours = 1\n",
    )
    moments: list[dt.datetime] = []
    with store:
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        while (
            row := store.ledger.delivery("2026-11-22", "ada@example.org")
        ) and row.state == "deferred":
            assert row.retry_at is not None
            moments.append(row.retry_at)
            retry_deferred(store, settings, SmtpTransport(settings.smtp), fixed_clock(row.retry_at))
    gaps = [
        (b - a).total_seconds() / 60 for a, b in zip([FIXED_NOW, *moments], moments, strict=False)
    ]
    assert gaps == [5, 10, 20, 40]  # backoff doubles; the 75th minute is past the hour
    assert row is not None and row.state == "failed" and "gave up after 1 h" in (row.error or "")
    assert "ada@example.org" not in _ids(handler)


def test_sigkill_mid_send_then_resume_misses_nobody(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """A real `digest send` process, killed with SIGKILL while a slow server accepts mail."""
    handler, port = faulty
    handler.delay = 0.15
    readers = 12
    command, env = readers_ready(database, tmp_path, port, readers)
    sender = subprocess.Popen(
        [*command, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(handler.messages) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    sender.send_signal(signal.SIGKILL)
    sender.wait(timeout=10)
    first_run = len(handler.messages)
    assert 4 <= first_run < readers, "the kill must land mid-send"
    handler.delay = 0.0
    resumed = subprocess.run(
        [*command, "send"], env=env, check=False, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    received: dict[str, list[str]] = {}
    for to, data in handler.messages:
        received.setdefault(to, []).append(email.message_from_bytes(data)["Message-ID"])
    assert sorted(received) == [f"reader{n:02d}@example.org" for n in range(readers)]
    duplicates = {to: ids for to, ids in received.items() if len(ids) > 1}
    assert len(duplicates) <= 1  # at most the one message in flight at the kill (concurrency 1)
    assert all(len(set(ids)) == 1 for ids in duplicates.values())  # ...with the same Message-ID
    with Store.open(database) as store:
        states = store.ledger.delivery_counts(store.ledger.latest_edition() or "")
    assert states == {"sent": readers}


def test_status_and_maildir_through_the_cli(database: Path | str, tmp_path: Path) -> None:
    from .conftest import assert_clean_error, run

    write_settings(tmp_path, database=database)
    assert_clean_error(run("status", cwd=tmp_path), 1, "no edition has been sent yet")
    assert run("ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    sent = run("send", "--transport", "maildir", "--outbox", tmp_path / "Maildir", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert len(list((tmp_path / "Maildir" / "new").iterdir())) == 2
    status = run("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    import json

    document = json.loads(status.stdout)
    assert document["counts"] == {"sent": 2} and document["failures"] == []
    assert_clean_error(run("status", "1999-01-01", cwd=tmp_path), 1, "no edition '1999-01-01'")


def test_a_schema_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Store.open(path):
        pass
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE deliveries;"
        "CREATE TABLE deliveries (edition_id TEXT NOT NULL, email TEXT NOT NULL,"
        " message_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL CHECK (state IN"
        " ('pending', 'sending', 'sent', 'failed', 'empty')), picks TEXT NOT NULL, error TEXT,"
        " attempts INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (edition_id, email));"
        "INSERT INTO deliveries VALUES"
        " ('2026-11-21', 'a@x.org', '<m@x>', 'sent', '[]', NULL, 1, '');"
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    db.close()
    with Store.open(path) as store:
        assert store.ledger.delivery("2026-11-21", "a@x.org").state == "sent"  # type: ignore[union-attr]
        store.ledger.record_progress("2026-11-21", FIXED_NOW, failed=[("a@x.org", "550", True)])
        row = store.ledger.plan_delivery(
            "2026-11-22", "a@x.org", "<n@x>", [RecordedPick(1)], FIXED_NOW
        )
        assert row.state == "suppressed"  # a state schema 1 could not hold


def test_concurrency_cap_rate_limit_and_fallback_relay(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], secret_env: str
) -> None:
    from digest.demo import free_port

    handler, port = faulty
    dead = free_port()  # nothing listens here: the fallback relay must take over
    readers = 9
    path = write_settings(
        tmp_path, database=database, port=dead, subscribers=reader_subscribers(readers)
    )
    path.write_text(
        path.read_text().replace(
            "timeout = 5\n",
            f'timeout = 5\nfallback_hosts = ["127.0.0.1:{port}"]\nconcurrency = 3\n'
            "rate_limit = 50\nmax_messages_per_connection = 2\n",
        )
    )
    settings = load_settings(path)
    waits: list[float] = []
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        connections = [SmtpTransport(settings.smtp) for _ in range(settings.smtp.concurrency)]
        report = send_edition(
            store,
            settings,
            connections,
            fixed_clock(),
            sleep=waits.append,
            monotonic=lambda: 0.0,  # time stands still: each slot is exactly 20 ms after the last
        )
        assert store.ledger.delivery_counts("2026-11-22") == {"sent": readers}
    assert len(report.sent) == readers
    assert sorted(to for to, _ in handler.messages) == sorted(report.sent)
    # 3 connections, each replaced after 2 messages: at least ceil(9 / 2) = 5 greetings.
    assert handler.greetings >= 5
    if isinstance(database, Path):
        # 50 messages/s: message k waits for its slot, k x 20 ms after the first.
        assert sorted(waits) == pytest.approx([0.02 * k for k in range(1, readers)])
    else:  # the pace is kept on the server's clock (test_senders.py measures it)
        assert all(0 <= wait <= 0.02 * readers for wait in waits)


def test_two_senders_at_once_mail_nobody_twice(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """A second `digest send` (cron and the daemon both set up, or an impatient operator)
    waits for the first instead of taking the same pending rows."""
    handler, port = faulty
    handler.delay = 0.1
    readers = 10
    command, env = readers_ready(database, tmp_path, port, readers)
    senders = [
        subprocess.Popen(
            [*command, "send"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [sender.communicate(timeout=120) for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    assert sorted(to for to, _ in handler.messages) == sorted(
        f"reader{n:02d}@example.org" for n in range(readers)
    )
    if isinstance(database, Path):  # SQLite: one sender at a time
        assert sum("waiting for it to finish" in err for _, err in outputs) == 1
        assert sum(f"already sent {readers}" in out for out, _ in outputs) == 1
    else:  # PostgreSQL: the two share the edition, each reader claimed by one of them
        sent = [int(re.search(r": sent (\d+)", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
        assert sum(sent) == readers


def test_sigterm_stops_a_one_shot_send_after_the_message_in_flight(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    handler, port = faulty
    handler.delay = 0.3
    readers = 8
    command, env = readers_ready(database, tmp_path, port, readers)
    sender = subprocess.Popen(
        [*command, "send"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(handler.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sender.send_signal(signal.SIGTERM)
    _, err = sender.communicate(timeout=30)
    assert sender.returncode == 130, err
    assert "Traceback" not in err and "run `digest send` again" in err
    delivered = len(handler.messages)
    assert delivered < readers, "the stop must land mid-send"
    with Store.open(database) as store:
        states = store.ledger.delivery_counts(store.ledger.latest_edition() or "")
    assert states == {"sent": delivered, "pending": readers - delivered}  # none half-sent
    handler.delay = 0.0
    resumed = subprocess.run([*command, "send"], env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 0
    assert sorted(to for to, _ in handler.messages) == sorted(
        f"reader{n:02d}@example.org" for n in range(readers)
    )
