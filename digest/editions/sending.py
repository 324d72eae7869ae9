"""Send an edition: plan it in the ledger, then send each planned row exactly once.

Planning records each subscriber's picks and Message-ID before anything is sent, so a send that
stops halfway resumes with the same content: rows already `sent` are never sent again, rows left
`pending` or `sending` are sent on the next run with the same Message-ID."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from digest.bounces.verp import return_path
from digest.clock import Clock
from digest.deliver.dispatch import Built, Dispatcher, Outgoing, relay_rate_limit
from digest.deliver.message import (
    build_message,
    dkim_sign,
    message_id,
    sender_address,
    sender_domain,
)
from digest.deliver.transports import Transport
from digest.editions.links import links_for, signing_secret
from digest.editions.picks import choose, pick_record, picks_from_row
from digest.editions.views import edition_date, edition_moment, renderer_for
from digest.errors import DeliveryError, DigestError
from digest.models import Delivery, DeliveryState, Edition, Pick, RecordedPick, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.store import Claim, DeliveryRow, Store
from digest.subscribers import all_subscribers, find
from digest.tokens import make_token, signing_keys

log = logging.getLogger("digest.send")


@dataclass(frozen=True, slots=True)
class SendReport:
    edition_id: str
    sent: tuple[str, ...] = ()
    already_sent: tuple[str, ...] = ()
    empty: tuple[str, ...] = ()
    suppressed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    # The send was asked to stop (SIGTERM) before every reader was served.
    stopped: bool = False
    # Temporary failures to be tried again later: (address, why and when).
    deferred: tuple[tuple[str, str], ...] = ()
    # Feed-only readers whose edition went to their Atom feed (never mailed).
    published: tuple[str, ...] = ()
    # Weekly readers whose weekday it is not.
    not_due: tuple[str, ...] = ()
    # Readers this run ranked and recorded in the ledger (0: another sender had planned them).
    planned: int = 0
    # Readers due in this run whom another sender (PostgreSQL) served meanwhile: never claimed
    # by this one, or taken over from it when its lease ran out.
    elsewhere: tuple[str, ...] = ()


def subscribers_from(settings: Settings, store: Store | None = None) -> list[Subscriber]:
    """Every subscriber: the settings' `[[subscribers]]` and the store's table."""
    return all_subscribers(settings, store)


def stop_on_signals(
    stop: threading.Event, announce: Callable[[str], None], *, again_interrupts: bool = False
) -> None:
    """SIGTERM or Ctrl-C set `stop`: a send watching it (should_stop) starts no new message
    and lets the one in flight finish and be recorded. With `again_interrupts`, a second
    signal interrupts at once (KeyboardInterrupt)."""

    def request_stop(signum: int, _frame: object) -> None:
        if again_interrupts and stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        announce(f"{signal.Signals(signum).name}: finishing the message in flight")

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


@contextlib.contextmanager
def sender_lock(
    store: Store,
    should_stop: Callable[[], bool] = lambda: False,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[bool]:
    """Hold a SQLite file's sender lock: one send at a time, across processes and threads.

    On SQLite a second `digest send` (or a daemon job, or cron) waits for the first, which
    keeps the file's writes short and in one hand. Yields False, holding nothing, if
    `should_stop()` turned true while waiting. On PostgreSQL senders share an edition by
    claiming rows (see Ledger.claim) and hold no lock."""
    path = store.database.send_lock_file
    if path is None:
        yield True
        return
    try:
        handle = path.open("a")
    except OSError as exc:
        raise DeliveryError(f"cannot create the send lock {path} ({exc.strerror})") from None
    with handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if should_stop():
                    yield False
                    return
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _busy() -> bool:
    """Stop waiting for the send lock at once."""
    return True


def send_edition(
    store: Store,
    settings: Settings,
    transport: Transport | Sequence[Transport],
    clock: Clock,
    *,
    subscribers: Sequence[Subscriber] | None = None,
    dry_run: bool = False,
    renderer: Renderer | None = None,
    on_message: Callable[[str, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timezone: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_wait: Callable[[], None] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    date: dt.date | None = None,
    wait: bool = True,
) -> SendReport:
    """Plan and send today's edition to every subscriber not yet served; safe to re-run.

    The edition is today's date in `timezone` (default: the settings' time zone), or `date`
    (today or an earlier day: its candidates are the papers first seen by its end). When
    `should_stop()` turns true, no further message is started: those in flight finish and are
    recorded, the rest stay `pending` for the next run, and the report says `stopped`. Only
    one send runs per database at a time (see sender_lock); `on_wait` is told if this one
    has to wait. Without `wait` it never waits: another send holding the lock makes this one
    return at once, `stopped` with nothing sent (a worker tries again later)."""
    # A dry run records nothing, so it needs no lock.
    busy = should_stop if wait else _busy
    lock = contextlib.nullcontext(True) if dry_run else sender_lock(store, busy, on_wait)
    with lock as held:
        if not held:
            day = date or edition_date(clock(), timezone or settings.timezone)
            return SendReport(edition_id=day.isoformat(), stopped=True)
        return _send_edition(
            store,
            settings,
            transport,
            clock,
            subscribers=subscribers,
            dry_run=dry_run,
            renderer=renderer,
            on_message=on_message,
            sleep=sleep,
            timezone=timezone,
            should_stop=should_stop,
            monotonic=monotonic,
            date=date,
        )


def _send_edition(
    store: Store,
    settings: Settings,
    transport: Transport | Sequence[Transport],
    clock: Clock,
    *,
    subscribers: Sequence[Subscriber] | None,
    dry_run: bool,
    renderer: Renderer | None,
    on_message: Callable[[str, str], None] | None,
    sleep: Callable[[float], None],
    timezone: str | None,
    should_stop: Callable[[], bool],
    monotonic: Callable[[], float],
    date: dt.date | None,
) -> SendReport:
    now = clock()
    zone = timezone or settings.timezone
    day = date or edition_date(now, zone)
    moment = edition_moment(day, zone, now)
    edition_id = day.isoformat()
    builder = _Builder(settings, renderer, clock, ephemeral=dry_run)
    everyone = subscribers if subscribers is not None else subscribers_from(settings, store)
    skipped = _Skipped()
    people = []
    for person in everyone:  # a weekly reader only on their weekday (in their time zone)
        if person.due_on(day if date else edition_date(now, person.timezone)):
            people.append(person)
        else:
            skipped.not_due.append(person.email)
    # Several senders on one server plan an edition once: the first ranks and records it, the
    # others wait for that and find it planned. (SQLite: the send lock already serialises.)
    planning = f"plan {edition_id}"
    if not dry_run and not store.database.lock_within(
        planning, settings.smtp.planning_wait_seconds
    ):
        # The planner hangs (stopped, or a machine that froze): plan here too. Rows another
        # planner recorded first are kept as they are, so readers get one plan either way.
        log.warning(
            "edition %s: another sender has been planning it for %g s; planning it here too",
            edition_id,
            settings.smtp.planning_wait_seconds,
        )
    try:
        plan = _plan(store, settings, people, edition_id, now, builder, moment)
        claim = None if dry_run else Claim(sender_id(), settings.smtp.claim_lease)
        sending = _Sending(
            store, settings, transport, clock, builder, sleep, on_message, monotonic, claim
        )

        claims = _Claims(store, claim, plan, builder, day, clock, sleep)

        def messages() -> Iterator[Built]:
            """Each reader's message, built while the previous ones are on the wire."""
            # Planned only once the relay answered (the dispatcher has connected), so an
            # unreachable relay records nothing; one transaction for the whole plan.
            if not dry_run:
                plan.record(store)
                store.database.unlock(planning)
            due = _due_rows(store, plan, people, skipped, now, dry_run=dry_run)
            verb = "would publish" if dry_run else "published"
            for email in skipped.published:
                if on_message is not None:
                    on_message(email, f"{verb} to the feed")
            if claim is None:  # a dry run: every due reader, nothing claimed
                for person, row in due:
                    yield builder.build(Edition(edition_id, day, person, plan.picks(row)), row)
                return
            claims.readers.update((person.email, person) for person, _ in due)
            yield from claims.messages()

        if dry_run:
            return _dry_run(edition_id, messages(), plan, skipped, on_message)
        with _running(claim):
            report = sending.dispatch(
                edition_id,
                messages(),
                skipped,
                should_stop,
                planned=plan.count,
                again=claims.again,
            )
        # Due readers this sender never claimed: other senders served them (unless it
        # stopped), or they unsubscribed meanwhile (their rows withdrawn: suppressed).
        never = () if report.stopped else tuple(claims.readers)
        withdrawn = _withdrawn(store, edition_id, never)
        return replace(
            report,
            suppressed=(*report.suppressed, *withdrawn),
            elsewhere=(*report.elsewhere, *(e for e in never if e not in withdrawn)),
        )
    finally:
        store.database.unlock(planning)
        if claim is not None:  # every message of this run has been settled by now
            store.ledger.release(edition_id, claim.sender)


