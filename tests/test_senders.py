"""Beyond one machine: several senders on one PostgreSQL store (claims, leases, planning once,
one pace per relay), and a SQLite store moved onto the server with `digest migrate`."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from digest.demo import free_port
from digest.settings import load_settings
from digest.store import Claim, Store

from .conftest import (
    EXAMPLES,
    FIXED_NOW,
    FaultyHandler,
    assert_clean_error,
    fixed_clock,
    readers_ready,
    run,
    write_settings,
)
from .test_schedule import Daemon, _clock_in, _settings, _subscribers, daemons  # noqa: F401

pytestmark = pytest.mark.integration

EDITION = "2026-11-22"


def _planned(store: Store, readers: int) -> None:
    store.ledger.plan_deliveries(
        [(EDITION, f"r{n:02d}@example.org", f"<{n}@digest.test>", []) for n in range(readers)],
        FIXED_NOW,
        send_empty=True,
    )


def _lease_runs_out(store: Store, claim: Claim) -> None:
    """What the server's clock passing a sender's leases does (without waiting for it)."""
    with store.transaction(shared=True) as db:
        db.execute(
            "UPDATE deliveries SET lease_until = '2000-01-01T00:00:00+00:00' WHERE claimed_by = ?",
            (claim.sender,),
        )


def _server_now(store: Store) -> dt.datetime:
    return store.now(FIXED_NOW)


def test_senders_split_an_edition_and_a_dead_ones_rows_wait_for_its_lease(
    server_database: str,
) -> None:
    lease = dt.timedelta(seconds=60)
    a, b = Claim("host-a:11:aa", lease), Claim("host-b:22:bb", lease)
    everyone = [f"r{n:02d}@example.org" for n in range(10)]
    with Store.open(server_database) as store:
        _planned(store, 10)
        first = store.ledger.claim(EDITION, a, FIXED_NOW, 4)
        second = store.ledger.claim(EDITION, b, FIXED_NOW, 4)
        assert len(first) == len(second) == 4
        assert not {r.email for r in first} & {r.email for r in second}
        # a hands its readers to the relay, then its host goes down.
        renewed = _server_now(store)
        assert store.ledger.record_progress(
            EDITION, FIXED_NOW, sending=[r.email for r in first], claim=a
        )
        rest = store.ledger.claim(EDITION, b, FIXED_NOW, 100)
        assert len(rest) == 2  # only the rows nobody held
        assert store.ledger.unfinished_claims(EDITION) == {a.sender: 4, b.sender: 6}
        # Leases run on the server's clock: a's, renewed when it handed its readers over.
        [(holder, until)] = store.ledger.holders(EDITION, b, FIXED_NOW, everyone).items()
        assert holder == a.sender
        assert renewed.replace(microsecond=0) + lease <= until <= _server_now(store) + lease
        # Once its lease has run out, b takes a's rows over, the half-sent ones included.
        _lease_runs_out(store, a)
        taken = store.ledger.claim(EDITION, b, FIXED_NOW, 100)
        assert [r.email for r in taken] == [r.email for r in first]
        assert {r.state for r in taken} == {"sending"}
        # a, back from the dead, may no longer hand those readers to a relay.
        assert (
            store.ledger.record_progress(EDITION, FIXED_NOW, sending=[first[0].email], claim=a) == 0
        )
        assert set(store.ledger.holders(EDITION, a, FIXED_NOW, everyone)) == {b.sender}


def test_a_sender_whose_clock_runs_ahead_takes_over_nobody_alive(server_database: str) -> None:
    """Leases are given and compared on the server's clock, never a sender's: a sender whose
    clock is 10 minutes ahead (past every other sender's 5-minute lease) used to take over
    the readers a live sender was mailing, and both mailed them."""
    lease = dt.timedelta(minutes=5)
    a, b = Claim("host-a:11:aa", lease), Claim("host-b:22:bb", lease)
    wall = dt.datetime.now(dt.UTC)
    ahead = wall + dt.timedelta(minutes=10)
    behind = wall - dt.timedelta(minutes=10)
    everyone = [f"r{n:02d}@example.org" for n in range(10)]
    with Store.open(server_database) as store:
        _planned(store, 10)
        mine = store.ledger.claim(EDITION, a, behind, 6)  # a's clock is 10 minutes behind
        assert store.ledger.record_progress(EDITION, behind, sending=[mine[0].email], claim=a) == 1
        theirs = store.ledger.claim(EDITION, b, ahead, 100)
        assert {r.email for r in theirs} == set(everyone) - {r.email for r in mine}
        assert set(store.ledger.holders(EDITION, b, ahead, everyone)) == {a.sender}
        assert store.ledger.record_progress(EDITION, behind, sending=[mine[1].email], claim=a) == 1


def test_statements_with_a_list_of_keys_are_planned_for_their_own_list(
    server_database: str,
) -> None:
    """psycopg prepares a statement on its fifth run, and the server may then reuse one plan
    for every list of readers: on a fresh edition (no statistics yet) that plan scanned the
    whole edition per claim, 15x slower. Such statements are never prepared; others are."""
    claim = Claim("host-a:11:aa", dt.timedelta(seconds=60))
    with Store.open(server_database) as store:
        _planned(store, 40)
        everyone = [f"r{n:02d}@example.org" for n in range(40)]
        for _ in range(8):
            assert len(store.ledger.claim(EDITION, claim, FIXED_NOW, 4, emails=everyone)) == 4
            store.ledger.delivery(EDITION, everyone[0])
        prepared = [
            row[0] for row in store.database.execute("SELECT statement FROM pg_prepared_statements")
        ]
    assert any("FROM deliveries WHERE edition_id" in statement for statement in prepared)
    assert not [statement for statement in prepared if "= ANY(" in statement]


class _Counting:
    """A transport that counts what it was handed and sends nothing."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        self.sent.append(recipient)


def test_a_row_taken_over_is_reported_as_served_elsewhere_not_as_unsubscribed(
    server_database: str,
) -> None:
    """A sender whose lease ran out while it was alive finds its readers taken over: it sends
    them nothing and counts them as served by another sender, while a reader who unsubscribed
    meanwhile is counted as withdrawn (it was both "withdrawn" before)."""
    from digest.deliver.dispatch import Dispatcher, Outgoing
    from digest.settings import SmtpSettings

    lease = dt.timedelta(seconds=60)
    a, b = Claim("host-a:11:aa", lease), Claim("host-b:22:bb", lease)
    after = FIXED_NOW + lease + dt.timedelta(seconds=1)
    with Store.open(server_database) as store:
        _planned(store, 3)
        mine = store.ledger.claim(EDITION, a, FIXED_NOW, 3)
        _lease_runs_out(store, a)
        assert len(store.ledger.claim(EDITION, b, after, 1)) == 1  # b takes one of a's rows over
        store.readers.unsubscribe(mine[2].email, after)
        transport = _Counting()
        dispatcher = Dispatcher(
            store, EDITION, [transport], "d@example.org", SmtpSettings(), lambda: after, claim=a
        )
        dispatcher.run([Outgoing(row, b"Subject: x\r\n\r\nx\r\n") for row in mine])
    assert dispatcher.outcomes.taken == [mine[0].email]
    assert dispatcher.outcomes.withdrawn == [mine[2].email]
    assert transport.sent == [mine[1].email] == dispatcher.outcomes.sent


def _sent_by(url: str, pid: int) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'sent' AND claimed_by LIKE %s",
            (f"%:{pid}:%",),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(condition: Callable[[], bool], victim: subprocess.Popen[Any]) -> None:
    """Until `condition`, while the victim is still sending (it must die mid-edition)."""
    deadline = time.monotonic() + 90
    while not condition():
        assert victim.poll() is None, "the victim finished before it could be killed"
        assert time.monotonic() < deadline, "no progress in 90 s"
        time.sleep(0.02)


def test_two_senders_one_killed_mid_send_every_reader_once(
    server_database: str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """Two real `digest send` processes share an edition; one dies by SIGKILL after it has
    sent some of its readers, once the other sends too. The other takes its rows over:
    everyone gets the edition, at most the message in flight at the kill twice, with the
    same Message-ID."""
    handler, port = faulty
    handler.delay = 0.15
    readers = 60
    command, env = readers_ready(server_database, tmp_path, port, readers)
    # The victim first, so that it surely holds readers when the other has started too: a
    # survivor starting first could take them all before a slow victim claimed any.
    victim = subprocess.Popen(
        [*command, "send"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(lambda: _sent_by(server_database, victim.pid) >= 2, victim)
    survivor = subprocess.Popen(
        [*command, "send"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: _sent_by(server_database, survivor.pid) >= 1, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    _, err = survivor.communicate(timeout=180)
    assert survivor.returncode == 0, err
    received: dict[str, list[str]] = {}
    for to, data in handler.messages:
        received.setdefault(to, []).append(email.message_from_bytes(data)["Message-ID"])
    assert sorted(received) == [f"reader{n:02d}@example.org" for n in range(readers)]
    duplicates = {to: ids for to, ids in received.items() if len(ids) > 1}
    assert len(duplicates) <= 1  # the victim's one message in flight (concurrency 1)
    assert all(len(set(ids)) == 1 for ids in duplicates.values())
    with Store.open(server_database) as store:
        assert store.ledger.delivery_counts(store.ledger.latest_edition() or "") == {
            "sent": readers
        }


def test_two_daemons_plan_each_edition_once(
    server_database: str,
    tmp_path: Path,
    faulty: tuple[FaultyHandler, int],
    daemons: list[Daemon],  # noqa: F811
) -> None:
    handler, port = faulty
    readers = 12
    people = _subscribers([(f"r{n:02d}@example.org", _clock_in(8), "UTC") for n in range(readers)])
    settings = _settings(server_database, tmp_path, port, people)
    with Store.open(server_database) as store:
        from digest.diff import ingest_paths

        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock(dt.datetime.now(dt.UTC)))
    started = [Daemon(settings), Daemon(settings)]
    daemons.extend(started)
    for daemon in started:
        daemon.wait_for(lambda d=daemon: "planned" in d.log, seconds=60)  # type: ignore[misc]
    for daemon in started:
        assert daemon.stop() == 0
    assert sorted(to for to, _ in handler.messages) == [f"r{n:02d}@example.org" for n in range(12)]
    planned = [int(n) for d in started for n in re.findall(r"planned (\d+)", d.log)]
    assert sorted(planned) == [0, readers]  # one daemon ranked and recorded; the other found it


def _two_senders(
    command: list[str], env: dict[str, str], smtp_setting: str
) -> list[subprocess.Popen[str]]:
    """Two `digest send` processes at once, with one more `[smtp]` setting in their file."""
    path = Path(command[command.index("--settings") + 1])
    path.write_text(path.read_text().replace("timeout = 5\n", f"timeout = 5\n{smtp_setting}\n"))
    return [
        subprocess.Popen([*command, "send"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]


def test_a_relay_rate_limit_holds_across_senders(
    server_database: str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """4 messages a second between two processes: the 12th message can only start 11 slots
    (2.75 s) after the first, where two separate limits would have let them through in 1.25 s."""
    handler, port = faulty
    readers = 12
    command, env = readers_ready(server_database, tmp_path, port, readers)
    senders = _two_senders(command, env, "rate_limit = 4")
    for sender in senders:
        sender.communicate(timeout=120)
        assert sender.returncode == 0
    assert len(handler.messages) == readers
    times = sorted(handler.accepted_at)
    assert times[-1] - times[0] >= 2.0


def test_migrate_copies_a_sqlite_store_onto_the_server_and_verifies_it(
    server_database: str, tmp_path: Path, secret_env: str
) -> None:
    outbox = tmp_path / "outbox"
    settings_path = write_settings(tmp_path)
    days = sorted((EXAMPLES / "dumps").glob("*-listing.txt"))
    defining = tmp_path / "2026-11-19-listing.txt"  # an abbreviation to learn
    defining.write_text(
        "Get trending papers in your email inbox!\nSubscribeGrounded Answers\n"
        "Retrieval-augmented generation (RAG) grounds answers in documents.\n",
        encoding="utf-8",
    )
    assert run("ingest", defining, *days[:-1], cwd=tmp_path).returncode == 0
    sent = run("send", "--transport", "file", "--outbox", str(outbox), cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    before = run("status", "--json", cwd=tmp_path)
    history = run("history", "--json", cwd=tmp_path)
    with Store.open(tmp_path / "digest.sqlite") as store:
        counts = store.counts()
        abbreviations = store.catalog.abbreviations()
    moved = run("migrate", "--to", server_database, cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert "verified" in moved.stdout
    assert re.search(rf"papers\s+{counts['papers']}\b", moved.stdout)
    # The same store, read from the server.
    settings_path.write_text(
        settings_path.read_text().replace('"digest.sqlite"', f'"{server_database}"')
    )
    assert run("status", "--json", cwd=tmp_path).stdout == before.stdout
    assert run("history", "--json", cwd=tmp_path).stdout == history.stdout
    with Store.open(load_settings(settings_path).database) as store:
        assert store.counts() == counts
        # The papers' meaning vectors come along (not computed again on the server).
        vectors = store.database.execute("SELECT count(*) FROM paper_vectors").fetchone()[0]
        assert vectors == counts["papers"]
        assert store.catalog.abbreviations() == abbreviations and abbreviations.long_of["RAG"]
    # The next dump continues after the copied ones.
    assert run("ingest", days[-1], cwd=tmp_path).returncode == 0
    stored = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    ids = [entry["snapshot"] for entry in stored]
    assert ids == sorted(ids, reverse=True) and ids[0] == counts["snapshots"] + 1
    # A second copy into the now full database is refused, and changes nothing.
    settings_path.write_text(
        settings_path.read_text().replace(f'"{server_database}"', '"digest.sqlite"')
    )
    assert_clean_error(run("migrate", "--to", server_database, cwd=tmp_path), 4, "not empty")


def test_a_database_url_with_a_password_or_an_unknown_scheme_is_one_line(tmp_path: Path) -> None:
    path = write_settings(tmp_path, database="postgresql://digest:hunter2@db.example/digest")
    refused = run("history", cwd=tmp_path)
    assert_clean_error(refused, 2, "PGPASSWORD")
    assert "hunter2" not in refused.stderr
    path.write_text(path.read_text().replace("postgresql://digest:hunter2@", "mysql://digest@"))
    assert_clean_error(run("history", cwd=tmp_path), 2, "mysql:// is not a database")
    moved = run("migrate", "--to", "postgresql://u:hunter2@db.example/x", cwd=tmp_path)
    assert_clean_error(moved, 1, "PGPASSWORD")
    assert "hunter2" not in moved.stderr


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    write_settings(tmp_path, database=f"postgresql://digest@127.0.0.1:{free_port()}/digest")
    result = run("history", cwd=tmp_path)
    assert_clean_error(result, 4, "cannot use the PostgreSQL server")


def test_senders_that_run_out_of_readers_together_both_finish(
    server_database: str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """Regression: a sender with nothing left to claim waited for the other's unfinished rows
    while its own messages in flight were not recorded yet; two of them at once waited for
    each other until their leases ran out. Now each records what it sent before it waits."""
    handler, port = faulty
    handler.delay = 0.1
    readers = 40  # more than one claim each (16 readers a claim)
    command, env = readers_ready(server_database, tmp_path, port, readers)
    senders = _two_senders(command, env, "concurrency = 3")
    try:
        outputs = [sender.communicate(timeout=120)[0] for sender in senders]
    finally:
        for sender in senders:  # a hang fails the test, and leaves no process behind
            sender.kill()
            sender.communicate()
    assert [sender.returncode for sender in senders] == [0, 0]
    assert sorted(to for to, _ in handler.messages) == [
        f"reader{n:02d}@example.org" for n in range(readers)
    ]
    sent = [int(re.search(r": sent (\d+)", out).group(1)) for out in outputs]  # type: ignore[union-attr]
    assert sum(sent) == readers


def test_waiting_for_an_editions_planning_outlasts_the_write_timeout(server_database: str) -> None:
    """Regression: a sender waited for another's planning (minutes for a big edition) only as
    long as a write may wait (the store's timeout), then failed as busy."""
    import threading

    outcome: list[BaseException | None] = []

    def wait_for_the_plan() -> None:
        try:
            with Store.open(server_database, timeout=0.2) as second:
                second.database.lock(f"plan {EDITION}")
                second.database.unlock(f"plan {EDITION}")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with Store.open(server_database) as first:
        first.database.lock(f"plan {EDITION}")
        waiter = threading.Thread(target=wait_for_the_plan)
        waiter.start()
        waiter.join(timeout=1.0)  # five times the waiter's timeout
        assert waiter.is_alive() and not outcome, outcome
        first.database.unlock(f"plan {EDITION}")
    waiter.join(timeout=60)
    assert outcome == [None]


def test_a_frozen_planner_holds_the_others_back_only_for_the_planning_wait(
    server_database: str, tmp_path: Path, faulty: tuple[FaultyHandler, int]
) -> None:
    """Regression: a planner that froze (SIGSTOP, a hung host) while holding an edition's
    planning lock kept every other sender waiting with nothing sent, without limit. Now a
    sender that waited [smtp] planning_wait_seconds plans the edition itself."""
    from digest.editions import edition_date

    handler, port = faulty
    readers = 12
    command, env = readers_ready(server_database, tmp_path, port, readers)
    env["DIGEST_SMTP__PLANNING_WAIT_SECONDS"] = "1"
    now = dt.datetime.now(dt.UTC)
    # The edition of today (in the settings' zone, UTC), whichever side of midnight it starts.
    editions = {edition_date(now + dt.timedelta(minutes=m), "UTC") for m in (-1, 0, 1, 2)}
    with Store.open(server_database) as frozen:
        for day in editions:
            assert frozen.database.try_lock(f"plan {day.isoformat()}")
        done = subprocess.run(
            [*command, "send"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "planning it here too" in done.stderr
        assert sorted(to for to, _ in handler.messages) == [
            f"reader{n:02d}@example.org" for n in range(readers)
        ]
