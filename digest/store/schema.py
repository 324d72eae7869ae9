"""The schema in each engine's DDL, its version and the numbered migrations; `Store.open`
creates or upgrades. A PostgreSQL store is created at the current version; the steps below
bring older SQLite files forward."""

from collections.abc import Callable

from digest.store.db import Database

SCHEMA_VERSION = 10

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
CREATE TABLE IF NOT EXISTS signups (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    profile TEXT NOT NULL,
    requested_at TEXT NOT NULL
);
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
CREATE TABLE IF NOT EXISTS signup_refusals (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signup_refusals_at ON signup_refusals(at);
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
    action TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX IF NOT EXISTS bounce_events_email ON bounce_events(email, at);
CREATE INDEX IF NOT EXISTS deliveries_message_id ON deliveries(message_id);
CREATE INDEX IF NOT EXISTS bounce_events_edition ON bounce_events(edition_id, kind);
CREATE TABLE IF NOT EXISTS paper_keywords (
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    keyword TEXT NOT NULL,
    PRIMARY KEY (paper_id, keyword)
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


# Version → the steps that bring a store from the version before it. Tables a version added
# are created by SCHEMA (idempotent DDL, run first); a step shared by several versions (the
# ledger's rebuild) runs once however far behind the store is.
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
}
assert max(MIGRATIONS) == SCHEMA_VERSION


def only_tables_since(version: int) -> bool:
    """Whether every version after `version` only added tables (which SCHEMA's idempotent DDL
    makes, on either engine)."""
    return all(steps == (_tables_only,) for number, steps in MIGRATIONS.items() if number > version)


def upgrade(db: Database, version: int) -> None:
    """Run the migrations after `version`, in order, inside the caller's transaction."""
    done: set[Callable[[Database], None]] = set()
    for number in sorted(MIGRATIONS):
        for step in MIGRATIONS[number] if number > version else ():
            if step not in done:
                step(db)
                done.add(step)