def _withdrawn(store: Store, edition_id: str, emails: Sequence[str]) -> set[str]:
    """Of these readers, those whose row this edition withdrew (they unsubscribed)."""
    if not emails:
        return set()
    wanted = set(emails)
    return {
        row.email
        for row in store.ledger.deliveries(edition_id)
        if row.email in wanted and row.state == DeliveryState.SUPPRESSED
    }


@dataclass(slots=True)
class _Plan:
    """An edition's ranking for the readers not planned yet, and the picks each message has."""

    edition_id: str
    now: dt.datetime
    message_id: Callable[[str, str], str]  # (edition, address) → its signed Message-ID
    send_empty: bool
    unplanned: list[Subscriber]
    fresh: dict[str, list[Pick]]
    store: Store
    chosen: dict[str, tuple[Pick, ...]] = field(default_factory=dict)
    # Readers whose quiet day is a note alone: their edition goes out though it has no papers.
    notes: frozenset[str] = frozenset()

    @property
    def count(self) -> int:
        return len(self.unplanned)

    def records(self, email: str) -> list[RecordedPick]:
        return [pick_record(pick) for pick in self.fresh[email]]

    def record(self, store: Store) -> None:
        """The readers' rows, in one transaction (a row already there is kept as it is)."""
        store.ledger.plan_deliveries(
            [
                (
                    self.edition_id,
                    p.email,
                    self.message_id(self.edition_id, p.email),
                    self.records(p.email),
                )
                for p in self.unplanned
            ],
            self.now,
            send_empty=self.send_empty,
            always=self.notes,
        )

    def picks(self, row: DeliveryRow) -> tuple[Pick, ...]:
        """Picks ranked in this run are at hand; a resumed row reads its recorded ones back."""
        fresh = self.fresh.get(row.email)
        recorded = [pick.paper_id for pick in row.picks]
        if fresh is not None and recorded == [pick.paper_id for pick in fresh]:
            self.chosen[row.email] = tuple(fresh)
        else:
            self.chosen[row.email] = picks_from_row(self.store, row)
        return self.chosen[row.email]


