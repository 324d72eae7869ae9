"""Readers joining by themselves: a sign-up queues a confirmation link (double opt-in); the
confirmation makes the reader and queues their first edition. A request does the same work
whatever the address (no enumeration, not even by its timing): it counts the attempt, keeps
the sign-up under its own id and queues its mail, in one transaction. A worker sends the
queue after the answer (`send_queued`: the web app's own thread, and the daemon for what a
stopped server left); it decides whether the address gets a confirmation at all (not when it
is a reader already, or was mailed too often), and the consent log keeps what happened only
once the reader confirms."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from digest.addresses import limit_key
from digest.clock import Clock
from digest.deliver import Transport
from digest.deliver.message import sender_address, sender_domain
from digest.editions.sending import send_edition, sender_id
from digest.errors import (
    DigestError,
    PermanentFailure,
    ProfileErrors,
    SettingsError,
    SubscriberError,
)
from digest.models import Frequency, Interest
from digest.profile import ProfileInput, validated_row
from digest.proof_of_work import check
from digest.settings import Settings
from digest.signup import (
    CAP_WINDOW,
    CONSENT_TEXT,
    LEGACY_PREFIX,
    Confirming,
    Event,
    Form,
    Refusal,
    Request,
    confirm_token,
    confirmation,
    consent_hash,
    may_mail,
    over_cap,
    rate_key,
    read_confirm_token,
    recorded_ip,
)
from digest.store import Claim, Queued, SignupRow, Store
from digest.subscribers import find

log = logging.getLogger("digest.signup")

NAME = "Trending papers"  # what the confirmation calls the digest
# A worker holds a message it took from the queue this long before another may take it over.
QUEUE_LEASE = dt.timedelta(minutes=5)
# A message the relay could not take now is tried again after 1, 2, 4 … minutes, at most an
# hour apart; a first edition that found another send running, after a minute.
RETRY_CAP = dt.timedelta(hours=1)
BUSY_RETRY = dt.timedelta(minutes=1)


class Outcome(enum.StrEnum):
    """What a sign-up request did (for the log and the tests; the requester sees the same
    page whatever it was)."""

    QUEUED = "queued"  # kept, and its confirmation queued (the worker decides whether it goes)
    LIMITED = "limited"  # too many attempts from this IP, or in all
    REFUSED = "refused"  # a filled-in hidden field, or no proof of work


class Kind(enum.StrEnum):
    """What a queued message is."""

    CONFIRMATION = "confirmation"
    FIRST_EDITION = "first edition"


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What a confirmation did: the reader's address, whether their first edition is queued
    (no: it waits for the welcome page), and whether the link had been used before."""

    email: str
    first_queued: bool = False
    already: bool = False
    # Signed up without interests: nothing to pick by until the welcome page is saved.
    needs_welcome: bool = False


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise SettingsError("sign-up links are signed: set DIGEST_SECRET_KEY")
    return settings.secret_key.get_secret_value()


def log_event(
    store: Store,
    settings: Settings,
    email: str,
    event: str,
    now: dt.datetime,
    request: Request | None = None,
) -> None:
    """One consent event, with where the request came from as `[signup] record_ip` keeps it."""
    given = request or Request()
    store.signups.log(
        email,
        event,
        now,
        ip=recorded_ip(given.ip, settings.signup.record_ip),
        user_agent=given.user_agent,
        page=given.page,
    )


def queue_first_edition(store: Store, email: str, now: dt.datetime) -> bool:
    """Queue a new reader's first edition (the week's best for them), unless they were sent
    an edition before: whether one is queued now."""
    if store.ledger.last_planned([email]):
        return False
    store.signups.enqueue(Kind.FIRST_EDITION, email, "", now)
    return True


