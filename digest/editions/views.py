"""Editions read, not sent: the next one (preview), one that went out (archive), all that went
out (archive list and Atom feed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import replace

from digest.clock import Clock
from digest.editions.links import links_for, signing_secret
from digest.editions.picks import choose_picks, picks_from_row
from digest.errors import DigestError
from digest.models import DeliveryState, Edition, Email, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.store import DeliveryRow, Store
from digest.subscribers import find


def edition_date(now: dt.datetime, timezone: str) -> dt.date:
    """The date of the edition that goes out at `now` in `timezone`."""
    return now.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def edition_moment(day: dt.date, timezone: str, now: dt.datetime) -> dt.datetime:
    """The moment the edition of `day` is ranked at: `now` for today's; for an earlier day,
    the last moment of that day in `timezone` (the papers first seen by then are its
    candidates). A day that has not begun there has no edition yet."""
    zone = zoneinfo.ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if day > today:
        raise DigestError(
            f"no edition of {day.isoformat()} yet: it is {today.isoformat()} in {timezone};"
            " give today's date or an earlier one"
        )
    if day == today:
        return now
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC)


def renderer_for(settings: Settings) -> Renderer:
    return Renderer(settings.templates, settings.email.subject, settings.email.preheader)


def preview(
    store: Store,
    settings: Settings,
    subscriber: Subscriber,
    clock: Clock,
    renderer: Renderer | None = None,
    *,
    date: dt.date | None = None,
) -> Email:
    """Render what this subscriber's next digest would hold, without recording anything;
    with `date`, their edition of that day (today or earlier) as it would be ranked now."""
    now = clock()
    day = date or edition_date(now, settings.timezone)
    moment = edition_moment(day, settings.timezone, now)
    chosen = choose_picks(store, settings, [subscriber], moment, past=moment != now)
    picks = chosen[subscriber.email]
    secret = signing_secret(settings, ephemeral=True)
    edition = Edition(day.isoformat(), day, subscriber, tuple(picks))
    links = links_for(
        settings, secret, edition.edition_id, subscriber.email, inert=True, picks=edition.picks
    )
    return (renderer or renderer_for(settings)).render(edition, links)


def archived(
    store: Store,
    settings: Settings,
    edition_id: str,
    email: str,
    renderer: Renderer | None = None,
) -> Email | None:
    """The edition as it was mailed to this address (None if it never went out), rendered
    from the ledger's recorded picks: the "view in browser" page."""
    row = store.ledger.delivery(edition_id, email)
    if row is None or row.state not in (DeliveryState.SENT, DeliveryState.PUBLISHED):
        return None
    person = find(settings, store, row.email) or Subscriber(email=row.email)
    edition = Edition(
        edition_id, dt.date.fromisoformat(edition_id), person, picks_from_row(store, row)
    )
    links = links_for(
        settings, signing_secret(settings), edition_id, row.email, picks=edition.picks
    )
    return (renderer or renderer_for(settings)).render(edition, replace(links, in_browser=True))


def past_editions(
    store: Store, settings: Settings, email: str, limit: int = 1000
) -> list[tuple[Edition, DeliveryRow]]:
    """The editions this address got (mailed or published to their feed), newest first, with
    their recorded picks: the archive list and the Atom feed."""
    person = find(settings, store, email) or Subscriber(email=email)
    found = []
    for row in store.ledger.sent_editions(email, limit):
        day = dt.date.fromisoformat(row.edition_id)
        found.append((Edition(row.edition_id, day, person, picks_from_row(store, row)), row))
    return found
