"""`digest daemon` for real: a subprocess with a schedule seconds away, a real SMTP server,
SIGTERM and SIGKILL, restarts inside and outside the grace period; and the trigger across DST."""

from __future__ import annotations

import datetime as dt
import email
import os
import signal
import subprocess
import sys
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.store import Store

from .conftest import (
    EXAMPLES,
    FaultyHandler,
    SmtpServer,
    assert_clean_error,
    run,
    write_settings,
)

pytestmark = pytest.mark.integration

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


# -- the daemon as a process ---------------------------------------------------------------


def _clock_in(seconds: float, zone: str = "UTC") -> str:
    moment = dt.datetime.now(zoneinfo.ZoneInfo(zone)) + dt.timedelta(seconds=seconds)
    return moment.strftime("%H:%M:%S")


def _subscribers(people: list[tuple[str, str, str]]) -> str:
    return "".join(
        f'\n[[subscribers]]\nemail = "{address}"\ninterests = []\nmax_items = 3\n'
        f'send_at = "{at}"\ntimezone = "{zone}"\n'
        for address, at, zone in people
    )


class Daemon:
    """A `digest daemon` subprocess whose log goes to a file the test can read."""

    def __init__(self, settings: Path) -> None:
        self.log_path = settings.parent / f"daemon-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if k != "DIGEST_SETTINGS"}
        env["DIGEST_SECRET_KEY"] = "daemon-test-secret-0123456789"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "--settings", str(settings), "daemon"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, condition: Callable[[], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, f"daemon exited early:\n{self.log}"
            assert time.monotonic() < deadline, f"timed out; daemon log:\n{self.log}"
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        self._log.close()
        return code


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop(signal.SIGKILL)


def _settings(
    database: Path | str, folder: Path, port: int, people: str, schedule: str = ""
) -> Path:
    path = write_settings(folder, database=database, port=port, subscribers=people)
    path.write_text(path.read_text().replace("[smtp]", f"[schedule]\n{schedule}\n[smtp]"))
    return path


def _states(database: Path | str) -> dict[str, int]:
    with Store.open(database) as store:
        return store.ledger.delivery_counts(store.ledger.latest_edition() or "")


def test_daemon_ingests_then_sends_at_each_readers_local_time_and_stops_on_sigterm(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    handler, port = faulty
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    started = dt.datetime.now(berlin)
    people = _subscribers(
        [
            ("utc@example.org", _clock_in(5), "UTC"),
            ("berlin@example.org", _clock_in(5, "Europe/Berlin"), "Europe/Berlin"),
        ]
    )
    watch = f'watch = ["{EXAMPLES / "dumps"}"]\npoll_minutes = 0.02\n'
    daemon = Daemon(_settings(database, tmp_path, port, people, watch))
    daemons.append(daemon)
    daemon.wait_for(lambda: len(handler.messages) == 2)
    assert daemon.stop() == 0
    assert sorted(to for to, _ in handler.messages) == ["berlin@example.org", "utc@example.org"]
    assert all(b"new paper" in data for _, data in handler.messages)  # the ingest ran first
    log = daemon.log
    assert "ingest: " in log and "new," in log
    assert "edition" in log and "sent 1" in log
    assert "done; next run" in log and "stopped" in log
    # The reader's own date, not the server's (Berlin's midnight may fall while it runs).
    berlin_days = {day.date().isoformat() for day in (started, dt.datetime.now(berlin))}
    with Store.open(database) as store:
        edition = store.ledger.sent_editions("berlin@example.org")[0].edition_id
    assert edition in berlin_days


def test_a_send_time_passed_while_down_goes_out_once_within_grace(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    """No daemon ran at the send time (down, or started just after it): within grace the
    edition goes out at start, once; another start sends nothing more. However long the
    daemon takes to start, the outcome is the same."""
    handler, port = faulty
    assert run(
        "--settings",
        write_settings(tmp_path, database=database),
        "ingest",
        EXAMPLES / "dumps",
        cwd=tmp_path,
    )
    settings = _settings(
        database, tmp_path, port, _subscribers([("late@example.org", _clock_in(-2), "UTC")])
    )
    first = Daemon(settings)
    daemons.append(first)
    first.wait_for(lambda: len(handler.messages) == 1)
    first.wait_for(lambda: "done; next run" in first.log)
    assert "late but within grace" in first.log
    assert first.stop() == 0
    second = Daemon(settings)
    daemons.append(second)
    second.wait_for(lambda: "next run" in second.log)
    assert second.stop() == 0
    assert [to for to, _ in handler.messages] == ["late@example.org"]
    assert _states(database) == {"sent": 1}


def test_a_first_start_after_the_send_time_beyond_grace_waits_without_a_missed_warning(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    """Issue 32, item 9: the daemon's very first start after today's send time (beyond grace)
    sends nothing today and says when it first runs; no run ever existed, so none "was
    missed"."""
    handler, port = faulty
    people = _subscribers([("stale@example.org", _clock_in(-10), "UTC")])
    settings = _settings(database, tmp_path, port, people, "grace_minutes = 0.01\n")  # 0.6 s
    daemon = Daemon(settings)
    daemons.append(daemon)
    daemon.wait_for(lambda: "new schedule" in daemon.log)
    assert daemon.stop() == 0
    assert handler.messages == []
    assert "so it first runs " in daemon.log
    assert "was missed" not in daemon.log and "WARNING digest.daemon: send" not in daemon.log


def test_a_run_whose_edition_already_went_out_says_so_instead_of_missed(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    """`digest send` mailed the day's edition before the daemon started: the skipped run is
    "not needed", logged at info, not a warning that something was missed."""
    handler, port = faulty
    due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)
    people = _subscribers([("early@example.org", _clock_in(-10), "UTC")])
    settings = _settings(database, tmp_path, port, people, "grace_minutes = 0.01\n")
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    sent = run("--settings", settings, "send", "--date", due.date().isoformat(), cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    daemon = Daemon(settings)
    daemons.append(daemon)
    daemon.wait_for(lambda: "is not needed" in daemon.log)
    assert daemon.stop() == 0
    assert "already went out to all 1 of its readers" in daemon.log
    assert "was missed" not in daemon.log and "WARNING digest.daemon: send" not in daemon.log
    assert [to for to, _ in handler.messages] == ["early@example.org"]


def _group_ready(database: Path | str, folder: Path, port: int, readers: int) -> Path:
    """`readers` subscribers due in 3 seconds (UTC), the example dumps ingested."""
    at = _clock_in(3)
    people = _subscribers([(f"reader{n}@example.org", at, "UTC") for n in range(readers)])
    settings = _settings(database, folder, port, people)
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=folder).returncode == 0
    return settings


def test_sigterm_mid_send_finishes_the_message_in_flight_and_the_rest_follow(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    handler, port = faulty
    handler.delay = 0.4
    readers = 8
    settings = _group_ready(database, tmp_path, port, readers)
    daemon = Daemon(settings)
    daemons.append(daemon)
    daemon.wait_for(lambda: len(handler.messages) >= 2)
    assert daemon.stop() == 0
    received_at_stop = len(handler.messages)
    assert received_at_stop < readers, "the stop must land mid-send"
    states = _states(database)
    # The message in flight was delivered and recorded; nothing is left half-sent.
    assert states == {"sent": received_at_stop, "pending": readers - received_at_stop}
    assert "stopped early" in daemon.log
    handler.delay = 0.0
    resumed = run("--settings", settings, "send", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    ids = [email.message_from_bytes(data)["Message-ID"] for _, data in handler.messages]
    assert len(ids) == len(set(ids)) == readers  # everyone once, nobody twice
    assert _states(database) == {"sent": readers}


def test_daemon_with_a_bad_send_time_is_one_line(database: Path | str, tmp_path: Path) -> None:
    settings = _settings(
        database, tmp_path, 2525, _subscribers([("a@example.org", "25:99", "UTC")])
    )
    assert_clean_error(run("--settings", settings, "daemon", cwd=tmp_path), 2, "send_at")


def test_a_daemon_killed_mid_send_finishes_the_edition_when_restarted(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    """SIGKILL mid-send: APScheduler counts that run as done, so without digest's own check
    the rest of the edition would be skipped until tomorrow."""
    handler, port = faulty
    handler.delay = 0.3
    readers = 8
    settings = _group_ready(database, tmp_path, port, readers)
    first = Daemon(settings)
    daemons.append(first)
    first.wait_for(lambda: len(handler.messages) >= 2)
    first.stop(signal.SIGKILL)
    cut_short = len(handler.messages)
    assert cut_short < readers, "the kill must land mid-send"
    handler.delay = 0.0
    second = Daemon(settings)
    daemons.append(second)
    second.wait_for(lambda: "was cut short; sending the rest" in second.log)
    second.wait_for(lambda: _states(database) == {"sent": readers})
    assert second.stop() == 0
    received: dict[str, set[str]] = {}
    for to, data in handler.messages:
        received.setdefault(to, set()).add(email.message_from_bytes(data)["Message-ID"])
    assert sorted(received) == sorted(f"reader{n}@example.org" for n in range(readers))
    assert len(handler.messages) - readers <= 1  # at most the one in flight at the kill...
    assert all(len(ids) == 1 for ids in received.values())  # ...and with the same Message-ID


def test_the_ingest_job_skips_a_bad_dump_and_reads_a_changed_file_again(
    database: Path | str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import shutil

    from digest.schedule import Context, run_ingest

    watched = tmp_path / "incoming"
    watched.mkdir()
    dumps = sorted((EXAMPLES / "dumps").iterdir())
    shutil.copy(dumps[0], watched / "a.txt")
    (watched / "b.txt").write_bytes(b"\x00\x01 not a dump")
    (watched / "README.md").write_text("What lands here is ingested.\n")  # no dump: not read
    settings = _settings(database, tmp_path, 2525, "", 'watch = ["incoming"]\n')
    caplog.set_level(logging.INFO, logger="digest.daemon")
    context = Context()
    run_ingest(str(settings), context)
    assert "a.txt: 5 new" in caplog.text
    assert "README" not in caplog.text
    assert "b.txt" in caplog.text and "ERROR" in caplog.text
    caplog.clear()
    run_ingest(str(settings), context)
    assert caplog.text == ""  # nothing changed: nothing read, nothing logged again
    shutil.copy(dumps[1], watched / "b.txt")  # the bad file is replaced by a good dump
    run_ingest(str(settings), context)
    assert "b.txt: 4 new, 2 seen again" in caplog.text


def test_a_daemon_with_nothing_to_watch_says_so_at_start(
    database: Path | str, tmp_path: Path, faulty: tuple[FaultyHandler, int], daemons: list[Daemon]
) -> None:
    _, port = faulty
    daemon = Daemon(
        _settings(database, tmp_path, port, _subscribers([("a@example.org", "23:59", "UTC")]))
    )
    daemons.append(daemon)
    daemon.wait_for(lambda: "nothing to watch" in daemon.log)
    assert daemon.stop() == 0
    assert "[schedule] watch is empty" in daemon.log


def test_the_retry_job_is_left_alone_by_each_refresh(tmp_path: Path) -> None:
    """Regression: the jobs were compared by repr, which for an interval trigger names the
    moment it was made; each refresh (every minute) replaced the retry job and pushed its next
    run back by its interval (5 minutes): deferred messages were never retried."""
    from apscheduler.triggers.interval import IntervalTrigger

    from digest.schedule import Daemon as Scheduler
    from digest.schedule import run_retries
    from digest.settings import load_settings

    path = _settings(tmp_path / "digest.sqlite", tmp_path, 2525, _subscribers([]))
    daemon = Scheduler(path, load_settings(path))
    daemon.scheduler.start(paused=True)
    try:
        daemon.reconcile()
        job = daemon.scheduler.get_job("retry")
        assert job is not None
        # The job as an earlier refresh made it, an hour ago.
        made = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        trigger = IntervalTrigger(minutes=5, start_date=made, timezone=dt.UTC)
        daemon.scheduler.add_job(
            run_retries, trigger, args=job.args, id="retry", replace_existing=True
        )
        before = daemon.scheduler.get_job("retry")
        assert before is not None
        daemon.reconcile()
        after = daemon.scheduler.get_job("retry")
        assert after is not None and after.next_run_time == before.next_run_time
    finally:
        daemon.scheduler.shutdown(wait=False)


def test_the_daemon_sends_the_mail_a_stopped_server_left(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    """A sign-up's confirmation (and a confirmed reader's first edition) waits in the queue
    when the web server stops before its worker sent it: the daemon's retry job sends it,
    once, over SMTP."""
    import re

    from digest.clock import utc_now
    from digest.diff import ingest_paths
    from digest.schedule import Context, run_retries
    from digest.settings import load_settings
    from digest.web import create_app

    path = _settings(database, tmp_path, smtp_server.port, "")
    path.write_text(path.read_text().replace("[smtp]", "[signup]\nproof_of_work = false\n[smtp]"))
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], utc_now)
    client = create_app(settings).test_client()  # its worker never runs: a stopped server

    def received() -> list[email.message.Message]:
        with smtp_server.handler.lock:
            return [email.message_from_bytes(m.data) for m in smtp_server.handler.messages]

    asked = {"email": "late@example.org", "interests": "language models"}
    assert client.post("/subscribe", data=asked).status_code == 200
    assert received() == []
    run_retries(str(path), Context())
    [confirmation] = received()
    body = confirmation.get_payload(0).get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = re.search(r"https://digest\.test(/confirm/\S+)", body)
    assert found is not None
    assert client.post(found.group(1)).status_code == 200
    run_retries(str(path), Context())
    run_retries(str(path), Context())
    assert [m["To"] for m in received()] == ["late@example.org"] * 2
    assert received()[1]["List-Unsubscribe"]