@dataclass(frozen=True, slots=True)
class Signups:
    """Sign-ups and confirmations over one store."""

    settings: Settings
    clock: Clock

    # -- in the request ----------------------------------------------------------------

    def request(self, store: Store, form: Form, request: Request) -> Outcome:
        """Ask for a confirmation: SubscriberError names what is wrong with the address, the
        interests, the time zone or the frequency (nothing is kept then). A filled-in trap
        (the form's hidden field) or, with `[signup] proof_of_work`, a proof that is not a
        fresh and unused solution turns the request away before anything is read. Then the
        same writes for every address: the attempt counted, the sign-up kept and its
        confirmation queued, or the attempt counted and refused over a cap."""
        refusal = self._bot(store, form.trap, form.proof)
        if refusal is not None:
            store.signups.refuse(refusal, self.clock())
            return Outcome.REFUSED
        given = ProfileInput(
            email=form.email,
            interests=list(form.interests),
            timezone=form.timezone,
            frequency=form.frequency,
        )
        try:
            row = validated_row(given)
        except ProfileErrors as exc:
            raise SubscriberError(str(exc)) from None
        now = self.clock()
        signup = SignupRow(
            id=secrets.token_hex(16),
            email=row.email,
            profile={**row.profile, "timezone": row.timezone},
            requested_at=now,
            ip=recorded_ip(request.ip, self.settings.signup.record_ip),
            user_agent=request.user_agent,
            page=request.page,
            text_hash=consent_hash(CONSENT_TEXT),
        )
        with store.transaction():
            if not self._admitted(store, request.ip, now):
                store.signups.refuse(Refusal.LIMITED, now)
                return Outcome.LIMITED
            store.signups.add(signup, limit_key(row.email))
            store.signups.enqueue(Kind.CONFIRMATION, row.email, signup.id, now)
        return Outcome.QUEUED

    def _admitted(self, store: Store, ip: str, now: dt.datetime) -> bool:
        """Count this attempt against the caps (every attempt counts, whatever its address
        and however it ends): False when over `global_hourly`, or `per_ip_hourly` for the
        client's IP (counted by a keyed hash of it, whatever `record_ip` keeps)."""
        limits = self.settings.signup
        window = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        into = (now - window) / CAP_WINDOW
        everyone = store.signups.attempt("*", window, CAP_WINDOW)
        if over_cap(everyone, into, limits.global_hourly):
            return False  # the client's own count is not even kept then
        key = rate_key(_secret(self.settings), ip)
        if key is None:
            return True
        counted = store.signups.attempt(key, window, CAP_WINDOW)
        return not over_cap(counted, into, limits.per_ip_hourly)

    def _bot(self, store: Store, trap: str, proof: str) -> str | None:
        """Why a request looks like a bot's (a Refusal), or None."""
        if trap:
            return Refusal.TRAP
        if not self.settings.signup.proof_of_work:
            return None
        checked = check(_secret(self.settings), proof, self.clock())
        if checked is None or not store.signups.spend(checked.signature, checked.expires):
            return Refusal.PROOF
        return None

    def link(self, token: str) -> Confirming:
        """The sign-up a confirmation link names; BadToken, or Expired after confirm_hours."""
        hours = self.settings.signup.confirm_hours
        return read_confirm_token(_secret(self.settings), token, self.clock(), hours)

    def waiting(self, store: Store, token: str) -> SignupRow | None:
        """The sign-up a confirmation link names (confirmed or not), or None when it is gone
        (purged, or never was); BadToken or Expired for the link itself."""
        named = self.link(token)
        found = store.signups.signup(named.signup_id)
        if found is None or (named.legacy and found.requested_at != named.issued):
            return None  # an old link, and its address asked again since: sign up again
        return found

    def confirm(self, store: Store, token: str, request: Request) -> Confirmed:
        """Confirm the sign-up a link was made for, with the profile given in that sign-up:
        the reader is made (their own consent lifts an unsubscribe or a bounce), the consent
        log gets the request, the confirmation mail and this, and their first edition is
        queued; all in one transaction. A used link changes nothing (`already`).
        SubscriberError when the sign-up is gone; BadToken, Expired for the link."""
        with store.transaction():
            signup = self.waiting(store, token)
            if signup is None:
                raise SubscriberError(
                    "this sign-up is no longer waiting for confirmation; sign up again"
                )
            now = self.clock()
            if signup.confirmed_at is not None or not store.signups.confirm(signup.id, now):
                return Confirmed(signup.email, already=True)
            interests = self._make_reader(store, signup, now)
            self._log_consent(store, signup, now, request)
            first = bool(interests) and queue_first_edition(store, signup.email, now)
        return Confirmed(signup.email, first_queued=first, needs_welcome=not interests)

    def _make_reader(self, store: Store, signup: SignupRow, now: dt.datetime) -> list[str]:
        """The reader as the sign-up asked (their interests, as typed)."""
        profile = signup.profile
        interests = [
            str(Interest(i["phrase"], float(i.get("weight", 1.0))))  # phrase^weight, as typed
            for i in profile.get("interests", [])
        ]
        row = validated_row(
            ProfileInput(
                email=signup.email,
                interests=interests,
                timezone=profile.get("timezone"),
                frequency=str(profile.get("frequency", "daily")),
            )
        )
        store.readers.upsert_subscribers([row], now)
        return interests

    def _log_consent(
        self, store: Store, signup: SignupRow, now: dt.datetime, request: Request
    ) -> None:
        """The consent log of a confirmed sign-up: what was asked (and from where), the
        confirmation mailed, the address coming back if it had been stopped, the confirmation.
        Nothing of a sign-up goes there before it is confirmed."""
        address, signups = signup.email, store.signups
        if not signup.id.startswith(LEGACY_PREFIX):  # an older digest logged these at once
            signups.log(
                address,
                Event.REQUESTED,
                signup.requested_at,
                ip=signup.ip,
                user_agent=signup.user_agent,
                page=signup.page,
                text_hash=signup.text_hash,
            )
            if signup.mailed_at is not None:
                at, message_id = signup.mailed_at, signup.message_id
                signups.log(address, Event.CONFIRMATION_SENT, at, message_id=message_id)
        if store.readers.suppressed(address) is not None:
            store.readers.unsuppress(address)
            signups.log(address, Event.RESUBSCRIBED, now)
        log_event(store, self.settings, address, Event.CONFIRMED, now, request)


