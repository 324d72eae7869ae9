"""The ledger loop: hand planned messages to the relay, each exactly once, and record every
outcome.

A row is `sending` in a committed transaction before the relay sees its message, and `sent` only
after the relay accepted it. Every message in flight is settled in a `finally`, whatever stops
the loop, so a message the relay accepted is never left to be sent again. A reader whose message
cannot be built or sent is recorded `failed` with the reason and the others go on. Temporary
failures are `deferred` on a schedule that outlasts greylisting; a message the relay may already
have (no answer after its data) is tried once more later, never again in the same run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from digest.bounces.classify import judge
from digest.bounces.verdicts import Kind
from digest.clock import Clock
from digest.deliver.transports import Transport
from digest.errors import AmbiguousFailure, DeliveryError, PermanentFailure, TemporaryFailure
from digest.models import Deferral, DeliveryState
from digest.settings import Settings, SmtpSettings
from digest.store import Claim, DeliveryRow, Store

# The longest wait between two tries of a deferred message.
MAX_BACKOFF = dt.timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready for the relay: its ledger row and its bytes."""

    row: DeliveryRow
    data: bytes


# What building one reader's message gives: the message, or its row and why it could not be
# built (recorded as that reader's failure; the others go on).
Built = Outgoing | tuple[DeliveryRow, str]