def _plan(
    store: Store,
    settings: Settings,
    people: Sequence[Subscriber],
    edition_id: str,
    now: dt.datetime,
    builder: _Builder,
    moment: dt.datetime,
) -> _Plan:
    """Everyone not planned yet is ranked in one vectorised call, as of `moment` (the
    edition's day); planned rows resume as they are."""
    planned = {row.email for row in store.ledger.deliveries(edition_id)}
    unplanned = [p for p in people if p.email not in planned]
    chosen = choose(store, settings, unplanned, moment, past=moment != now)
    send_empty = settings.email.send_empty
    return _Plan(
        edition_id,
        now,
        builder.message_id,
        send_empty,
        unplanned,
        chosen.picks,
        store,
        notes=chosen.notes,
    )


def _due_rows(
    store: Store,
    plan: _Plan,
    people: Sequence[Subscriber],
    skipped: _Skipped,
    now: dt.datetime,
    *,
    dry_run: bool,
) -> list[tuple[Subscriber, DeliveryRow]]:
    """The readers whose message goes out in this run, with their rows; the others are
    counted where they belong, and feed-only readers' editions published (one transaction)."""
    ledger = {row.email: row for row in store.ledger.deliveries(plan.edition_id)}
    due: list[tuple[Subscriber, DeliveryRow]] = []
    for person in people:
        row = ledger.get(person.email)
        if row is None:  # a dry run records nothing, so its rows are made here
            row = store.ledger.plan_delivery(
                plan.edition_id,
                person.email,
                plan.message_id(plan.edition_id, person.email),
                plan.records(person.email),
                now,
                dry_run=True,
                send_empty=plan.send_empty or person.email in plan.notes,
            )
        if not skipped.due(row, now):
            continue
        if person.delivery is Delivery.FEED:  # their feed shows the row: nothing to mail
            skipped.published.append(person.email)
        else:
            due.append((person, row))
    if skipped.published and not dry_run:
        store.ledger.record_progress(plan.edition_id, now, published=skipped.published)
    return due


