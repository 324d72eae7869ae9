"""The schema in each engine's DDL, its version and the numbered migrations; `Store.open`
creates or upgrades. A PostgreSQL store is created at the current version; the steps below
bring older SQLite files forward."""

import datetime as dt
from collections.abc import Callable

from digest.addresses import limit_key
from digest.signup import LEGACY_PREFIX
from digest.store.db import Database

SCHEMA_VERSION = 14

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    ingested_at TEXT NOT NULL,
    paper_count INTEGER NOT NULL,
    new_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS papers (
    id INTEGER PRIMARY KEY,
    arxiv_id TEXT UNIQUE,
    title_key TEXT NOT NULL,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL DEFAULT '',
    authors TEXT NOT NULL DEFAULT '[]',
    author_count INTEGER,
    published TEXT,
    upvotes INTEGER,
    url TEXT,
    pdf_url TEXT,
    code_url TEXT,
    first_snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    first_seen TEXT NOT NULL,
    thumbnail_url TEXT,
    project_url TEXT,
    comments INTEGER
);
CREATE INDEX IF NOT EXISTS papers_title_key ON papers(title_key);
CREATE INDEX IF NOT EXISTS papers_first_seen ON papers(first_seen);
CREATE INDEX IF NOT EXISTS papers_first_snapshot ON papers(first_snapshot_id);
CREATE TABLE IF NOT EXISTS sightings (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    position INTEGER NOT NULL,
    upvotes INTEGER,
    PRIMARY KEY (snapshot_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_paper ON sightings(paper_id);
CREATE TABLE IF NOT EXISTS deliveries (
    edition_id TEXT NOT NULL,
    email TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN
        ('pending', 'sending', 'sent', 'failed', 'empty', 'suppressed', 'deferred',
         'published')),
    picks TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    -- deferred rows: when to try again, how often deferred so far, since when it fails, and
    -- whether the relay may already have it (a timeout after the message data was sent)
    retry_at TEXT,
    deferrals INTEGER NOT NULL DEFAULT 0,
    failing_since TEXT,
    ambiguous INTEGER NOT NULL DEFAULT 0,
    -- which sender holds the row, and until when (another takes it over after that)
    claimed_by TEXT,
    lease_until TEXT,
    PRIMARY KEY (edition_id, email)
);
CREATE TABLE IF NOT EXISTS suppressions (
    email TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscribers (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    name TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL,
    send_at TEXT,
    timezone TEXT,
    weekdays_only INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    email TEXT NOT NULL COLLATE NOCASE,
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    verdict TEXT NOT NULL CHECK (verdict IN ('more', 'less')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sent_papers (
    email TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    edition_id TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_slots (relay TEXT PRIMARY KEY, next_at REAL NOT NULL);
-- Each sign-up by its own random id (its confirmation link names it): what the reader asked
-- for and where the request came from, until it is confirmed (then kept without the request's
-- details, so a used link can say so) or purged after [signup] pending_days. `address_key`
-- is the address as the per-address limit counts it (plus tags, Gmail dots).
CREATE TABLE IF NOT EXISTS signup_requests (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL COLLATE NOCASE,
    address_key TEXT NOT NULL,
    profile TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    page TEXT NOT NULL DEFAULT '',
    text_hash TEXT NOT NULL DEFAULT '',
    mailed_at TEXT,
    message_id TEXT NOT NULL DEFAULT '',
    confirmed_at TEXT
);
CREATE INDEX IF NOT EXISTS signup_requests_email ON signup_requests(email);
CREATE INDEX IF NOT EXISTS signup_requests_key ON signup_requests(address_key, mailed_at);
CREATE INDEX IF NOT EXISTS signup_requests_at ON signup_requests(requested_at);
-- Sign-up attempts per hour window: `*` for all of them, else a keyed hash of the client's
-- IP (never the IP itself), kept two windows.
CREATE TABLE IF NOT EXISTS signup_counts (
    key TEXT NOT NULL,
    window_start TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
-- Mail that a request asked for and a worker sends after the answer: confirmations and first
-- editions (one row per `key`), claimed with a lease like the ledger's rows.
CREATE TABLE IF NOT EXISTS mail_queue (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    ref TEXT NOT NULL DEFAULT '',
    queued_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    claimed_by TEXT,
    lease_until TEXT
);
CREATE INDEX IF NOT EXISTS mail_queue_due ON mail_queue(due_at);
CREATE TABLE IF NOT EXISTS consent_events (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL COLLATE NOCASE,
    event TEXT NOT NULL,
    at TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    page TEXT NOT NULL DEFAULT '',
    text_hash TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS consent_events_email ON consent_events(email, at);
CREATE INDEX IF NOT EXISTS consent_events_at ON consent_events(event, at);
CREATE TABLE IF NOT EXISTS library (
    email TEXT NOT NULL COLLATE NOCASE,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    abstract TEXT NOT NULL DEFAULT '',
    arxiv_id TEXT,
    doi TEXT,
    authors TEXT NOT NULL DEFAULT '[]',
    year INTEGER,
    paper_id INTEGER,
    added_at TEXT NOT NULL,
    PRIMARY KEY (email, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS forgotten (
    address_hash TEXT PRIMARY KEY,
    forgotten_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spent_proofs (
    signature TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
-- Sign-ups turned away, counted per hour and reason (never a row per request).
CREATE TABLE IF NOT EXISTS signup_refusal_counts (
    hour TEXT NOT NULL,
    reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, reason)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bounce_events (
    id INTEGER PRIMARY KEY,
    event_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL COLLATE NOCASE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '',
    diagnostic TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    edition_id TEXT,
    action TEXT NOT NULL DEFAULT 'none',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS bounce_events_email ON bounce_events(email, at);
CREATE INDEX IF NOT EXISTS deliveries_message_id ON deliveries(message_id);
CREATE INDEX IF NOT EXISTS bounce_events_edition ON bounce_events(edition_id, kind);
CREATE TABLE IF NOT EXISTS paper_keywords (
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    keyword TEXT NOT NULL,
    PRIMARY KEY (paper_id, keyword)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS paper_vectors (
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (paper_id, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS abbreviations (
    short_form TEXT NOT NULL,
    long_form TEXT NOT NULL,
    definitions INTEGER NOT NULL,
    PRIMARY KEY (short_form, long_form)
) WITHOUT ROWID;
"""

# The same tables in PostgreSQL, spelled from SQLite's: ids are bigint (the dumps' ids are
# an identity), addresses are citext (SQLite's COLLATE NOCASE), times are float8, and the
# extension and indexes SQLite makes otherwise come with it.
_POSTGRES_SPELLINGS = (
    ("id INTEGER PRIMARY KEY", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    ("INTEGER NOT NULL REFERENCES", "BIGINT NOT NULL REFERENCES"),
    ("email TEXT", "email CITEXT"),
    (" COLLATE NOCASE", ""),
    (") WITHOUT ROWID;", ");"),
    ("next_at REAL", "next_at DOUBLE PRECISION"),
    (" BLOB ", " BYTEA "),
)


def _postgres_schema(schema: str) -> str:
    for sqlite_form, postgres_form in _POSTGRES_SPELLINGS:
        schema = schema.replace(sqlite_form, postgres_form)
    return (
        "CREATE EXTENSION IF NOT EXISTS citext;"
        + schema
        + "CREATE INDEX IF NOT EXISTS deliveries_email ON deliveries(email);\n"
        "CREATE INDEX IF NOT EXISTS deliveries_retry ON deliveries(retry_at)"
        " WHERE state = 'deferred';\n"
    )


SCHEMA_POSTGRES = _postgres_schema(SCHEMA)


def _rebuild_deliveries(db: Database) -> None:
    """The ledger in today's shape: SQLite cannot alter a CHECK constraint or add columns with
    constraints in place, so the rows are copied into a new table, column by column."""
    old = [row[1] for row in db.execute("PRAGMA table_info(deliveries)")]
    db.execute("DROP INDEX IF EXISTS deliveries_retry")
    db.execute("ALTER TABLE deliveries RENAME TO deliveries_old")
    table = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS deliveries") :]
    db.execute(table[: table.index(");") + 2])
    columns = ", ".join(old)
    db.execute(f"INSERT INTO deliveries({columns}) SELECT {columns} FROM deliveries_old")  # noqa: S608
    db.execute("DROP TABLE deliveries_old")


def _add_paper_columns(db: Database) -> None:
    """What Hugging Face's daily papers add: thumbnail, project page, comment count."""
    have = {row[1] for row in db.execute("PRAGMA table_info(papers)")}
    for column, kind in (
        ("thumbnail_url", "TEXT"),
        ("project_url", "TEXT"),
        ("comments", "INTEGER"),
    ):
        if column not in have:
            db.execute(f"ALTER TABLE papers ADD COLUMN {column} {kind}")


def _add_claim_columns(db: Database) -> None:
    """Which sender holds a ledger row, and until when."""
    have = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    for column in ("claimed_by", "lease_until"):
        if column not in have:
            db.execute(f"ALTER TABLE deliveries ADD COLUMN {column} TEXT")


def _tables_only(db: Database) -> None:
    """A version that only added tables: SCHEMA's idempotent DDL made them before the steps."""


def _signups_by_id(db: Database) -> None:
    """Sign-ups by their own id instead of by address, refusals counted per hour, and no
    outsider's turned-away attempt in a reader's consent log. The pending sign-ups move to
    `signup_requests` under an id their old links still find (`old:` and the address, the
    link's own spelling); plain SQL, so that it runs on either engine."""
    if db.has_table("signups"):
        rows = db.execute("SELECT email, profile, requested_at FROM signups").fetchall()
        db.executemany(
            "INSERT INTO signup_requests(id, email, address_key, profile, requested_at,"
            " mailed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            [
                (f"{LEGACY_PREFIX}{email.casefold()}", email, limit_key(email), profile, at, at)
                for email, profile, at in rows
            ],
        )
        db.execute("DROP TABLE signups")
    if db.has_table("signup_refusals"):
        db.execute(
            "INSERT INTO signup_refusal_counts(hour, reason, n)"
            " SELECT substr(at, 1, 13) || ':00:00+00:00', reason, count(*)"
            " FROM signup_refusals GROUP BY substr(at, 1, 13), reason"
        )
        db.execute("DROP TABLE signup_refusals")
    db.execute("DELETE FROM consent_events WHERE event = 'refused'")


def _bounce_reasons(db: Database) -> None:
    """Why each bounce came back (user unknown, mailbox full, spam…) beside its kind; events
    kept before say nothing (''). Plain SQL, so that it runs on either engine."""
    if not db.has_column("bounce_events", "reason"):
        db.execute("ALTER TABLE bounce_events ADD COLUMN reason TEXT NOT NULL DEFAULT ''")


# The meta key that says when this store moved to sealed link tokens (digest.tokens): old-form
# links, made before, are accepted for `[web] old_links_days` after it. A store created at
# version 13 or later has none, and never made an old-form link.
SEALED_LINKS_SINCE = "sealed_links_since"


def _sealed_links(db: Database) -> None:
    """Links stop carrying the address (digest.tokens): remember when, so that the old ones,
    already in inboxes, keep working for a while and then expire."""
    db.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (SEALED_LINKS_SINCE, dt.datetime.now(dt.UTC).isoformat()),
    )


# Version → the steps that bring a store from the version before it. Tables a version added
# are created by SCHEMA (idempotent DDL, run first); a step shared by several versions (the
# ledger's rebuild) runs once however far behind the store is.
def _learn_abbreviations(db: Database) -> None:
    """The abbreviations the stored abstracts define, counted as ingest counts them from then
    on (papers' vectors need nothing: a paper without one is embedded when first ranked)."""
    from digest.store.catalog import count_definitions

    count_definitions(db, (str(row[0]) for row in db.execute("SELECT abstract FROM papers")))


MIGRATIONS: dict[int, tuple[Callable[[Database], None], ...]] = {
    2: (_rebuild_deliveries,),  # ledger state `suppressed`
    3: (_tables_only,),  # subscribers
    4: (_rebuild_deliveries,),  # ledger state `deferred`, retry columns
    5: (_tables_only,),  # feedback
    6: (_add_paper_columns, _rebuild_deliveries),  # Hugging Face details; ledger `published`
    7: (_add_claim_columns,),  # several senders: claims and leases; shared relay rate limit
    8: (_tables_only,),  # sign-ups and the consent log
    9: (_tables_only,),  # readers' libraries; hashes of deleted addresses
    10: (_tables_only,),  # proofs of work, refused sign-ups, paper keywords, bounce events
    11: (_signups_by_id,),  # sign-ups by id, the mail queue, counted attempts and refusals
    12: (_bounce_reasons,),  # a bounce event's reason beside its kind
    13: (_sealed_links,),  # link tokens sealed: when old-form links began to expire
    # papers' meaning vectors (one per paper and model); the abbreviations abstracts define
    14: (_learn_abbreviations,),
}
assert max(MIGRATIONS) == SCHEMA_VERSION


# Steps written in SQL both engines run (the PostgreSQL spelling is translated per statement).
_PORTABLE = frozenset(
    {_tables_only, _signups_by_id, _bounce_reasons, _sealed_links, _learn_abbreviations}
)


def only_tables_since(version: int) -> bool:
    """Whether every version after `version` only added tables (which SCHEMA's idempotent DDL
    makes, on either engine) or ran steps both engines can run."""
    return all(set(steps) <= _PORTABLE for number, steps in MIGRATIONS.items() if number > version)


def upgrade(db: Database, version: int) -> None:
    """Run the migrations after `version`, in order, inside the caller's transaction."""
    done: set[Callable[[Database], None]] = set()
    for number in sorted(MIGRATIONS):
        for step in MIGRATIONS[number] if number > version else ():
            if step not in done:
                step(db)
                done.add(step)
