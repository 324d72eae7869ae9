"""The daemon's send trigger and its first-run rule, in process with an injected clock (quick
tier): a local send time across both DST changes, a time that happens twice or never, weekdays
only; a new schedule runs at once within grace and waits beyond it; each daemon's jobs run
with that daemon's own context."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_REMOVED

from digest.schedule import _RUNNING, Context, Daemon, SendGroup
from digest.settings import load_settings

from .conftest import write_settings

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _fires(group: SendGroup, start: dt.datetime, count: int) -> list[dt.datetime]:
    trigger, previous, now = group.trigger(), None, start
    fires: list[dt.datetime] = []
    for _ in range(count):
        upcoming = trigger.get_next_fire_time(previous, now)
        assert upcoming is not None
        fires.append(upcoming)
        previous, now = upcoming, upcoming + dt.timedelta(seconds=1)
    return fires


def test_local_send_time_holds_across_both_dst_changes() -> None:
    group = SendGroup("07:30", "Europe/Berlin", False)
    spring = _fires(group, dt.datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2)
    assert [f.astimezone(dt.UTC).hour for f in spring] == [5, 5]  # 29 and 30 March: CEST
    assert all(f.astimezone(BERLIN).strftime("%H:%M") == "07:30" for f in spring)
    before = _fires(group, dt.datetime(2026, 3, 27, 12, tzinfo=BERLIN), 1)[0]
    assert before.astimezone(dt.UTC).hour == 6  # 28 March: still CET
    autumn = _fires(group, dt.datetime(2026, 10, 24, 12, tzinfo=BERLIN), 2)
    assert [f.astimezone(dt.UTC).hour for f in autumn] == [6, 6]  # back to CET


def test_a_time_that_happens_twice_fires_once_and_a_skipped_one_still_fires() -> None:
    night = SendGroup("02:30", "Europe/Berlin", False)
    autumn = _fires(night, dt.datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    assert [f.astimezone(BERLIN).date().day for f in autumn] == [25, 26, 27]  # not 25 twice
    spring = _fires(night, dt.datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2)
    assert [f.astimezone(BERLIN).date().day for f in spring] == [29, 30]  # 02:30 never exists


def test_weekdays_only_skips_the_weekend() -> None:
    fires = _fires(SendGroup("08:00", "UTC", True), dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC), 3)
    assert [f.strftime("%a") for f in fires] == ["Mon", "Tue", "Wed"]


@pytest.mark.parametrize(("minutes_late", "runs_now"), [(10, True), (300, False)])
def test_a_new_schedule_runs_at_once_within_grace_and_waits_beyond_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, minutes_late: int, runs_now: bool
) -> None:
    settings_path = write_settings(tmp_path)
    settings = load_settings(settings_path)
    group = SendGroup("07:30", "UTC", False)
    now = dt.datetime(2026, 12, 8, 7, 30, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes_late)
    daemon = Daemon(settings_path, settings, clock=lambda: now)
    with caplog.at_level(logging.INFO, logger="digest.daemon"):
        first = daemon._first_run(group.job_id, group.trigger())
    assert first == (now if runs_now else None)
    said = caplog.text
    assert ("late but within grace" in said) is runs_now
    assert ("new schedule" in said) is not runs_now
    assert "missed" not in said


def test_each_daemons_jobs_run_with_its_own_context(tmp_path: Path) -> None:
    """Regression: the stop flag and the watched files were module globals, shared by every
    daemon of the process (a stop stayed set for the next one)."""
    settings_path = write_settings(tmp_path)
    seen: dict[str, Context] = {}
    daemons = [Daemon(settings_path, load_settings(settings_path)) for _ in range(2)]
    # Each one-shot job is removed from its store once submitted: a scheduler shut down
    # before that (its memory store emptied) fails in its own thread.
    removed = [threading.Event() for _ in daemons]
    for name, daemon, gone in zip("ab", daemons, removed, strict=True):

        def job(name: str = name) -> None:
            seen[name] = _RUNNING.get()

        daemon.scheduler.add_listener(lambda _event, gone=gone: gone.set(), EVENT_JOB_REMOVED)
        daemon.scheduler.add_job(
            job, jobstore="memory", next_run_time=dt.datetime.now(dt.UTC), id=f"job {name}"
        )
        daemon.scheduler.start()
    try:
        assert all(gone.wait(30) for gone in removed)
    finally:
        for daemon in daemons:
            daemon.scheduler.shutdown(wait=True)
    assert seen["a"] is daemons[0].context and seen["b"] is daemons[1].context
    daemons[0].context.stop.set()
    assert not daemons[1].context.stop.is_set()