# Rows a sender claims at once: few when senders share an edition (PostgreSQL), so that they
# spread over it; more when one sends alone (each claim is a query and a transaction).
CLAIM_BATCH = 16
CLAIM_BATCH_ALONE = 128


def _claimed(
    store: Store,
    claim: Claim,
    edition_id: str,
    emails: Sequence[str],
    clock: Clock,
    chunk: int = 512,
) -> Iterator[DeliveryRow]:
    """The rows of these readers that this sender can claim now, a few at a time. Readers are
    asked for a chunk at a time (a run may serve only some of an edition's readers: one time
    zone, one address), each sender starting at a chunk of its own so that several spread
    over the edition. Rows another live sender holds are left to it. On a SQLite file, where
    one sender runs at a time, a claim takes more rows at once: nobody else wants them."""
    batch = CLAIM_BATCH if store.database.server else CLAIM_BATCH_ALONE
    ordered = sorted(emails)
    chunks = [ordered[start : start + chunk] for start in range(0, len(ordered), chunk)]
    first = random.randrange(len(chunks)) if chunks else 0
    for part in chunks[first:] + chunks[:first]:
        while rows := store.ledger.claim(edition_id, claim, clock(), batch, emails=part):
            yield from rows


@dataclass(slots=True)
class _Claims:
    """A sender's rounds over an edition: the readers it claims and builds messages for, and
    between rounds (every message of the last one settled and recorded), the wait for what
    other senders still hold: nothing when they finish it, a dead sender's readers when it
    is seen dead on this host or its lease runs out."""

    store: Store
    claim: Claim | None
    plan: _Plan
    builder: _Builder
    day: dt.date
    clock: Clock
    sleep: Callable[[float], None]
    readers: dict[str, Subscriber] = field(default_factory=dict)  # due, not claimed yet

    def messages(self) -> Iterator[Built]:
        assert self.claim is not None
        edition_id = self.plan.edition_id
        for row in _claimed(self.store, self.claim, edition_id, list(self.readers), self.clock):
            person = self.readers.pop(row.email)
            edition = Edition(edition_id, self.day, person, self.plan.picks(row))
            yield self.builder.build(edition, row)

    def again(self) -> Iterator[Built] | None:
        """The next round, once there may be something to claim; None when this sender is
        done (no reader of its left unfinished by anyone)."""
        if self.claim is None or not self.readers:
            return None
        store, edition_id = self.store, self.plan.edition_id
        holders = store.ledger.holders(edition_id, self.claim, self.clock(), self.readers)
        if not holders:
            return None
        dead = [holder for holder in holders if _died_here(holder)]
        for holder in dead:  # no need to wait out the lease of a sender seen dead
            store.ledger.release(edition_id, holder)
        if not dead:  # a live sender finishes its rows, or its lease runs out
            until = min(holders.values())  # on the store's clock, as every lease
            left = (until - store.now(self.clock())).total_seconds()
            self.sleep(min(1.0, max(0.05, left)))
        return self.messages()


def _dry_run(
    edition_id: str,
    messages: Iterator[Built],
    plan: _Plan,
    skipped: _Skipped,
    on_message: Callable[[str, str], None] | None,
) -> SendReport:
    """Build every message and say what each reader would get; record and send nothing."""
    sent = []
    for item in messages:
        if isinstance(item, Outgoing):
            sent.append(item.row.email)
            if on_message:  # what the reader would get: how many papers, which first
                picks = plan.chosen[item.row.email]
                lead = f" · lead: {picks[0].paper.title}" if picks else ""
                count = f"{len(picks)} paper{'' if len(picks) == 1 else 's'}"
                on_message(f"{item.row.email} · {count}{lead}", "would send")
    return skipped.report(edition_id, sent=sent, dry_run=True)


def in_progress(store: Store, edition_id: str, now: dt.datetime) -> bool:
    """Whether a live sender is sending this edition now: on a SQLite file, one holds the
    send lock; on a server, one holds unfinished rows on a lease that has not run out (a
    sender seen dead on this host does not count)."""
    if store.database.send_lock_file is not None:
        with sender_lock(store, should_stop=lambda: True) as free:
            return not free
    unfinished = store.ledger.unfinished(edition_id)
    if not unfinished:
        return False
    nobody = Claim(sender_id(), dt.timedelta(0))
    holders = store.ledger.holders(edition_id, nobody, now, unfinished)
    return any(not _died_here(holder) for holder in holders)


