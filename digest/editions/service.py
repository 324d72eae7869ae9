"""The editions service: the one door the CLI, the daemon and the web app go through to send,
retry and preview editions. It owns what used to be done three times over in the shells:
choosing the readers, building the transports (SMTP connections checked once), grouping
readers by time zone, running the deferred retries before a send and re-queuing failed
messages. The shells parse input, call it, and print what it returns."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import enum
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from digest.abbreviations import Abbreviations, counted
from digest.addresses import normalise_address
from digest.clock import Clock, utc_now
from digest.deliver import (
    DryRunTransport,
    FileTransport,
    MaildirTransport,
    SmtpTransport,
    Transport,
)
from digest.deliver.preflight import check_real_mail
from digest.diff import expand_paths, load_all, skipped_in
from digest.editions.bounces import AsideLog, Processed, trust
from digest.editions.bounces import process as process_bounce
from digest.editions.library import ImportReport, import_library, store_library
from digest.editions.links import reader_links
from digest.editions.picks import unresolved_liked
from digest.editions.replay import ingest_moments
from digest.editions.sending import SendReport, in_progress, retry_deferred, send_edition
from digest.editions.signups import send_queued
from digest.editions.views import edition_date, preview
from digest.errors import DigestError, DumpError, SettingsError, SubscriberError
from digest.feedback import record, resolve
from digest.identity import title_key
from digest.models import (
    DeliveryState,
    Email,
    IngestResult,
    Interest,
    Pick,
    StoredPaper,
    Subscriber,
)
from digest.profile import ProfileInput, validated_row
from digest.rank import Profile, encoders, rank
from digest.rank.vectors import paper_vectors
from digest.settings import Settings, check_database
from digest.signup import Event
from digest.sources.fetch import arxiv_feed_url, hf_daily_url, is_url
from digest.sources.writers import write_dump
from digest.store import BounceEvent, Store
from digest.store.catalog import Changes, SnapshotRow
from digest.store.db import held, is_server_url
from digest.store.transfer import copy_store
from digest.subscribers import (
    all_subscribers,
    from_row,
    page_of_subscribers,
    read_csv,
    schedules,
    write_csv,
)

_EVERYONE = 2**62  # "no limit" for SQLite's LIMIT


def check_migration_target(target: str) -> None:
    """A PostgreSQL URL without a password (as `database` is checked), else DigestError;
    checked before anything else, the settings included."""
    if not is_server_url(target):
        raise DigestError(
            f"--to {target!r} is not a PostgreSQL URL; give postgresql://user@host/dbname"
        )
    try:
        check_database(target)
    except ValueError as exc:
        raise DigestError(f"--to: {exc}") from None


def dump_files(folder: Path) -> list[Path]:
    """The dump files `ingest` reads from a folder, in name order ([] when it holds none)."""
    try:
        return expand_paths([folder])
    except DumpError:
        return []


def skipped_files(sources: Sequence[str]) -> list[Path]:
    """What `ingest` passes over in the folders and files given: not dump files, or
    subfolders (URLs are never skipped)."""
    return skipped_in(Path(s) for s in sources if not is_url(s))


def rank_dumps(
    path: str,
    interests: Sequence[Interest] = (),
    *,
    exclude: Sequence[str] = (),
    authors: Sequence[str] = (),
    like_dumps: Sequence[str] = (),
    top: int = 10,
    min_score: float = 0.0,
    format_: str | None = None,
    clock: Clock = utc_now,
) -> list[Pick]:
    """The papers of a dump (or a folder of them) ranked for an ad-hoc profile, with no store
    and no settings (`digest rank`); `like_dumps`: dumps whose every paper is a liked one.
    Abbreviations are those the dumps' abstracts define."""
    # The same paper in several dumps of a folder is ranked once (its latest listing).
    latest = {
        title_key(p.title): p for snapshot in load_all([path], format_) for p in snapshot.papers
    }
    profile = Profile(
        interests=tuple(interests),
        exclude=tuple(exclude),
        max_items=top,
        authors=tuple(authors),
        liked=tuple(p for snapshot in load_all(like_dumps) for p in snapshot.papers),
        min_score=min_score,
    )
    papers = list(latest.values())
    # No store: the abbreviations are those the dumps' own abstracts define.
    defined = counted(p.abstract for p in papers)
    learned = Abbreviations.of((short, long, n) for (short, long), n in defined.items())
    return rank(papers, [profile], now=clock(), abbreviations=learned)[0]


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Runtime:
    """Where a run reads the time and how it waits: the real ones, or a test's."""

    clock: Clock = utc_now
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class Hooks:
    """What a shell hears during a run, and how it asks the run to stop: `on_message(address,
    outcome)` after each message, `on_wait()` when another sender holds the store, and
    `should_stop()` checked before each message (SIGTERM, a closed output)."""

    on_message: Callable[[str, str], None] | None = None
    on_wait: Callable[[], None] | None = None
    should_stop: Callable[[], bool] = _never


