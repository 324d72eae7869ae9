"""Bounces and complaints that came back after the relay accepted a message: each is
classified (digest.bounces), tied to the reader it is about (the VERP return path, else the
returned Message-ID, else a failed recipient who is a reader), kept once, and acted on by the
policy (digest.bounces.policy). A message about nobody we mail changes nothing."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email.message import Message
from email.utils import getaddresses
from typing import Any

from digest.bounces import Kind, Reason, Verdict, classify, understand
from digest.bounces.parsing import parse
from digest.bounces.policy import Action, decide, reason
from digest.bounces.providers import ProviderEvent
from digest.bounces.reading import Raw
from digest.bounces.verp import address_hash, read_return_path
from digest.clock import Clock
from digest.deliver.message import signed_message_id
from digest.errors import TooComplex
from digest.settings import Settings
from digest.store import BounceEvent, Store
from digest.subscribers import find
from digest.tokens import signing_keys

log = logging.getLogger("digest.bounces")

# Headers a bounce carries its envelope recipient in (our VERP address).
_ENVELOPE = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


@dataclass(frozen=True, slots=True)
class Processed:
    """One message and what came of it (a line of `digest bounces process`)."""

    source: str
    kind: str
    recipients: tuple[str, ...] = ()
    reason: str = ""  # why it came back: user unknown, mailbox full, spam, opt-out…
    status: str = ""
    reader: str | None = None
    action: str = Action.NONE
    edition: str | None = None
    note: str = ""
    kept_aside: bool = False  # not read (the note says why); a mailbox flags it, never again

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "reason": self.reason,
            "recipients": list(self.recipients),
            "status": self.status,
            "reader": self.reader,
            "action": self.action,
            "edition": self.edition,
            "note": self.note,
            "kept_aside": self.kept_aside,
        }


@dataclass(frozen=True, slots=True)
class AsideLog:
    """The messages a POP3 mailbox kept aside unread, kept as events about nobody (by their
    UIDL), so that they are never fetched again."""

    store: Store
    clock: Clock

    def known(self, key: str) -> bool:
        return self.store.bounces.seen(key)

    def keep(self, key: str, source: str, reason: str) -> None:
        event = BounceEvent(key, "", self.clock(), "unreadable", diagnostic=reason, source=source)
        self.store.bounces.record(event)


def process(
    store: Store, settings: Settings, raw: Raw, now: dt.datetime, *, dry_run: bool
) -> Processed:
    """Classify, match and (unless `dry_run`) record and act on one message. One that cannot
    be read (too large, too complex, not a message file) is kept aside: nothing is done."""
    if raw.data is None:
        return _aside(raw.source, raw.problem)
    try:
        message = parse(raw.data)
        verdict = classify(message)
    except TooComplex as exc:
        return _aside(raw.source, str(exc))
    except (RecursionError, ValueError, LookupError, TypeError, AttributeError) as exc:
        # What the email package may still trip on in a hostile message: never the poll's end.
        log.warning("%s: could not be read", raw.source, exc_info=True)
        return _aside(raw.source, f"could not be parsed ({type(exc).__name__})")
    reader, edition = _reader(store, settings, message, verdict)
    return _act(store, settings, (raw.key, raw.source), verdict, (reader, edition), now, dry_run)


def _aside(source: str, problem: str) -> Processed:
    return Processed(source, Kind.UNRECOGNISED, note=f"not read: {problem}", kept_aside=True)


def process_events(
    store: Store, settings: Settings, events: list[ProviderEvent], source: str, now: dt.datetime
) -> list[Processed]:
    """A provider's verified webhook events: each tied to its reader (the Message-ID we sent,
    else the recipient), kept once by the provider's event id, and acted on."""
    done = []
    for event in events:
        verdict = Verdict(
            event.kind, (event.recipient,), event.status, event.diagnostic, event.original_id,
            _provider_reason(event),
        )  # fmt: skip
        reader, edition = _matched(store, settings, verdict)
        done.append(
            _act(store, settings, (event.event_id, source), verdict, (reader, edition), now, False)
        )
    return done


