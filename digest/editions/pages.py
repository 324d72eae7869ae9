"""The web pages' side of the editions service: what a page reads and changes, on the store one
request opened (read-only for GET, HEAD and OPTIONS; a POST may write). The web app opens one
with `open_pages` and calls nothing below it."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from digest.bounces.policy import told
from digest.bounces.providers import ProviderEvent
from digest.clock import Clock
from digest.editions.bounces import Processed, process_events
from digest.editions.links import links_for
from digest.editions.onboarding import Answers, Started, Starter, start, starter
from digest.editions.signups import Confirmed, Outcome, Signups, log_event
from digest.editions.views import archived, past_editions, preview
from digest.feedback import record
from digest.models import DeliveryState, Edition, Email, StoredPaper, Subscriber
from digest.profile import SubscriberRow
from digest.render import Renderer
from digest.settings import Settings
from digest.signup import Event, Form, Request
from digest.store import DeliveryRow, SignupRow, Store
from digest.subscribers import find, page_of_subscribers


def prepare_store(settings: Settings) -> None:
    """Make (or upgrade) the store now, so that pages opened read-only never have to; an
    unusable database is a clear error here."""
    Store.open(settings.database).close()


@contextlib.contextmanager
def open_pages(settings: Settings, *, write: bool, timeout: float) -> Iterator[Pages]:
    """The store for one request: read-only unless `write` (the engine itself refuses
    writes then); a write waits at most `timeout` seconds for another writer."""
    with Store.open(settings.database, read_only=not write, timeout=timeout) as store:
        yield Pages(store, settings)


class Pages:
    """One request's view of the store."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self.settings = settings

    # -- readers -------------------------------------------------------------------------

    def sealed_links_since(self) -> dt.datetime | None:
        """When the store moved to sealed link tokens (None: it never made old-form ones)."""
        return self._store.sealed_links_since()

    def answers(self) -> None:
        """A read the store must answer (the health check)."""
        self._store.ledger.latest_edition()

    def reader(self, email: str) -> Subscriber | None:
        """The reader at this address (settings or store), or None."""
        return find(self.settings, self._store, email)

    def readers(
        self, containing: str, offset: int, limit: int
    ) -> tuple[list[Subscriber], int, dict[str, str]]:
        """A page of readers, how many there are in all, and who gets no mail (and why)."""
        shown, total = page_of_subscribers(self.settings, self._store, containing, offset, limit)
        return shown, total, self._store.readers.suppressions()

    def came_back_last(self, emails: list[str]) -> dict[str, str]:
        """For each of these readers, the newest thing that came back for them, in a few
        words ("soft 4.2.2, counted, 2026-11-22"); readers with nothing are left out."""
        found = {}
        for email in emails:
            events = self._store.bounces.events(email, limit=1)
            if events:
                last = events[0]
                status = f" {last.status}" if last.status else ""
                found[email] = f"{last.kind}{status}, {last.action}, {last.at:%Y-%m-%d}"
        return found

    def save_profile(self, row: SubscriberRow, now: dt.datetime) -> None:
        self._store.readers.upsert_subscribers([row], now)

    def votes(self, email: str) -> dict[str, list[StoredPaper]]:
        """The reader's "more" and "less" taps."""
        return self._store.readers.feedback([email])[email]

    def stopped(self, email: str) -> str | None:
        """Why mail to this reader stopped after something came back (a bounce, a complaint),
        in words for them; None if it did not stop that way."""
        reason = self._store.readers.suppressed(email)
        if reason is None or not reason.startswith(("bounced", "complained")):
            return None
        latest = self._store.bounces.latest([email]).get(email)
        if latest is None:  # a relay's 5xx during the SMTP exchange
            return "We stopped mailing you: your mail server refused the digest for good."
        return told(latest.kind, latest.status, latest.action, latest.at, latest.reason)

    def came_back(
        self, events: list[ProviderEvent], source: str, now: dt.datetime
    ) -> list[Processed]:
        """A provider's verified webhook events, processed (see editions.bounces)."""
        return process_events(self._store, self.settings, events, source, now)

    def mailed(self, email: str) -> bool:
        """Whether mail goes to this address (not unsubscribed, bounced or complained)."""
        return self._store.readers.suppressed(email) is None

    def unsubscribe(self, email: str, now: dt.datetime, request: Request | None = None) -> None:
        """Stop the mail to this address (their link), and say so in its consent log."""
        self._store.readers.unsubscribe(email, now, reason="unsubscribed (link)")
        log_event(self._store, self.settings, email, Event.UNSUBSCRIBED, now, request)

    def resubscribe(
        self, email: str, now: dt.datetime, request: Request | None = None
    ) -> str | None:
        """Undo the reader's own unsubscribe; why the address still gets no mail (its server
        refused it), or None."""
        lifted = self._store.readers.unsuppress(email, only_unsubscribed=True)
        still = self._store.readers.suppressed(email)
        if lifted:
            log_event(self._store, self.settings, email, Event.RESUBSCRIBED, now, request)
        return None if lifted or still is None else still

    # -- joining -------------------------------------------------------------------------

    def sign_up(self, form: Form, request: Request, clock: Clock) -> Outcome:
        """A sign-up from the front page or the API (see editions.signups): kept and its
        confirmation queued for the worker, or turned away."""
        return Signups(self.settings, clock).request(self._store, form, request)

    def signup(self, token: str, clock: Clock) -> SignupRow | None:
        """The sign-up a confirmation link names (None when it is gone); BadToken, or
        Expired after `[signup] confirm_hours`."""
        return Signups(self.settings, clock).waiting(self._store, token)

    def confirm(self, token: str, request: Request, clock: Clock) -> Confirmed:
        """Confirm a sign-up with the profile it was made with; the reader's first edition is
        queued (unless it waits for the welcome page)."""
        return Signups(self.settings, clock).confirm(self._store, token, request)

    def trending(self, limit: int, now: dt.datetime) -> list[StoredPaper]:
        """The most upvoted papers of the last week, for the front page."""
        return self._store.catalog.most_upvoted(now - dt.timedelta(days=7), limit)

    # -- a new reader's first minutes -----------------------------------------------------

    def starter(self, now: dt.datetime) -> Starter:
        """Topics to tick and papers to rate (the welcome page)."""
        return starter(self._store, now)

    def start(self, person: Subscriber, answers: Answers, now: dt.datetime) -> Started:
        """The welcome page's answers added to the reader's profile."""
        return start(self._store, person, answers, now)

    # -- papers and taps -----------------------------------------------------------------

    def paper(self, paper_id: int) -> StoredPaper | None:
        return self._store.catalog.papers_by_id([paper_id]).get(paper_id)

    def record_votes(
        self, email: str, paper_ids: Sequence[int], verdict: str | None, now: dt.datetime
    ) -> None:
        """Record "more" or "less" on these papers, or forget it (None)."""
        record(self._store, email, paper_ids, verdict, now)

    # -- editions ------------------------------------------------------------------------

    def past(self, email: str, limit: int) -> list[tuple[Edition, DeliveryRow]]:
        """The editions this reader got, newest first."""
        return past_editions(self._store, self.settings, email, limit)

    def past_list(self, email: str, limit: int) -> list[dict[str, Any]]:
        """The reader's editions as their archive page lists them."""
        return [
            {
                "id": edition.edition_id,
                "date": f"{edition.date:%A %-d %B %Y}",
                "count": len(edition.picks),
                "lead": edition.picks[0].paper.title if edition.picks else "",
                "published": row.state == DeliveryState.PUBLISHED,
            }
            for edition, row in self.past(email, limit)
        ]

    def archived(self, edition_id: str, email: str, renderer: Renderer) -> Email | None:
        """An edition as it went to this address (None if it never did)."""
        return archived(self._store, self.settings, edition_id, email, renderer)

    def state(self, email: str) -> Any:
        """Changes whenever what the reader's next edition would hold may have changed."""
        return self._store.ledger.state_stamp(email)

    def next_edition(self, person: Subscriber, clock: Clock, renderer: Renderer) -> Email:
        """The reader's next edition, recording nothing."""
        return preview(self._store, self.settings, person, clock, renderer)

    def last_edition(self, person: Subscriber, renderer: Renderer) -> tuple[str, Email] | None:
        """The newest edition this reader got, as it went out but with inert links."""
        editions = self.past(person.email, 1)
        if not editions:
            return None
        edition = editions[0][0]
        links = links_for(
            self.settings,
            secrets.token_urlsafe(32),
            edition.edition_id,
            person.email,
            inert=True,
            picks=edition.picks,
        )
        return edition.edition_id, renderer.render(edition, links)
