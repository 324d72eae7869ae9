"""The web app's mail worker: one background thread that sends what requests queued (sign-up
confirmations, first editions) after their answer went out, so no request ever talks to a
relay or waits for a send. Started and stopped with the server; a request wakes it once its
transaction committed; between wakes it looks again when the next queued message is due, and
every minute at least (mail another process queued). What a stopped server left, the daemon
sends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from digest.errors import DigestError

log = logging.getLogger("digest.web")

# The worker looks at the queue at least this often (seconds), woken or not.
LOOK_EVERY = 60.0


class Mailer:
    """Runs `work` (one pass over the queue, returning how many seconds the next queued
    message is away, or None when nothing is queued) in a thread of its own: at start, on
    every `wake()`, and when the next message is due. `wait_idle()` returns once every pass
    asked for so far has run: a test's readiness, never a sleep."""

    def __init__(self, work: Callable[[Callable[[], bool]], float | None]) -> None:
        self._work = work
        self._changed = threading.Condition()
        self._asked = 1  # passes asked for (the first: at start)
        self._done = 0  # passes asked for that have run
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Mailer:
        with self._changed:
            if self._thread is not None:
                return self
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="digest-mailer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let the message in flight finish, then end the thread (the rest stays queued)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def wake(self) -> None:
        """Something was queued: run a pass now (or right after the one running)."""
        with self._changed:
            self._asked += 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every pass asked for before this call has run; False if it did not
        within `timeout` seconds (the worker is stopped, or stuck)."""
        with self._changed:
            target = self._asked
            return self._changed.wait_for(lambda: self._done >= target, timeout=timeout)

    def flush(self, timeout: float = 60.0) -> bool:
        """Run a pass now and wait for it (and every one asked for before): whether it ran
        within `timeout` seconds."""
        self.wake()
        return self.wait_idle(timeout)

    def _stopped(self) -> bool:
        return self._stopping

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopping:
                    return
                asked = self._asked
            try:
                wait = self._work(self._stopped)
            except DigestError as exc:  # the store away, busy: one line, and again later
                log.warning("mail worker: %s; trying again in a minute", exc)
                wait = LOOK_EVERY
            except Exception:  # a bug: its traceback for the operator's log, and again later
                log.exception("mail worker: the queued mail was not sent; trying again later")
                wait = LOOK_EVERY
            with self._changed:
                self._done = max(self._done, asked)
                self._changed.notify_all()
                if self._asked == asked and not self._stopping:
                    # At least a second: what is due may be another worker's until its lease ends.
                    limit = LOOK_EVERY if wait is None else min(LOOK_EVERY, max(1.0, wait))
                    self._changed.wait(timeout=limit)
                    if self._asked == asked and not self._stopping:
                        self._asked += 1  # the time came: a pass of its own
