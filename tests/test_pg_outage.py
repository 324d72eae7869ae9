"""A PostgreSQL server that goes away mid-send: every session ended by an administrator
(`pg_terminate_backend`), the server restarted (`pg_ctl restart -m fast`), connections refused
for longer than a sender waits. Senders and the daemon connect again and carry on; an edition
a lost database cut short is finished by the daemon's next look, without a restart. Everyone
gets the edition once, beyond the messages in flight at a cut.

These tests run their own server (they restart it), with real `digest send` and `digest
daemon` processes and a real SMTP server."""

from __future__ import annotations

import email
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from . import pgserver
from .conftest import (
    EXAMPLES,
    FaultyHandler,
    fresh_schema,
    readers_ready,
    run,
    running_postgres,
    write_settings,
)
from .test_schedule import Daemon, _clock_in, _subscribers, daemons  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_server() -> Iterator[pgserver.PostgresServer]:
    """A server of these tests' own: they restart it."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def url(own_server: pgserver.PostgresServer) -> Iterator[str]:
    with fresh_schema(own_server) as schema_url:
        yield schema_url


def _admin(server: pgserver.PostgresServer) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server.url(database="postgres"), autocommit=True)


def _end_sessions(server: pgserver.PostgresServer) -> int:
    """What an administrator's pg_terminate_backend does to every digest session."""
    with _admin(server) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = 'digest' AND pid <> pg_backend_pid()"
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


def _states(url: str) -> dict[str, int]:
    """The ledger's counts by state, or {} while the server does not answer."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as connection:
            rows = connection.execute(
                "SELECT state, count(*) FROM deliveries GROUP BY state"
            ).fetchall()
    except psycopg.Error:
        return {}
    return {str(state): int(count) for state, count in rows}


def _until(condition: Callable[[], bool], alive: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert alive(), "the sender ended before the outage could land"
        assert time.monotonic() < deadline, f"no progress in {seconds} s"
        time.sleep(0.02)


def _once_each(handler: FaultyHandler, readers: int, in_flight: int) -> None:
    """Every reader got the edition; a reader got it twice only for a message in flight at
    a cut, and then with the same Message-ID."""
    received: dict[str, list[str]] = {}
    for to, data in handler.messages:
        received.setdefault(to, []).append(email.message_from_bytes(data)["Message-ID"])
    assert sorted(received) == [f"reader{n:02d}@example.org" for n in range(readers)]
    twice = {to: ids for to, ids in received.items() if len(ids) > 1}
    assert len(twice) <= in_flight, twice
    assert all(len(set(ids)) == 1 for ids in twice.values())


def test_a_send_outlives_ended_sessions_and_a_server_restart(
    own_server: pgserver.PostgresServer,
    url: str,
    tmp_path: Path,
    faulty: tuple[FaultyHandler, int],
) -> None:
    handler, port = faulty
    handler.delay = 0.05
    readers = 80
    command, env = readers_ready(url, tmp_path, port, readers)
    sender = subprocess.Popen(
        [*command, "send"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        alive = lambda: sender.poll() is None  # noqa: E731
        _until(lambda: _states(url).get("sent", 0) >= 10, alive)
        assert _end_sessions(own_server) >= 1
        _until(lambda: _states(url).get("sent", 0) >= 30, alive)
        own_server.restart()
        _, err = sender.communicate(timeout=180)
    finally:
        sender.kill()
        sender.communicate()
    assert sender.returncode == 0, err
    assert "Traceback" not in err
    assert _states(url) == {"sent": readers}
    _once_each(handler, readers, in_flight=4)  # two cuts, two connections each at most


def test_a_daemon_outlives_a_restart_and_finishes_an_edition_a_lost_database_cut_short(
    own_server: pgserver.PostgresServer,
    url: str,
    tmp_path: Path,
    faulty: tuple[FaultyHandler, int],
    daemons: list[Daemon],  # noqa: F811
) -> None:
    """Regression: after its connections were ended mid-send the daemon logged the send as
    failed and left the rest `pending` for as long as it ran; only a restart sent them."""
    handler, port = faulty
    handler.delay = 0.05
    readers = 60
    at = _clock_in(3)
    people = _subscribers([(f"reader{n:02d}@example.org", at, "UTC") for n in range(readers)])
    # The daemon connects again for 1 s at most, and looks for unfinished work every 1.2 s.
    settings = write_settings(
        tmp_path,
        database=url,
        port=port,
        subscribers=people,
        extra="database_reconnect_seconds = 1",
    )
    text = settings.read_text().replace("[smtp]", "[smtp]\nretry_backoff_minutes = 0.02", 1)
    settings.write_text(text)
    assert run("--settings", settings, "ingest", EXAMPLES / "dumps", cwd=tmp_path).returncode == 0
    daemon = Daemon(settings)
    daemons.append(daemon)
    alive = lambda: daemon.process.poll() is None  # noqa: E731
    _until(lambda: _states(url).get("sent", 0) >= 10, alive)
    # First a restart, which the send rides out (it connects again within its second)...
    own_server.restart()
    _until(lambda: _states(url).get("sent", 0) >= 25, alive)
    # ...then an outage longer than that: the send fails, and the edition is finished later.
    with _admin(own_server) as admin:
        admin.execute("ALTER DATABASE digest ALLOW_CONNECTIONS false")
        try:
            _end_sessions(own_server)
            daemon.wait_for(lambda: " UTC failed: " in daemon.log)
        finally:
            admin.execute("ALTER DATABASE digest ALLOW_CONNECTIONS true")
    daemon.wait_for(lambda: _states(url) == {"sent": readers}, seconds=120)
    assert "was cut short; sending the rest" in daemon.log
    assert daemon.stop() == 0
    _once_each(handler, readers, in_flight=6)