class Carrier(enum.StrEnum):
    """How messages leave: the [smtp] relay, .eml files, a Maildir, or nowhere (a dry run)."""

    SMTP = "smtp"
    FILE = "file"
    MAILDIR = "maildir"
    DRY_RUN = "dry-run"


@dataclass(frozen=True, slots=True)
class SendRun:
    """What one `send` did: the deferred messages retried first, each time zone's edition
    (zone, report), the failed messages queued again (edition, count), and liked papers the
    store does not hold (address → references)."""

    retried: tuple[SendReport, ...] = ()
    editions: tuple[tuple[str, SendReport], ...] = ()
    requeued: tuple[tuple[str, int], ...] = ()
    unknown_liked: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reports(self) -> tuple[SendReport, ...]:
        return (*self.retried, *(report for _, report in self.editions))

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [failure for report in self.reports for failure in report.failed]

    @property
    def deferred(self) -> list[tuple[str, str]]:
        return [entry for report in self.reports for entry in report.deferred]


@dataclass(frozen=True, slots=True)
class EditionStatus:
    """An edition's delivery counts per state, its failures (address, why) and the senders
    holding unfinished rows (sender → rows)."""

    edition_id: str
    counts: dict[str, int]
    failures: tuple[tuple[str, str], ...]
    senders: dict[str, int]
    # Sign-ups of the last 24 hours: requested (kept), confirmation sent, confirmed, refused
    # (turned away, for any reason).
    signups: dict[str, int] = field(default_factory=dict)
    # Sign-ups turned away in the last 24 hours (counted per hour), by reason (limited,
    # honeypot, proof of work, already a reader, undeliverable).
    refused: dict[str, int] = field(default_factory=dict)
    # What came back for this edition: readers per kind (hard, soft, complaint…).
    bounces: dict[str, int] = field(default_factory=dict)
    # The same by kind, then by reason (user unknown, mailbox full, spam…): why addresses
    # are being dropped.
    bounce_reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    # How far mailed reports are believed ("signed" with VERP, else "unverified"), and why.
    bounce_trust: str = ""
    bounce_trust_note: str = ""

    def rates(self) -> dict[str, float]:
        """Hard and soft bounces and complaints as shares of the messages relays accepted."""
        sent = self.counts.get("sent", 0)
        return {
            f"{kind}_rate": round(self.bounces.get(kind, 0) / sent, 4) if sent else 0.0
            for kind in ("hard", "soft", "complaint")
        }

    def warnings(self, complaints: float, hard: float) -> list[str]:
        """What an operator must hear: complaints or hard bounces past these shares (the
        bulk-sender rules of the large mailbox providers start junking near 0.3 %)."""
        rates, found = self.rates(), []
        if rates["complaint_rate"] > complaints:
            found.append(
                f"edition {self.edition_id}: complaints at {rates['complaint_rate']:.2%} of"
                f" the messages sent (over {complaints:.1%}); mailbox providers junk senders"
                " near 0.3 %"
            )
        if rates["hard_rate"] > hard:
            found.append(
                f"edition {self.edition_id}: hard bounces at {rates['hard_rate']:.2%} of the"
                f" messages sent (over {hard:.0%}); the list holds dead addresses"
            )
        return found


@dataclass(frozen=True, slots=True)
class Listed:
    """A reader as `digest subscribers list` shows them: where they are kept ("store" or
    "settings"), whether they are mailed ("active", else why not), liked papers not stored."""

    reader: Subscriber
    source: str
    status: str
    unresolved_liked: tuple[str, ...]
    # What came back for them, newest first (at most 5): bounces, complaints, receipts.
    bounces: tuple[BounceEvent, ...] = ()


