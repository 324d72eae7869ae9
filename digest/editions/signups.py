"""Readers joining by themselves: a sign-up mails a confirmation link (double opt-in); the
confirmation makes the reader and mails their first edition. The answer to a sign-up never
says whether the address was known (no enumeration): the caller shows the same page whatever
happened, and the consent log keeps what did."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from digest.clock import Clock
from digest.deliver import PermanentFailure, Transport
from digest.deliver.message import sender_address, sender_domain
from digest.editions.sending import SendReport, send_edition
from digest.errors import DeliveryError, SettingsError, SubscriberError
from digest.models import Frequency, Interest
from digest.profile import ProfileErrors, ProfileInput, validated_row
from digest.proof_of_work import check
from digest.settings import Settings
from digest.signup import (
    CONSENT_TEXT,
    Event,
    Form,
    Refusal,
    Request,
    confirm_token,
    confirmation,
    consent_hash,
    may_mail,
    read_confirm_token,
    recorded_ip,
)
from digest.store import Store
from digest.subscribers import find

NAME = "Trending papers"  # what the confirmation calls the digest


class Outcome(enum.StrEnum):
    """What a sign-up did (for the log and the tests; the requester sees the same page)."""

    MAILED = "mailed"  # a confirmation went out
    ALREADY = "already subscribed"  # a confirmed reader: nothing changes, nothing is mailed
    LIMITED = "limited"  # too many confirmations for this address, IP, or in all
    REFUSED = "refused"  # a filled-in hidden field, or no proof of work


def _secret(settings: Settings) -> str:
    if settings.secret_key is None:
        raise SettingsError("sign-up links are signed: set DIGEST_SECRET_KEY")
    return settings.secret_key.get_secret_value()


def read_confirm_address(settings: Settings, token: str, now: dt.datetime) -> str:
    """The address a confirmation link is for; BadToken, or Expired after confirm_hours."""
    return read_confirm_token(_secret(settings), token, now, settings.signup.confirm_hours)


def log_event(
    store: Store,
    settings: Settings,
    email: str,
    event: str,
    now: dt.datetime,
    request: Request | None = None,
    **extra: str,
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
        **extra,
    )


@dataclass(frozen=True, slots=True)
class Signups:
    """Sign-ups and confirmations over one store."""

    settings: Settings
    clock: Clock

    def request(
        self, store: Store, form: Form, request: Request, transports: Sequence[Transport]
    ) -> Outcome:
        """Ask for a confirmation: SubscriberError names what is wrong with the address, the
        interests, the time zone or the frequency (nothing is kept then). A filled-in trap
        (the form's hidden field) or, with `[signup] proof_of_work`, a proof that is not a
        fresh and unused solution turns the request away before anything is read."""
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
        now, address = self.clock(), row.email
        limits = self.settings.signup
        ip = recorded_ip(request.ip, limits.record_ip)
        signups = store.signups
        person = find(self.settings, store, address)
        if person is not None and store.readers.suppressed(address) is None:
            log_event(store, self.settings, address, Event.REFUSED, now, request)
            return Outcome.ALREADY  # a confirmed reader is never downgraded by a sign-up
        hour = now - dt.timedelta(hours=1)
        sent = signups.times(address, Event.CONFIRMATION_SENT, now - dt.timedelta(days=1))
        crowded = (
            signups.count(Event.REQUESTED, hour, ip=ip) >= limits.per_ip_hourly if ip else False
        ) or signups.count(Event.REQUESTED, hour) >= limits.global_hourly
        if crowded or not may_mail(sent, now):
            log_event(store, self.settings, address, Event.REFUSED, now, request)
            store.signups.refuse(Refusal.LIMITED, now)
            return Outcome.LIMITED
        signups.request(address, {**row.profile, "timezone": row.timezone}, now)
        log_event(
            store,
            self.settings,
            address,
            Event.REQUESTED,
            now,
            request,
            text_hash=consent_hash(CONSENT_TEXT),
        )
        token = confirm_token(_secret(self.settings), address, now)
        link = f"{self.settings.sender.base_url}/confirm/{token}"
        sender = self.settings.sender.from_
        message, message_id = confirmation(sender, address, link, NAME, now, sender_domain(sender))
        transport = transports[0]
        try:
            with transport:
                transport.send(sender_address(sender), address, bytes(message))
        except (DeliveryError, PermanentFailure):
            store.signups.take(address)  # nothing waits for a link that never went out
            raise
        signups.log(address, Event.CONFIRMATION_SENT, self.clock(), message_id=message_id)
        return Outcome.MAILED

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

    def confirm(
        self, store: Store, token: str, request: Request, transports: Sequence[Transport]
    ) -> tuple[str, SendReport | None]:
        """Confirm the sign-up a link was made for: the reader is made (their own consent
        lifts an unsubscribe or a bounce) and gets their first edition now. Confirming
        twice changes nothing. BadToken for a forged link, Expired for an old one."""
        address = read_confirm_address(self.settings, token, self.clock())
        taken = store.signups.take(address)
        if taken is None:
            if find(self.settings, store, address) is not None:
                return address, None  # confirmed already
            raise SubscriberError(
                "this sign-up is no longer waiting for confirmation; sign up again"
            )
        address, profile = taken
        now = self.clock()
        interests = [
            str(Interest(i["phrase"], float(i.get("weight", 1.0))))  # phrase^weight, as typed
            for i in profile.get("interests", [])
        ]
        row = validated_row(
            ProfileInput(
                email=address,
                interests=interests,
                timezone=profile.get("timezone"),
                frequency=str(profile.get("frequency", "daily")),
            )
        )
        store.readers.upsert_subscribers([row], now)
        if store.readers.suppressed(address) is not None:
            store.readers.unsuppress(address)
            store.signups.log(address, Event.RESUBSCRIBED, now)
        log_event(store, self.settings, address, Event.CONFIRMED, now, request)
        if not interests:
            return address, None  # the welcome page's answers bring the first edition
        return address, self.first_edition(store, address, transports)

    def first_edition(
        self, store: Store, address: str, transports: Sequence[Transport]
    ) -> SendReport | None:
        """A new reader's first edition, now (the week's best for them): once they confirmed
        with interests, or once the welcome page gave their profile. None if they were mailed
        an edition before (it is never sent twice)."""
        person = find(self.settings, store, address)
        if person is None or store.ledger.last_planned([person.email]):
            return None
        # It goes out now, whatever day a weekly reader chose for the rest.
        person = replace(person, frequency=Frequency.DAILY)
        return send_edition(
            store, self.settings, list(transports), self.clock, subscribers=[person]
        )