@dataclass(slots=True)
class Outcomes:
    """What a dispatch did, per address."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)  # unsubscribed while going out
    taken: list[str] = field(default_factory=list)  # taken over by another sender meanwhile


def next_try(
    row: DeliveryRow, error: str, now: dt.datetime, policy: SmtpSettings, *, ambiguous: bool
) -> Deferral | str:
    """When a temporarily failed row is tried again, or why it is given up (the reason to
    record as `failed`). Waits retry_backoff_minutes, then twice that, and so on (at most six
    hours), until retry_for_hours after its first failure; an ambiguous message is tried
    exactly once more."""
    since = row.failing_since or now
    if row.ambiguous:
        return f"{error} (tried again once after an unconfirmed send; not sent again)"
    if now - since >= dt.timedelta(hours=policy.retry_for_hours):
        return f"gave up after {policy.retry_for_hours:g} h of temporary failures: {error}"
    wait = dt.timedelta(minutes=policy.retry_backoff_minutes) * 2**row.deferrals
    return Deferral(row.email, error, now + min(wait, MAX_BACKOFF), since, ambiguous)


class Dispatcher:
    """Sends one edition's messages over a set of connections, one message in flight per
    connection, recording outcomes in the ledger. Only the calling thread touches the store."""

    def __init__(
        self,
        store: Store,
        edition_id: str,
        connections: Sequence[Transport],
        envelope_from: str | Callable[[str], str],
        policy: SmtpSettings,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_message: Callable[[str, str], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        claim: Claim | None = None,
        rate_limit: Pace | None = None,
    ) -> None:
        self.store = store
        self.claim = claim
        self.edition_id = edition_id
        self.connections = list(connections)
        # The envelope sender, or the function of the recipient that gives it (VERP).
        self.envelope_from = (
            envelope_from if callable(envelope_from) else (lambda _: str(envelope_from))
        )
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.on_message = on_message
        self.outcomes = Outcomes()
        self._idle: queue.SimpleQueue[Transport] = queue.SimpleQueue()
        for connection in self.connections:
            self._idle.put(connection)
        self._limit = rate_limit or RateLimit(policy.rate_limit, sleep, monotonic)
        self._in_flight: dict[Future[None], DeliveryRow] = {}
        self._done_sent: list[str] = []
        self._done_failed: list[tuple[str, str, bool]] = []
        self._done_deferred: list[Deferral] = []
        self._streak = 0  # failed messages in a row
        self._crash: BaseException | None = None  # a send thread died (not an error of a reader)
        self._pause: DeliveryError | None = None  # too many failures in a row: the relay is down

    def run(
        self,
        messages: Iterable[Built],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Send each message (a (row, error) pair records a reader whose message could not be
        built). Returns True if `should_stop()` cut the run short."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(_quick_turns())
            stack.callback(self._limit.close)
            for connection in self.connections:
                stack.enter_context(connection)
            executor = stack.enter_context(ThreadPoolExecutor(len(self.connections), "digest-send"))
            try:
                stopped = self._run(executor, messages, should_stop)
            finally:
                # Whatever ended the loop, every message in flight is waited for and recorded.
                self._settle(wait(self._in_flight).done, raising=False)
                self._flush()
        if self._crash is not None:
            raise self._crash  # the crashed row stays `sending` for the resume
        if self._pause is not None:
            raise self._pause
        return stopped

    def _run(
        self,
        executor: ThreadPoolExecutor,
        messages: Iterable[Built],
        should_stop: Callable[[], bool],
    ) -> bool:
        for item in messages:
            if should_stop():
                return True
            if isinstance(item, tuple):
                row, error = item
                self._failed(row.email, error, permanent=False)
                continue
            # At most one message per connection in flight: a crash repeats no more than that.
            # This one was built while the others were on the wire; now it waits for a
            # free connection.
            if len(self._in_flight) >= len(self.connections):
                self._settle(wait(self._in_flight, return_when=FIRST_COMPLETED).done)
            if should_stop():  # asked to stop while waiting: start nothing new
                return True
            if not self._flush(sending=[item.row.email]):  # committed before the relay sees it
                self._not_ours(item.row.email)
                continue
            future = executor.submit(self._job, item.row.email, item.data)
            self._in_flight[future] = item.row
        return False

    def _not_ours(self, email: str) -> None:
        """A row that could not move to `sending`: the reader unsubscribed meanwhile, or (with
        a claim) another sender took it over when this one's lease ran out."""
        row = self.store.ledger.delivery(self.edition_id, email)
        if self.claim is not None and (row is None or row.state != DeliveryState.SUPPRESSED):
            self.outcomes.taken.append(email)
        else:
            self.outcomes.withdrawn.append(email)

    def _job(self, recipient: str, data: bytes) -> None:
        connection = self._idle.get()  # a connection nobody else is using
        try:
            self._limit.wait()
            sender = self.envelope_from(recipient)
            deliver(connection, sender, recipient, data, self.policy, self.sleep)
        finally:
            self._idle.put(connection)

    def _flush(self, sending: Sequence[str] = ()) -> int:
        """One ledger transaction: outcomes since the last flush, plus the next `sending`.
        Returns how many of `sending` may go out (an unsubscribe may have withdrawn one, or
        another sender taken it over)."""
        moved = self.store.ledger.record_progress(
            self.edition_id,
            self.clock(),
            sending=sending,
            sent=self._done_sent,
            failed=self._done_failed,
            deferred=self._done_deferred,
            claim=self.claim,
        )
        self._done_sent.clear()
        self._done_failed.clear()
        self._done_deferred.clear()
        return moved

    def _settle(self, done: Iterable[Future[None]], *, raising: bool = True) -> None:
        for future in done:
            row = self._in_flight.pop(future)
            error = future.exception()
            if error is None:
                self._streak = 0
                self._done_sent.append(row.email)
                self.outcomes.sent.append(row.email)
                self._tell(row.email, "sent")
            elif isinstance(error, TemporaryFailure):
                self._deferred(row, error)
            elif isinstance(error, PermanentFailure):
                self._failed(row.email, str(error), permanent=address_is_dead(error))
            elif isinstance(error, Exception):
                # Not the relay's answer: this reader's message could not be sent at all.
                self._failed(row.email, f"{type(error).__name__}: {error}", permanent=False)
            else:
                self._crash = self._crash or error
                if raising:
                    raise error
            if self._streak >= self.policy.max_consecutive_errors and self._pause is None:
                self._pause = DeliveryError(
                    f"paused: {self._streak} messages in a row failed (last: {error}); fix the"
                    " relay, then run `digest send` again (deferred messages are retried"
                    " automatically; `--retry-failed` queues failed ones)"
                )
                if raising:
                    raise self._pause

    def _deferred(self, row: DeliveryRow, error: TemporaryFailure) -> None:
        ambiguous = isinstance(error, AmbiguousFailure)
        decision = next_try(row, str(error), self.clock(), self.policy, ambiguous=ambiguous)
        if isinstance(decision, str):
            self._failed(row.email, decision, permanent=False)
            return
        self._streak += 1
        self._done_deferred.append(decision)
        retry_at = decision.retry_at.strftime("%Y-%m-%d %H:%M UTC")
        self.outcomes.deferred.append((row.email, f"{error} (next try {retry_at})"))
        self._tell(row.email, "deferred")

    def _failed(self, email: str, error: str, *, permanent: bool) -> None:
        self._streak += 1
        self._done_failed.append((email, error, permanent))
        self.outcomes.failed.append((email, error))
        self._tell(email, "failed")

    def _tell(self, email: str, outcome: str) -> None:
        if self.on_message is not None:
            self.on_message(email, outcome)