def sender_id() -> str:
    """This process among every sender of a store: host, process, and a nonce (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# The senders (claims) running in this process now. A claim of this process that is not
# among them belongs to a run that ended without giving its rows back: the database went away
# before it could (a daemon's next run must not wait for that run's leases).
_RUNNING: set[str] = set()
_RUNNING_LOCK = threading.Lock()


@contextlib.contextmanager
def _running(claim: Claim | None) -> Iterator[None]:
    if claim is None:
        yield
        return
    with _RUNNING_LOCK:
        _RUNNING.add(claim.sender)
    try:
        yield
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(claim.sender)


def _died_here(sender: str) -> bool:
    """Whether a sender ran on this host in a process that no longer exists, or in this
    process in a run that has ended."""
    host, _, rest = sender.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        with _RUNNING_LOCK:
            return sender not in _RUNNING
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True, slots=True)
class _Sending:
    """What every dispatch of a run shares: the store, the connections, the message builder."""

    store: Store
    settings: Settings
    transport: Transport | Sequence[Transport]
    clock: Clock
    builder: _Builder
    sleep: Callable[[float], None]
    on_message: Callable[[str, str], None] | None
    monotonic: Callable[[], float] = time.monotonic
    claim: Claim | None = None

    def dispatch(
        self,
        edition_id: str,
        messages: Iterator[Built],
        skipped: _Skipped,
        should_stop: Callable[[], bool],
        *,
        planned: int = 0,
        again: Callable[[], Iterator[Built] | None] = lambda: None,
    ) -> SendReport:
        """Send one edition's messages; the report adds what was sent to what was skipped."""
        transport = self.transport
        dispatcher = Dispatcher(
            self.store,
            edition_id,
            list(transport) if isinstance(transport, Sequence) else [transport],
            lambda recipient: self.builder.envelope(edition_id, recipient),
            self.settings.smtp,
            self.clock,
            sleep=self.sleep,
            on_message=self.on_message,
            monotonic=self.monotonic,
            claim=self.claim,
            rate_limit=relay_rate_limit(self.store, self.settings, self.sleep, self.monotonic),
        )
        stopped = dispatcher.run(messages, should_stop)
        # Rounds until `again` has none: each starts with every earlier message recorded.
        while not stopped and (more := again()) is not None:
            stopped = dispatcher.run(more, should_stop)
        done = dispatcher.outcomes
        return skipped.report(
            edition_id,
            sent=done.sent,
            failed=done.failed,
            deferred=done.deferred,
            withdrawn=done.withdrawn,
            taken=done.taken,
            stopped=stopped,
            planned=planned,
        )


@dataclass(slots=True)
class _Skipped:
    """Ledger rows a run does not send, by why."""

    already: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # deferred, not due yet
    published: list[str] = field(default_factory=list)  # feed-only readers, served in this run
    not_due: list[str] = field(default_factory=list)  # weekly readers on another weekday

    def due(self, row: DeliveryRow, now: dt.datetime) -> bool:
        """Whether this row is sent in this run; if not, it is counted where it belongs."""
        state = row.state
        if state in (DeliveryState.SENT, DeliveryState.PUBLISHED):
            self.already.append(row.email)
        elif state == DeliveryState.SUPPRESSED:
            self.suppressed.append(row.email)
        elif state == DeliveryState.EMPTY:
            self.empty.append(row.email)
        elif state == DeliveryState.FAILED:
            self.failed.append((row.email, row.error or "failed"))
        elif state == DeliveryState.DEFERRED and row.retry_at is not None and row.retry_at > now:
            when = row.retry_at.strftime("%Y-%m-%d %H:%M UTC")
            self.waiting.append((row.email, f"{row.error or 'deferred'} (next try {when})"))
        else:
            return True
        return False

    def report(
        self,
        edition_id: str,
        *,
        sent: Sequence[str],
        failed: Sequence[tuple[str, str]] = (),
        deferred: Sequence[tuple[str, str]] = (),
        withdrawn: Sequence[str] = (),
        taken: Sequence[str] = (),
        dry_run: bool = False,
        stopped: bool = False,
        planned: int = 0,
    ) -> SendReport:
        return SendReport(
            planned=planned,
            edition_id=edition_id,
            sent=tuple(sent),
            already_sent=tuple(self.already),
            empty=tuple(self.empty),
            suppressed=(*self.suppressed, *withdrawn),
            failed=(*self.failed, *failed),
            deferred=(*self.waiting, *deferred),
            dry_run=dry_run,
            stopped=stopped,
            published=tuple(self.published),
            not_due=tuple(self.not_due),
            elsewhere=tuple(taken),
        )