class Editions:
    """Send, retry and preview editions over the store named by `settings`."""

    def __init__(
        self, settings: Settings, *, runtime: Runtime | None = None, hooks: Hooks | None = None
    ) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime()
        self.hooks = hooks or Hooks()

    @contextlib.contextmanager
    def _store(self) -> Iterator[Store]:
        """The store, opened for one step (a send reconnects to a server that went away)."""
        settings = self.settings
        with Store.open(settings.database, reconnect=settings.database_reconnect_seconds) as store:
            yield store

    # -- readers -------------------------------------------------------------------------

    def readers_or_none(self) -> list[Subscriber]:
        """Every subscriber (settings and store); an empty list when there are none."""
        with self._store() as store:
            return all_subscribers(self.settings, store)

    def _readers(self, store: Store | None, email: str | None) -> list[Subscriber]:
        people = all_subscribers(self.settings, store)
        if email is None:
            if not people:
                raise SettingsError(
                    "no subscribers yet; add [[subscribers]] to the settings or run"
                    " `digest subscribers add EMAIL`"
                )
            return people
        try:
            wanted = normalise_address(email).casefold()
        except ValueError:
            wanted = email.strip().casefold()
        chosen = [p for p in people if p.email.casefold() == wanted]
        if not chosen:
            close = difflib.get_close_matches(wanted, [p.email.casefold() for p in people], n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise SettingsError(
                f"no subscriber {email!r}; {hint}`digest subscribers list` shows them"
            )
        return chosen

    # -- transports ----------------------------------------------------------------------

    def transports(self, carrier: Carrier, outbox: Path | None = None) -> list[Transport]:
        """The transports a run sends through: `[smtp] concurrency` connections to the relay
        (after the settings are checked for mail that would reach readers broken), else
        one file, Maildir or dry-run transport."""
        if carrier is Carrier.DRY_RUN:
            return [DryRunTransport()]
        if carrier in (Carrier.FILE, Carrier.MAILDIR):
            if outbox is None:
                raise SettingsError(f"the {carrier} transport needs an outbox folder")
            return [FileTransport(outbox) if carrier is Carrier.FILE else MaildirTransport(outbox)]
        check_real_mail(self.settings)
        return [SmtpTransport(self.settings.smtp) for _ in range(self.settings.smtp.concurrency)]

    # -- sending -------------------------------------------------------------------------

    def send(
        self,
        carrier: Carrier = Carrier.SMTP,
        *,
        outbox: Path | None = None,
        email: str | None = None,
        readers: Sequence[Subscriber] | None = None,
        date: dt.date | None = None,
        retry_failed: bool = False,
        retry_deferred_first: bool = True,
        transports: Sequence[Transport] | None = None,
    ) -> SendRun:
        """Each reader's edition, dated in their own time zone (or `date`), to everyone not
        served yet: `readers`, or the one with `email`, or everyone. Safe to re-run. First,
        for a send to everyone, the deferred messages whose time has come; with
        `retry_failed`, each edition's failed messages are queued again."""
        with self._store() as store:
            people = list(readers) if readers is not None else self._readers(store, email)
            unknown = unresolved_liked(store, people)
        dry_run = carrier is Carrier.DRY_RUN
        chosen = list(transports) if transports is not None else self.transports(carrier, outbox)
        retried: tuple[SendReport, ...] = ()
        if retry_deferred_first and not dry_run and email is None and readers is None:
            retried = tuple(self.retry(transports=chosen))
        zones: dict[str, list[Subscriber]] = {}
        for person in people:
            zones.setdefault(person.timezone, []).append(person)
        editions: list[tuple[str, SendReport]] = []
        requeued: list[tuple[str, int]] = []
        clock, hooks = self.runtime.clock, self.hooks
        for zone, members in sorted(zones.items()):
            if hooks.should_stop():
                break
            with self._store() as store:
                if retry_failed and not dry_run:
                    edition = (date or edition_date(clock(), zone)).isoformat()
                    requeued.append((edition, store.ledger.retry_failed(edition, clock())))
                report = send_edition(
                    store,
                    self.settings,
                    chosen,
                    clock,
                    subscribers=members,
                    dry_run=dry_run,
                    on_message=hooks.on_message,
                    sleep=self.runtime.sleep,
                    timezone=zone,
                    should_stop=hooks.should_stop,
                    on_wait=hooks.on_wait,
                    monotonic=self.runtime.monotonic,
                    date=date,
                )
            editions.append((zone, report))
        return SendRun(retried, tuple(editions), tuple(requeued), unknown)

    def retry(
        self, carrier: Carrier = Carrier.SMTP, *, transports: Sequence[Transport] | None = None
    ) -> list[SendReport]:
        """The deferred messages whose time has come, of any edition."""
        with self._store() as store:
            if not store.ledger.due_retries(self.runtime.clock()):
                return []  # nothing due: no relay connection is even set up
            return retry_deferred(
                store,
                self.settings,
                list(transports) if transports is not None else self.transports(carrier),
                self.runtime.clock,
                on_message=self.hooks.on_message,
                sleep=self.runtime.sleep,
                should_stop=self.hooks.should_stop,
                on_wait=self.hooks.on_wait,
            )

    def import_readers(self, path: Path) -> tuple[int, int, int]:
        """Add or update readers from a CSV file, all or nothing (their "more"/"less" columns
        must all name stored papers first): (rows, of them new, of them suppressed)."""
        rows = read_csv(path)
        now = self.runtime.clock()
        with self._store() as store:
            votes = [
                (row.email, resolve(store, refs), verdict)
                for row in rows
                for refs, verdict in ((row.more, "more"), (row.less, "less"))
                if refs
            ]
            added = store.readers.upsert_subscribers(rows, now)
            for email, ids, verdict in votes:
                record(store, email, ids, verdict, now)
            for row in rows:
                if row.library:
                    store_library(store, row.email, [row.library], now)
                if row.consent:
                    store.signups.carry(row.email, row.consent)
            suppressed = store.readers.suppressions()
        kept_out = sum(1 for row in rows if row.email.casefold() in suppressed)
        return len(rows), added, kept_out

    def import_library(self, email: str, files: Sequence[tuple[str, bytes]]) -> ImportReport:
        """Add the papers of a reader's library exports (BibTeX, RIS, CSL-JSON; name and
        content each) to their profile: every file is read before anything is stored, and
        one that cannot be read stores nothing (LibraryError)."""
        with self._store() as store:
            reader = self._readers(store, email)[0]
            return import_library(store, reader.email, files, self.runtime.clock())

    def consent(self, email: str) -> list[dict[str, str]]:
        """An address's consent log (requested, confirmation sent, confirmed, ...), oldest
        first: time (UTC), IP as kept, user agent, page, consent text hash, Message-ID."""
        if not Store.exists(self.settings.database):
            return []
        with Store.open(self.settings.database, read_only=True) as store:
            return store.signups.events(email)

    # -- what came back ------------------------------------------------------------------

    def process_bounces(
        self, paths: Sequence[Path], *, dry_run: bool = False
    ) -> Iterator[Processed]:
        """Every message at these paths (message files, Maildirs, mboxes): classified, tied
        to its reader, kept once and acted on (with `dry_run`, only classified and matched).
        BounceError, before anything is read, for a path that is none of these."""
        from digest.bounces.reading import check_path, read_path

        for path in paths:
            check_path(path)
        opened = Store.open(self.settings.database, read_only=True) if dry_run else self._store()
        with opened as store:
            for path in paths:
                for raw in read_path(path):
                    now = self.runtime.clock()
                    yield process_bounce(store, self.settings, raw, now, dry_run=dry_run)

    def poll_bounces(self) -> tuple[list[Processed], list[str]]:
        """Read `[bounces] mailbox` once: its unread messages processed (each marked seen,
        or deleted from a POP3 box, once its outcome is kept), and the warnings the latest
        edition's rates call for. ([], []) when no mailbox is set."""
        from digest.bounces.mailboxes import unread

        bounces = self.settings.bounces
        if not bounces.mailbox:
            return [], []
        password = bounces.password.get_secret_value() if bounces.password else ""
        done: list[Processed] = []
        with self._store() as store:
            aside = AsideLog(store, self.runtime.clock)
            with unread(bounces.mailbox, password, aside) as messages:
                for message in messages:
                    now = self.runtime.clock()
                    one = process_bounce(store, self.settings, message.raw, now, dry_run=False)
                    message.done(one.note if one.kept_aside else None)
                    done.append(one)
        try:
            found = self.status()
        except DigestError:  # nothing sent yet
            return done, []
        return done, found.warnings(bounces.complaint_warning, bounces.hard_warning)

    def send_queued(self, carrier: Carrier = Carrier.SMTP) -> dt.datetime | None:
        """Send the mail sign-ups queued that is due (confirmations, first editions): what
        the web app's worker left, the server stopped. When the next is due (None: nothing
        is queued); no relay connection is set up while nothing is due."""
        return send_queued(
            self.settings,
            lambda: self.transports(carrier),
            self.runtime.clock,
            self.hooks.should_stop,
        )

    def purge_signups(self) -> int:
        """Forget the sign-ups never confirmed within `[signup] pending_days` (how many), with
        what they kept of the request, and the counts of attempts and refusals as old."""
        now = self.runtime.clock()
        cutoff = now - dt.timedelta(days=self.settings.signup.pending_days)
        with self._store() as store:
            return store.signups.purge(cutoff, now)

    # -- the catalog -------------------------------------------------------------------

    def history(self, limit: int) -> list[SnapshotRow]:
        """The stored dumps, newest first."""
        with Store.open(self.settings.database, read_only=True) as store:
            return store.catalog.snapshots(limit)

    def changes(self, snapshot: int | None = None) -> Changes:
        """What one stored dump changed (default: the latest)."""
        with Store.open(self.settings.database, read_only=True) as store:
            return store.catalog.changes(snapshot)

    def export_dump(self, format_: str, snapshot: int | None = None) -> tuple[str, int]:
        """Stored papers (all, or one dump's) as a dump of `format_`: (its text, papers)."""
        with Store.open(self.settings.database, read_only=True) as store:
            if snapshot is not None:
                store.catalog.changes(snapshot)  # a clear error for an unknown dump number
            papers = [stored.paper for stored in store.catalog.papers(snapshot)]
        return write_dump(papers, format_), len(papers)

    # -- the ledger --------------------------------------------------------------------

    def status(self, edition_id: str | None = None) -> EditionStatus:
        """Delivery counts per state of an edition (default: the latest) and its failures."""
        nothing = "no edition has been sent yet; run `digest send`"
        if not Store.exists(self.settings.database):
            raise DigestError(nothing)
        with Store.open(self.settings.database, read_only=True) as store:
            chosen = edition_id or store.ledger.latest_edition()
            if chosen is None:
                raise DigestError(nothing)
            counts = store.ledger.delivery_counts(chosen)
            if not counts:
                raise DigestError(
                    f"no edition {chosen!r} in the ledger; `digest status` shows the latest"
                )
            failures = tuple(
                (r.email, r.error or "")
                for r in store.ledger.deliveries(chosen)
                if r.state == DeliveryState.FAILED
            )
            day = self.runtime.clock() - dt.timedelta(days=1)
            requested, mailed = store.signups.requested_since(day)
            refused = store.signups.refusals(day)
            joining = {
                Event.REQUESTED: requested,
                Event.CONFIRMATION_SENT: mailed,
                Event.CONFIRMED: store.signups.count(Event.CONFIRMED, day),
                "refused": sum(refused.values()),
            }
            held = store.ledger.unfinished_claims(chosen)
            came_back = store.bounces.edition_counts(chosen)
            level, note = trust(self.settings)
            return EditionStatus(
                chosen, counts, failures, held, joining, refused, came_back,
                bounce_reasons=store.bounces.edition_reasons(chosen),
                bounce_trust=level, bounce_trust_note=note,
            )  # fmt: skip

    # -- readers -----------------------------------------------------------------------

    def add_reader(self, given: ProfileInput) -> tuple[str, bool, str | None]:
        """Add a reader to the store, or replace their profile: (their address, whether they
        are new, why they get no mail if they do not). SubscriberError names every bad value."""
        try:
            row = validated_row(given)
        except ValueError as exc:
            raise SubscriberError(f"{exc}; nothing was changed") from None
        with self._store() as store:
            added = store.readers.upsert_subscribers([row], self.runtime.clock())
            return row.email, bool(added), store.readers.suppressed(row.email)

    def list_readers(
        self, containing: str = "", offset: int = 0, limit: int | None = None
    ) -> tuple[list[Listed], int]:
        """A page of everyone digest knows (settings first, then the store by address) and how
        many there are in all."""
        settings = self.settings
        with Store.open(settings.database) as store:
            people, total = page_of_subscribers(
                settings, store, containing, offset, limit or _EVERYONE
            )
            stored = store.readers.stored_addresses(p.email for p in people)
            suppressed = store.readers.suppressions()
            unknown = unresolved_liked(store, people)
            came_back = {p.email: tuple(store.bounces.events(p.email, limit=5)) for p in people}
        listed = [
            Listed(
                person,
                "store" if person.email.casefold() in stored else "settings",
                suppressed.get(person.email.casefold(), "active"),
                tuple(unknown.get(person.email, [])),
                came_back[person.email],
            )
            for person in people
        ]
        return listed, total

    def remove_reader(self, email: str) -> tuple[bool, bool]:
        """Delete a reader: their profile, feedback, library and consent log (their sending
        history stays); a hash of the address is kept so it is not mailed again without new
        consent, even from the settings file: (removed from the store, in the settings file)."""
        wanted = email.casefold()
        in_settings = any(str(s.email).casefold() == wanted for s in self.settings.subscribers)
        with self._store() as store:
            if not in_settings and not store.readers.stored_addresses([email]):
                raise SubscriberError(
                    f"no subscriber {email!r} in the store; `digest subscribers list`"
                )
            removed = store.readers.remove_subscriber(email, self.runtime.clock())
        return removed, in_settings

    def resubscribe(self, email: str) -> None:
        """Mail an address again that unsubscribed or bounced (they asked for it)."""
        with self._store() as store:
            if not store.readers.unsuppress(email):
                raise SubscriberError(
                    f"{email!r} is not unsubscribed or suppressed; nothing to undo"
                )

    def export_readers(self) -> tuple[str, int]:
        """The store's readers (their feedback and library too) as the CSV `import_readers`
        reads back:
        (its text, readers)."""
        settings = self.settings
        with Store.open(settings.database) as store:
            people = [from_row(row, settings) for row in store.readers.subscriber_rows()]
            given = store.readers.feedback(p.email for p in people)
            libraries = store.library.entries(p.email for p in people)
            consent = {p.email: store.signups.events(p.email) for p in people}

        def refs(papers: list[StoredPaper]) -> list[str]:
            return [p.paper.arxiv_id or str(p.id) for p in papers]

        feedback = {email: (refs(v["more"]), refs(v["less"])) for email, v in given.items()}
        return write_csv(people, feedback, libraries, consent), len(people)

    # -- moving to a server --------------------------------------------------------------

    def migrate(self, target: str) -> dict[str, int]:
        """Copy this store into an empty PostgreSQL database and check every table's count:
        rows copied per table."""
        check_migration_target(target)
        if not Store.exists(self.settings.database):
            raise DigestError(
                f"database {self.settings.database} does not exist; nothing to migrate"
            )
        with Store.open(self.settings.database) as source, Store.open(target) as destination:
            return copy_store(source, destination)

    # -- for the daemon --------------------------------------------------------------------

    def check_ready(self) -> None:
        """A clear error now for settings that would send broken mail or an unusable store."""
        check_real_mail(self.settings)
        Store.open(self.settings.database).close()

    def schedules(self) -> set[tuple[str, str, bool]]:
        """Every distinct (send_at, timezone, weekdays_only) among the readers."""
        with Store.open(self.settings.database) as store:
            return schedules(self.settings, store)

    def done(self, edition_id: str) -> set[str]:
        """The addresses this edition is settled for (sent, published, empty, suppressed,
        deferred or failed: anything but pending or sending)."""
        with Store.open(self.settings.database) as store:
            return {
                row.email
                for row in store.ledger.deliveries(edition_id)
                if row.state not in (DeliveryState.PENDING, DeliveryState.SENDING)
            }

    def cut_short(self, edition_id: str) -> bool:
        """Whether this edition has readers still pending or sending and no live sender (a
        send that was killed, or lost its database): it is owed the rest."""
        now = self.runtime.clock()
        with self._store() as store:
            return bool(store.ledger.unfinished(edition_id)) and not in_progress(
                store, edition_id, now
            )

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a named lock of the store (across processes and hosts) while the block runs."""
        with Store.open(self.settings.database) as store, held(store.database, name):
            yield

    # -- ingest --------------------------------------------------------------------------

    def ingest(
        self,
        sources: Sequence[str],
        format_: str | None = None,
        *,
        as_of: dt.date | str | None = None,
    ) -> list[IngestResult]:
        """Read and parse every source (files, folders, URLs) first, so a bad one stores
        nothing; then the batch in one transaction, all or nothing. `as_of` (a date, or
        "filename" for the date each dump's name starts with) replays history: the dumps
        count as ingested at the start of that day in `timezone`. Each listed paper's meaning
        vector is computed and kept afterwards (`[ranking] embedding_model`), outside the
        ingest's transaction: a paper whose vector is missing is embedded when first ranked."""
        snapshots = load_all(sources, format_, timeout=self.settings.sources.timeout)
        now = self.runtime.clock()
        moments = (
            None if as_of is None else ingest_moments(snapshots, as_of, self.settings.timezone, now)
        )
        encoder = encoders.load(self.settings.ranking.embedding_model)
        with self._store() as store:
            results = store.catalog.ingest_many(snapshots, now, moments=moments)
            if encoder is not None:
                listed = [r.snapshot_id for r in results if not r.duplicate_dump]
                papers = [p for snapshot in listed for p in store.catalog.papers(snapshot)]
                paper_vectors(store.catalog, encoder, papers)
        return results

    def fetch_hf(self, days: Sequence[dt.date] = ()) -> list[IngestResult]:
        """The Hugging Face daily papers of these days (default: today in `timezone`)."""
        chosen = list(days) or [edition_date(self.runtime.clock(), self.settings.timezone)]
        api = self.settings.sources.hf_api_url
        return self.ingest([hf_daily_url(api, day) for day in chosen], "hf-json")

    def fetch_arxiv(self, categories: Sequence[str] = ()) -> list[IngestResult]:
        """The arXiv feed of each category (default: [sources] arxiv_categories)."""
        sources = self.settings.sources
        chosen = list(categories) or list(sources.arxiv_categories)
        if not chosen:
            raise SettingsError(
                "no arXiv category given; name one (digest fetch arxiv cs.CL) or set"
                " [sources] arxiv_categories"
            )
        urls = [arxiv_feed_url(sources.arxiv_feed_url, category) for category in chosen]
        return self.ingest(urls, "arxiv-feed")

    # -- readers' answers and links -------------------------------------------------------

    def feedback(self, email: str, papers: Sequence[str], verdict: str | None) -> tuple[str, int]:
        """Record "more" or "less" (None: forget) on these papers (arXiv ids or URLs, stored
        ids) for a reader, as the email's links do: (their address, how many papers). Every
        reference must resolve, or nothing is recorded."""
        with self._store() as store:
            person = self._readers(store, email)[0]
            ids = resolve(store, papers)
            record(store, person.email, ids, verdict, self.runtime.clock())
        return person.email, len(ids)

    def links(self, email: str) -> dict[str, str]:
        """A reader's own signed pages (preferences, archive, feed, unsubscribe)."""
        settings = self.settings
        if Store.exists(settings.database):
            with Store.open(settings.database, read_only=True) as store:
                person = self._readers(store, email)[0]
        else:  # no store yet: the settings' readers are all there is
            person = self._readers(None, email)[0]
        return reader_links(settings, person.email)

    # -- reading -------------------------------------------------------------------------

    def preview(self, email: str | None = None, date: dt.date | None = None) -> Email:
        """A reader's next edition (or their edition of `date`), recording nothing; the
        first subscriber's without `email`."""
        with Store.open(self.settings.database) as store:
            person = self._readers(store, email)[0]
            return preview(store, self.settings, person, self.runtime.clock, date=date)