def address_is_dead(error: PermanentFailure) -> bool:
    """Whether a relay's 5xx is reason to suppress the address: only a refusal of this
    recipient (at RCPT) that the bounce policy calls hard ("550 5.1.1 user unknown"), never
    one the policy calls soft (a full mailbox, a block: 5.2.2, 5.7.1) nor a refusal of the
    message itself (at DATA: content, size, policy) or of the sender, which is no fault of
    the reader's. The reader's row is `failed` either way."""
    return error.stage == "rcpt" and judge(str(error), "")[0] is Kind.HARD


# How long one thread may hold the interpreter while another waits for it. Python's default
# (5 ms) lets the thread building the next message keep a connection's thread, whose relay has
# answered, waiting longer than a whole message takes to send.
SWITCH_INTERVAL = 0.0002


@contextlib.contextmanager
def _quick_turns() -> Iterator[None]:
    """Shorter turns between threads while messages go out (the setting is the process's; a
    dispatch running beside another may restore it early, which only costs speed)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class Pace(Protocol):
    """Waits until the next message may go to the relay."""

    def wait(self) -> None: ...
    def close(self) -> None: ...


class RateLimit:
    """At most `per_second` messages a second across all connections (0: no limit)."""

    def __init__(
        self,
        per_second: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self.sleep = sleep
        self.monotonic = monotonic
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self.sleep(slot - now)

    def close(self) -> None:
        return None


class SharedRateLimit:
    """At most `per_second` messages a second to one relay across every sender of a server
    store, on every host: each message takes the next slot from the store (the server's
    clock), on a connection of its own (the sending threads share it in turn)."""

    def __init__(
        self,
        location: str,
        relay: str,
        per_second: float,
        sleep: Callable[[float], None] = time.sleep,
        reconnect: float = 60.0,
    ) -> None:
        self.location = location
        self.reconnect = reconnect
        self.relay = relay
        self.interval = 1 / per_second
        self.sleep = sleep
        self._store: Store | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.location, reconnect=self.reconnect)
            delay = self._store.ledger.relay_wait(self.relay, self.interval)
        if delay > 0:
            self.sleep(delay)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def relay_rate_limit(
    store: Store,
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Pace:
    """The relay's pace: kept in the store when several senders may share it (PostgreSQL),
    in this process otherwise."""
    smtp = settings.smtp
    if smtp.rate_limit > 0 and isinstance(settings.database, str):
        return SharedRateLimit(
            settings.database,
            f"{smtp.host}:{smtp.port}",
            smtp.rate_limit,
            sleep,
            settings.database_reconnect_seconds,
        )
    return RateLimit(smtp.rate_limit, sleep, monotonic)


def deliver(
    transport: Transport,
    sender: str,
    recipient: str,
    data: bytes,
    policy: SmtpSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send one message; retry 4xx replies and dropped connections a few times at once, with
    exponential backoff and jitter (retry_delay, 2x, 4x, ... each plus up to as much again at
    random). A message the relay may already have (AmbiguousFailure) is never retried here."""
    for attempt in range(policy.max_retries + 1):
        try:
            transport.send(sender, recipient, data)
            return
        except AmbiguousFailure:
            raise
        except TemporaryFailure:
            if attempt == policy.max_retries:
                raise
            delay = policy.retry_delay * 2**attempt
            sleep(delay + random.uniform(0, delay))
            reconnect = getattr(transport, "reconnect", None)
            if reconnect is not None:
                # A failed reconnect is not fatal: the next attempt connects again or retries.
                with contextlib.suppress(DeliveryError):
                    reconnect()