def _act(
    store: Store,
    settings: Settings,
    origin: tuple[str, str],
    verdict: Verdict,
    matched: tuple[str | None, str | None],
    now: dt.datetime,
    dry_run: bool,
) -> Processed:
    """Decide (the policy), and unless `dry_run` keep the event and act on it."""
    (key, source), (reader, edition) = origin, matched
    base = Processed(source, verdict.kind, verdict.recipients, verdict.reason, verdict.status)
    if reader is None:
        return base
    if store.bounces.seen(key):
        return _replace(base, reader=reader, edition=edition, note="processed before")
    since = now - dt.timedelta(days=settings.bounces.soft_days)
    soft = store.bounces.soft_since(reader, since) + (verdict.kind is Kind.SOFT)
    action = decide(verdict.kind, soft, settings.bounces.soft_limit)
    if not dry_run:
        event = BounceEvent(
            key, reader, now, verdict.kind, verdict.status, verdict.diagnostic, source, edition,
            action, verdict.reason,
        )  # fmt: skip
        if store.bounces.record(event) and action in (Action.SUPPRESSED, Action.UNSUBSCRIBED):
            why = reason(verdict, action, soft, settings.bounces.soft_days)
            store.readers.unsubscribe(reader, now, reason=why)
    return _replace(base, reader=reader, edition=edition, action=action)


def _provider_reason(event: ProviderEvent) -> Reason:
    """Why a provider's event happened: the server's code and words where it passed them on,
    else what its kind alone says."""
    if event.kind is Kind.COMPLAINT:
        return Reason.OPT_OUT if event.diagnostic in ("opt-out", "unsubscribe") else Reason.ABUSE
    if event.kind not in (Kind.HARD, Kind.SOFT):
        return Reason.NONE
    said = understand(f"{event.status} {event.diagnostic}", "")
    if (said.kind is Kind.HARD) is (event.kind is Kind.HARD):
        return said.reason
    return Reason.USER_UNKNOWN if event.kind is Kind.HARD else Reason.OTHER


def _replace(done: Processed, **changes: Any) -> Processed:
    return replace(done, **changes)


def _reader(
    store: Store, settings: Settings, message: Message, verdict: Verdict
) -> tuple[str | None, str | None]:
    """Who the message is about, and which edition: by our VERP return path, else as
    `_matched` finds them. With VERP on, a report that carries neither our signed token nor
    one of our signed Message-IDs names nobody: anyone may mail the bounce address, and a
    made-up report (a computed old-form Message-ID in its returned headers, a References
    line, a Final-Recipient) must not unsubscribe a reader. Without VERP, reports are
    trusted on their word (`digest status` says so: `trust`)."""
    base = settings.sender.return_path
    if not base:
        return _matched(store, settings, verdict)
    keys = signing_keys(settings.secret_key.get_secret_value() if settings.secret_key else "")
    for header in _ENVELOPE:
        for _, address in getaddresses([str(v) for v in message.get_all(header, [])]):
            returned = read_return_path(address, base, keys)
            if returned is None:
                continue
            for row in store.ledger.deliveries(returned.edition_id):
                if address_hash(row.email) == returned.reader_hash:
                    return row.email, returned.edition_id
    return _matched(store, settings, verdict, signed_by=keys)


def _matched(
    store: Store,
    settings: Settings,
    verdict: Verdict,
    *,
    signed_by: Sequence[str] | None = None,
) -> tuple[str | None, str | None]:
    """The reader by the returned message's Message-ID (with `signed_by`, only one those
    keys signed, and nobody by their address), else a recipient who is a reader."""
    if verdict.original_id:
        carried = store.ledger.by_message_id(verdict.original_id)
        if carried is not None and (
            signed_by is None
            or signed_message_id(carried.message_id, carried.edition_id, carried.email, signed_by)
        ):
            return carried.email, carried.edition_id
    if signed_by is not None:
        return None, None
    for address in verdict.recipients:
        person = find(settings, store, address)
        if person is not None:
            return person.email, store.ledger.latest_mailed(person.email)
    return None, None


class Trust(enum.StrEnum):
    """How far mailed reports are believed (`bounce_trust` in `digest status --json`)."""

    SIGNED = "signed"  # VERP on: only our signed token or a signed Message-ID names a reader
    UNVERIFIED = "unverified"  # no VERP: a report is trusted on its word


def trust(settings: Settings) -> tuple[Trust, str]:
    """How far mailed reports are believed under these settings, and a line that says so."""
    if settings.sender.return_path:
        return Trust.SIGNED, (
            "bounce mail names a reader only by our signed VERP address or a signed"
            " Message-ID ([sender] return_path is set)"
        )
    return Trust.UNVERIFIED, (
        "bounce mail is trusted on its word: a report naming a reader as its recipient"
        " suppresses or unsubscribes them, whoever wrote it; it is read only from [bounces]"
        " mailbox and the paths given to `digest bounces process`; set [sender] return_path"
        " (VERP) to act only on reports to our signed addresses"
    )
