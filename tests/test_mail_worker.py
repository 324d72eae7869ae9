"""The web app's mail worker (digest.web.mailer): a pass at start, one per wake, a failing
pass logged (one line for a DigestError) and the next one run, a clean stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from digest.errors import StoreBusy
from digest.web.mailer import Mailer


def test_a_pass_runs_at_start_and_after_every_wake() -> None:
    passes: list[int] = []

    def work(stopped: Callable[[], bool]) -> float | None:
        passes.append(threading.get_ident())
        return None

    worker = Mailer(work).start()
    try:
        assert worker.wait_idle()
        assert len(passes) == 1 and passes[0] != threading.get_ident()  # its own thread
        assert worker.flush() and worker.flush()
        assert len(passes) == 3
        assert worker.start() is worker and worker.running  # started once
    finally:
        worker.stop()
    assert not worker.running


def test_a_failing_pass_is_logged_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    failures = [StoreBusy("database digest.sqlite is busy"), RuntimeError("a bug")]

    def work(stopped: Callable[[], bool]) -> float | None:
        if failures:
            raise failures.pop(0)
        return None

    worker = Mailer(work).start()
    try:
        with caplog.at_level(logging.WARNING, logger="digest.web"):
            assert worker.flush() and worker.flush() and worker.flush()
    finally:
        worker.stop()
    busy, bug = [r for r in caplog.records if r.name == "digest.web"]
    assert busy.levelno == logging.WARNING and busy.exc_info is None and "busy" in busy.message
    assert bug.levelno == logging.ERROR and bug.exc_info is not None


def test_stopping_lets_the_pass_in_flight_finish() -> None:
    entered, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work(stopped: Callable[[], bool]) -> float | None:
        entered.set()
        release.wait()
        finished.append(True)
        return None

    worker = Mailer(work).start()
    assert entered.wait(60)
    stopping = threading.Thread(target=worker.stop)
    stopping.start()
    release.set()
    stopping.join(60)
    assert not stopping.is_alive() and not worker.running
    assert finished == [True]  # the pass in flight ran to its end, and no other started