# -- after the answer: the worker ---------------------------------------------------------


def send_queued(
    settings: Settings,
    transports: Callable[[], Sequence[Transport]],
    clock: Clock,
    should_stop: Callable[[], bool] = lambda: False,
) -> dt.datetime | None:
    """Send the queued mail that is due (confirmations first, then first editions), each
    taken by this worker alone; what the relay cannot take now waits and is tried again.
    Returns when the next queued message is due (None: the queue is empty)."""
    worker = _Worker(settings, transports, clock, Claim(sender_id(), QUEUE_LEASE))
    with Store.open(settings.database, timeout=settings.web.busy_timeout) as store:
        while not should_stop() and (item := store.signups.claim_queued(worker.claim, clock())):
            worker.send(store, item)
        return store.signups.next_queued()


@dataclass(frozen=True, slots=True)
class _Worker:
    """Sends one queued message at a time; settles each in the queue."""

    settings: Settings
    transports: Callable[[], Sequence[Transport]]
    clock: Clock
    claim: Claim

    def send(self, store: Store, item: Queued) -> None:
        try:
            if item.kind == Kind.CONFIRMATION:
                self._confirmation(store, item)
            else:
                self._first_edition(store, item)
        except DigestError as exc:  # the relay, how to reach it, the store: later
            self._later(store, item, str(exc))

    def _later(self, store: Store, item: Queued, error: str) -> None:
        wait = min(dt.timedelta(minutes=2**item.attempts), RETRY_CAP)
        log.warning("queued %s to %s: %s; trying again in %s", item.kind, item.email, error, wait)
        store.signups.requeue(item.id, self.clock() + wait, error)

    def _confirmation(self, store: Store, item: Queued) -> None:
        """Mail a sign-up's link, unless the address is a reader already (nothing is mailed;
        a confirmed reader is never downgraded) or its inbox had confirmations too recently
        (counted by `limit_key`: plus tags and Gmail dots are one inbox)."""
        settings, now = self.settings, self.clock()
        signup = store.signups.signup(item.ref)
        expiry = dt.timedelta(hours=settings.signup.confirm_hours)
        if (
            signup is None
            or signup.confirmed_at is not None
            or signup.mailed_at is not None  # (a worker that stopped before settling it)
            or now - signup.requested_at > expiry
        ):
            store.signups.sent_queued(item.id)  # gone, confirmed, mailed, or too old by now
            return
        address = signup.email
        with store.transaction():  # the limit checked and this mail counted at once
            refusal = self._refusal(store, address, now)
            if refusal is not None:
                store.signups.drop(signup.id)
                store.signups.refuse(refusal, now)
                store.signups.sent_queued(item.id)
                return
            sender = settings.sender.from_
            token = confirm_token(_secret(settings), signup.id, signup.requested_at)
            link = f"{settings.sender.base_url}/confirm/{token}"
            message, message_id = confirmation(
                sender, address, link, NAME, now, sender_domain(sender)
            )
            store.signups.mailed(signup.id, now, message_id)
        try:
            transport = self.transports()[0]
            with transport:
                transport.send(sender_address(sender), address, bytes(message))
        except PermanentFailure as exc:  # the relay refuses this address for good
            log.warning("confirmation to %s refused: %s", address, exc)
            with store.transaction():
                store.signups.drop(signup.id)
                store.signups.refuse(Refusal.UNDELIVERABLE, now)
                store.signups.sent_queued(item.id)
            return
        except BaseException:  # not sent: counted as not mailed, and tried again
            store.signups.unmailed(signup.id)
            raise
        store.signups.sent_queued(item.id)

    def _refusal(self, store: Store, address: str, now: dt.datetime) -> str | None:
        if find(self.settings, store, address) is not None and not store.readers.suppressed(
            address
        ):
            return Refusal.READER
        sent = store.signups.mailed_times(limit_key(address), now - dt.timedelta(days=1))
        return None if may_mail(sent, now) else Refusal.LIMITED

    def _first_edition(self, store: Store, item: Queued) -> None:
        """A new reader's first edition, through the ledger (exactly once, resumable): now,
        whatever day a weekly reader chose for the rest. Another send holding the store's
        send lock is never waited for: the edition waits a minute instead."""
        settings, now = self.settings, self.clock()
        person = find(settings, store, item.email)
        planned = store.ledger.last_planned([item.email])
        earlier = any(moment < item.queued_at for moment in planned.values())
        too_old = now - item.queued_at > dt.timedelta(days=settings.signup.pending_days)
        if person is None or store.readers.suppressed(item.email) or earlier or too_old:
            store.signups.sent_queued(item.id)  # removed, stopped, served, or long past
            return
        report = send_edition(
            store,
            settings,
            list(self.transports()),
            self.clock,
            subscribers=[replace(person, frequency=Frequency.DAILY)],
            wait=False,
        )
        if report.stopped and not report.sent:
            store.signups.requeue(item.id, now + BUSY_RETRY, "another send was running")
            return
        store.signups.sent_queued(item.id)  # sent, or the ledger's to retry (deferred)