class _Builder:
    """Turns a reader's edition into the bytes for the relay: render, MIME, DKIM. A reader
    whose message cannot be built is a (row, reason) pair, recorded `failed`."""

    def __init__(
        self, settings: Settings, renderer: Renderer | None, clock: Clock, *, ephemeral: bool
    ) -> None:
        self.settings = settings
        self.secret = signing_secret(settings, ephemeral=ephemeral)
        make_token(self.secret, "check@example.org")  # fail before sending if the key is unusable
        self.keys = signing_keys(self.secret)
        self.domain = sender_domain(settings.sender.from_)
        self.envelope_from = sender_address(settings.sender.from_)
        self.renderer = renderer or renderer_for(settings)
        self.clock = clock

    def message_id(self, edition_id: str, email: str) -> str:
        """This reader's signed Message-ID for this edition (the first key signs)."""
        return message_id(edition_id, email, self.domain, self.keys[0])

    def envelope(self, edition_id: str, recipient: str) -> str:
        """Where a bounce of this reader's copy goes: `[sender] return_path` as a VERP address
        naming them and the edition, else the From address."""
        base = self.settings.sender.return_path
        if not base:
            return self.envelope_from
        return return_path(base, self.keys, edition_id, recipient)

    def build(self, edition: Edition, row: DeliveryRow) -> Built:
        settings = self.settings
        person = edition.subscriber
        try:
            links = links_for(
                settings, self.secret, edition.edition_id, person.email, picks=edition.picks
            )
            email = self.renderer.render(edition, links)
            data = build_message(
                email,
                sender=settings.sender.from_,
                recipient=person.email,
                recipient_name=person.name,
                message_id=row.message_id,
                unsubscribe_url=links.unsubscribe,
                date=self.clock(),
                unsubscribe_mailto=settings.sender.unsubscribe_mailto,
            )
            if settings.dkim.private_key is not None:
                data = dkim_sign(
                    data,
                    selector=settings.dkim.selector,
                    domain=settings.dkim.domain or self.domain,
                    private_key=settings.dkim.private_key.get_secret_value(),
                )
        except (ValueError, UnicodeError, DigestError) as exc:
            return row, f"could not build the message: {exc}"
        return Outgoing(row, data)


def retry_deferred(
    store: Store,
    settings: Settings,
    transport: Transport | Sequence[Transport],
    clock: Clock,
    *,
    renderer: Renderer | None = None,
    on_message: Callable[[str, str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    on_wait: Callable[[], None] | None = None,
) -> list[SendReport]:
    """Send every deferred message whose time has come, of any edition, with its recorded
    picks and Message-ID (the daemon runs this every few minutes; `digest send` first thing).
    Holds the sender lock like a send (only when something is due)."""
    if not store.ledger.due_retries(clock()):
        return []
    with sender_lock(store, should_stop, on_wait) as held:
        if not held:
            return []
        now = clock()
        due: dict[str, list[DeliveryRow]] = {}
        for row in store.ledger.due_retries(now):
            due.setdefault(row.edition_id, []).append(row)
        if not due:
            return []
        builder = _Builder(settings, renderer, clock, ephemeral=False)
        # Claimed like a send's rows: two daemons retrying at once never take the same row.
        claim = Claim(sender_id(), settings.smtp.claim_lease)
        sending = _Sending(
            store, settings, transport, clock, builder, sleep, on_message, claim=claim
        )
        reports = []
        for edition_id, rows in due.items():
            day = dt.date.fromisoformat(edition_id)

            def messages(rows: list[DeliveryRow] = rows, day: dt.date = day) -> Iterator[Built]:
                emails = [row.email for row in rows]
                claimed = store.ledger.claim(
                    day.isoformat(), claim, clock(), len(rows), emails=emails
                )
                for row in claimed:
                    person = find(settings, store, row.email) or Subscriber(email=row.email)
                    picks = picks_from_row(store, row)
                    yield builder.build(Edition(row.edition_id, day, person, picks), row)

            try:
                with _running(claim):
                    report = sending.dispatch(edition_id, messages(), _Skipped(), should_stop)
                reports.append(report)
            finally:
                store.ledger.release(edition_id, claim.sender)
            if reports[-1].stopped:
                break
        return reports
