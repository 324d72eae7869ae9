"""The SQLite store: the only module that speaks SQL.

Storage discipline: one file, WAL journal, every ingest one `BEGIN IMMEDIATE` transaction (so two
processes ingesting at once serialise instead of double counting), bulk work done in SQL against
a temporary table rather than by loading stored keys into Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from digest.errors import StoreBusy, StoreError
from digest.identity import paper_key, parse_arxiv_id, title_key
from digest.models import (
    Deferral,
    DeliveryState,
    IngestResult,
    Paper,
    Snapshot,
    StoredPaper,
    UpvoteMove,
)

SCHEMA_VERSION = 6

_SCHEMA = """
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
"""

_PAPER_COLUMNS = (
    "p.id, p.arxiv_id, p.title, p.abstract, p.authors, p.author_count, p.published, p.upvotes,"
    " p.url, p.pdf_url, p.code_url, p.first_seen, p.thumbnail_url, p.project_url, p.comments"
)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One row of the delivery ledger: who gets which papers in which edition, and how far."""

    edition_id: str
    email: str
    message_id: str
    state: DeliveryState
    picks: tuple[dict[str, Any], ...]
    error: str | None
    attempts: int
    retry_at: dt.datetime | None = None
    deferrals: int = 0
    failing_since: dt.datetime | None = None
    ambiguous: bool = False


_encode_json = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A subscriber kept in the store. `profile` holds interests (each {phrase, weight}),
    exclude, authors, liked, min_score and max_items; unset schedule fields are None."""

    email: str
    name: str
    profile: dict[str, Any]
    send_at: str | None = None
    timezone: str | None = None
    weekdays_only: bool | None = None
    # Feedback carried by an import (arXiv ids or stored ids); kept in the feedback table.
    more: tuple[str, ...] = ()
    less: tuple[str, ...] = ()


@dataclass(slots=True)
class _Known:
    """A stored paper as the merge sees it (mutable: a merge can teach it an id or upvotes)."""

    id: int
    arxiv_id: str | None
    title_key: str
    upvotes: int | None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One stored dump: its source, when it was stored, how many papers it listed, how many new."""

    id: int
    source: str
    format: str
    ingested_at: dt.datetime
    paper_count: int
    new_count: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What one dump changed: papers it saw first, how many it saw again, whose upvotes moved."""

    snapshot: SnapshotRow
    new: tuple[StoredPaper, ...]
    seen_again: int
    moved: tuple[UpvoteMove, ...]


def _paper_row(
    paper_id: int, paper: Paper, key: str, snapshot_id: int, now: str
) -> tuple[object, ...]:
    return (
        paper_id,
        paper.arxiv_id,
        key,
        paper.title,
        paper.abstract,
        _encode_json(list(paper.authors)),
        paper.author_count,
        paper.published.isoformat() if paper.published else None,
        paper.upvotes,
        paper.url,
        paper.pdf_url,
        paper.code_url,
        snapshot_id,
        now,
        paper.thumbnail_url,
        paper.project_url,
        paper.comments,
    )


def _details(paper: Paper, paper_id: int) -> tuple[object, ...]:
    """The UPDATE parameters that fill a stored paper's missing details from `paper`."""
    return (
        _encode_json(list(paper.authors)),
        paper.author_count,
        paper.abstract,
        paper.published.isoformat() if paper.published else None,
        paper.url,
        paper.pdf_url,
        paper.code_url,
        paper.thumbnail_url,
        paper.project_url,
        paper.comments,
        paper_id,
    )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _row_to_paper(row: sqlite3.Row) -> StoredPaper:
    published = dt.date.fromisoformat(row["published"]) if row["published"] else None
    arxiv_id = row["arxiv_id"]
    paper = Paper(
        key=paper_key(row["title"], arxiv_id),
        title=row["title"],
        abstract=row["abstract"],
        arxiv_id=arxiv_id,
        authors=tuple(json.loads(row["authors"])),
        author_count=row["author_count"],
        published=published,
        upvotes=row["upvotes"],
        url=row["url"],
        pdf_url=row["pdf_url"],
        code_url=row["code_url"],
        thumbnail_url=row["thumbnail_url"],
        project_url=row["project_url"],
        comments=row["comments"],
    )
    return StoredPaper(
        id=row["id"],
        paper=paper,
        first_seen=dt.datetime.fromisoformat(row["first_seen"]),
        upvotes=row["upvotes"],
    )


def store_error(path: Path, exc: sqlite3.Error, *, opening: bool = False) -> StoreError:
    """One line naming the file, what SQLite found and what to do about it."""
    text = str(exc)
    folded = text.casefold()
    if "locked" in folded or "busy" in folded:
        return StoreBusy(
            f"database {path} is busy: another digest process is writing to it; try again in a"
            " moment"
        )
    if "malformed" in folded or "not a database" in folded or "corrupt" in folded:
        return StoreError(
            f"database {path} is damaged ({text}); restore it from a backup, or rescue what is"
            f" left with `sqlite3 {path} .recover`"
        )
    if "full" in folded:
        return StoreError(
            f"database {path}: the disk is full ({text}); nothing was half-written: free some"
            " space and run the command again"
        )
    if "readonly" in folded or "read-only" in folded:
        return StoreError(
            f"database {path} is read-only ({text}); check the permissions of the file and its"
            " folder"
        )
    if "unable to open" in folded:
        return StoreError(f"cannot open database {path} ({text}); check the path and permissions")
    if opening:
        return StoreError(f"database {path} is not a usable digest store ({text})")
    return StoreError(f"database {path}: {text}")


_Class = TypeVar("_Class", bound=type)


def _translating_errors(cls: _Class) -> _Class:
    """Every public method of the store raises StoreError, never a raw sqlite3 error."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

        return translated

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and name != "transaction" and inspect.isfunction(member):
            setattr(cls, name, wrap(member))
    return cls


@_translating_errors
class Store:
    """A digest database file. Use `Store.open(path)` as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, read_only: bool = False, timeout: float = 30.0) -> Store:
        """Open (and create, or upgrade) a store. Opening takes no write lock unless the file
        needs creating or upgrading, so readers never wait for a long write. `read_only` opens
        for reading alone (a read-only file or folder works) and never creates anything.
        `timeout` is how long a write waits for another process's write to finish."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"database {path} is a directory; set `database` to a file path")
        if not path.parent.exists():
            raise StoreError(f"database folder {path.parent} does not exist; create it first")
        if read_only and not path.exists():
            raise StoreError(
                f"database {path} does not exist yet; `digest ingest` some dumps first"
            )
        try:
            connection = cls._connect(path, read_only, timeout)
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None
        store = cls(connection, path)
        try:
            store._migrate(read_only)
        except sqlite3.Error as exc:
            connection.close()
            raise store_error(path, exc, opening=True) from None
        except StoreError:
            connection.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, read_only: bool, timeout: float) -> sqlite3.Connection:
        if read_only:
            # mode=ro needs the WAL index beside the file; a read-only folder where nobody can
            # be writing is read as immutable.
            writable_folder = os.access(path.parent, os.W_OK)
            query = (
                "mode=ro"
                if writable_folder or path.with_name(path.name + "-shm").exists()
                else "immutable=1"
            )
            uri = f"{path.resolve().as_uri()}?{query}"
            connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        if not read_only:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache: a big store's index pages stay hot across one ingest.
        connection.execute("PRAGMA cache_size=-65536")
        return connection

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _schema_version(self) -> int | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else int(row["value"])

    def _migrate(self, read_only: bool = False) -> None:
        """Create or upgrade the schema; a store already at this version is only read."""
        version = self._schema_version()
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema {version}, newer than this digest"
                f" ({SCHEMA_VERSION}); upgrade digest"
            )
        if read_only:
            raise StoreError(
                f"database {self.path} has schema {version or 0}, older than this digest's"
                f" ({SCHEMA_VERSION}); run any writing command (such as `digest ingest`) once to"
                " upgrade it"
            )
        # executescript commits any open transaction, so the idempotent DDL runs on its own.
        self._db.executescript(_SCHEMA)
        with self.transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row["value"]) < SCHEMA_VERSION:
                if int(row["value"]) < 6:  # 4 added `deferred`, 6 `published`
                    self._rebuild_deliveries()
                if int(row["value"]) < 6:
                    self._add_paper_columns()
                # Schema 3 added the subscribers table, 5 the feedback table: the DDL above
                # created them.
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS deliveries_retry ON deliveries(retry_at)"
                " WHERE state = 'deferred'"
            )

    def _add_paper_columns(self) -> None:
        """Schema 6: what Hugging Face's daily papers add (thumbnail, project page, comments)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(papers)")}
        for column, kind in (
            ("thumbnail_url", "TEXT"),
            ("project_url", "TEXT"),
            ("comments", "INTEGER"),
        ):
            if column not in have:
                self._db.execute(f"ALTER TABLE papers ADD COLUMN {column} {kind}")

    def _rebuild_deliveries(self) -> None:
        """The ledger in today's shape: SQLite cannot alter a CHECK constraint (schema 2 added
        `suppressed`, 4 `deferred`) or add columns with constraints in place, so the rows are
        copied into a new table (inside the open transaction), column by column."""
        db = self._db
        old = [row[1] for row in db.execute("PRAGMA table_info(deliveries)")]
        db.execute("DROP INDEX IF EXISTS deliveries_retry")
        db.execute("ALTER TABLE deliveries RENAME TO deliveries_old")
        table = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS deliveries") :]
        db.execute(table[: table.index(");") + 2])
        columns = ", ".join(old)
        db.execute(f"INSERT INTO deliveries({columns}) SELECT {columns} FROM deliveries_old")  # noqa: S608
        db.execute("DROP TABLE deliveries_old")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back itself (disk full)
                self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise store_error(self.path, exc) from None

    # -- ingest and diff -------------------------------------------------------------------

    def ingest(self, snapshot: Snapshot, now: dt.datetime) -> IngestResult:
        """Store a snapshot and return which of its papers were never seen before.

        One transaction: either the snapshot, its new papers and all its sightings are stored,
        or nothing is.
        """
        return self.ingest_many([snapshot], now)[0]

    def ingest_many(self, snapshots: Sequence[Snapshot], now: dt.datetime) -> list[IngestResult]:
        """Store a batch of snapshots in order, in one transaction: all of them, or (if any
        fails) none. A paper new in the first dump is seen again in a later one."""
        with self.transaction() as db:
            return [self._ingest_one(db, snapshot, now) for snapshot in snapshots]

    def _ingest_one(
        self, db: sqlite3.Connection, snapshot: Snapshot, now: dt.datetime
    ) -> IngestResult:
        known = db.execute(
            "SELECT id FROM snapshots WHERE content_hash = ?", (snapshot.content_hash,)
        ).fetchone()
        if known is not None:
            return IngestResult(
                source=snapshot.source,
                format=snapshot.format,
                snapshot_id=known["id"],
                new=(),
                seen_again=len(snapshot.papers),
                duplicate_dump=True,
            )
        snapshot_id = db.execute(
            "INSERT INTO snapshots(source, format, content_hash, ingested_at, paper_count)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                snapshot.source,
                snapshot.format,
                snapshot.content_hash,
                _iso(now),
                len(snapshot.papers),
            ),
        ).lastrowid
        assert snapshot_id is not None
        new_positions, moves = self._merge_papers(db, snapshot, snapshot_id, _iso(now))
        db.execute(
            "UPDATE snapshots SET new_count = ? WHERE id = ?", (len(new_positions), snapshot_id)
        )
        new = tuple(snapshot.papers[pos] for pos in new_positions)
        return IngestResult(
            source=snapshot.source,
            format=snapshot.format,
            snapshot_id=snapshot_id,
            new=new,
            seen_again=len(snapshot.papers) - len(new),
            moved=tuple(moves),
        )

    def _merge_papers(
        self, db: sqlite3.Connection, snapshot: Snapshot, snapshot_id: int, now: str
    ) -> tuple[list[int], list[UpvoteMove]]:
        """Match the dump's papers to stored ones; insert the new ones and every sighting.

        Only the dump's own keys are looked up (index probes through `json_each`), so the cost
        follows the size of the dump, not of the store. Returns the positions of the new papers
        and the upvote movements of the papers seen again.
        """
        papers = snapshot.papers
        ids = [p.arxiv_id for p in papers if p.arxiv_id]
        by_id: dict[str, _Known] = {}
        by_title: dict[str, list[_Known]] = {}
        for row in db.execute(
            "SELECT id, arxiv_id, title_key, upvotes FROM papers"
            " WHERE arxiv_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ):
            by_id[row[1]] = _Known(row[0], row[1], row[2], row[3])
        # Only papers not found by id need a title key (to match by title, or to be stored).
        keys = [None if p.arxiv_id in by_id else title_key(p.title) for p in papers]
        unmatched = [key for key in keys if key is not None]
        for row in db.execute(
            "SELECT id, arxiv_id, title_key, upvotes FROM papers"
            " WHERE title_key IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(unmatched),),
        ):
            stored = by_id.get(row[1]) or _Known(row[0], row[1], row[2], row[3])
            by_title.setdefault(stored.title_key, []).append(stored)
        next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM papers").fetchone()[0]
        new_rows: list[tuple[object, ...]] = []
        new_positions: list[int] = []
        sightings: list[tuple[int, int, int, int | None]] = []
        learned_ids: list[tuple[str, int]] = []
        details: list[tuple[object, ...]] = []  # what a paper seen by title only lacked
        moves: list[UpvoteMove] = []
        for pos, (paper, key) in enumerate(zip(papers, keys, strict=True)):
            known = self._match(paper, key, by_id, by_title)
            if known is None:
                assert key is not None  # unmatched by id, so its key was computed
                known = _Known(next_id, paper.arxiv_id, key, paper.upvotes)
                next_id += 1
                new_positions.append(pos)
                new_rows.append(_paper_row(known.id, paper, key, snapshot_id, now))
                by_title.setdefault(key, []).append(known)
            else:
                if paper.arxiv_id and known.arxiv_id is None:
                    # A paper first seen by title learns its arXiv id from a later dump.
                    known.arxiv_id = paper.arxiv_id
                    learned_ids.append((paper.arxiv_id, known.id))
                    details.append(_details(paper, known.id))
                if paper.upvotes is not None and paper.upvotes != known.upvotes:
                    moves.append(UpvoteMove(known.id, paper, known.upvotes, paper.upvotes))
                    known.upvotes = paper.upvotes
            if known.arxiv_id:
                by_id[known.arxiv_id] = known
            sightings.append((snapshot_id, known.id, pos, paper.upvotes))
        db.executemany(
            "INSERT INTO papers(id, arxiv_id, title_key, title, abstract, authors, author_count,"
            " published, upvotes, url, pdf_url, code_url, first_snapshot_id, first_seen,"
            " thumbnail_url, project_url, comments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
        db.executemany("UPDATE papers SET arxiv_id = ? WHERE id = ?", learned_ids)
        # A paper first listed without an id (a page dump: an author count, no links) takes
        # what the richer listing knows, where it had nothing.
        db.executemany(
            "UPDATE papers SET"
            " authors = CASE WHEN authors = '[]' THEN ? ELSE authors END,"
            " author_count = coalesce(author_count, ?), abstract = CASE WHEN abstract = ''"
            " THEN ? ELSE abstract END, published = coalesce(published, ?),"
            " url = coalesce(url, ?), pdf_url = coalesce(pdf_url, ?),"
            " code_url = coalesce(code_url, ?), thumbnail_url = coalesce(thumbnail_url, ?),"
            " project_url = coalesce(project_url, ?), comments = coalesce(?, comments)"
            " WHERE id = ?",
            details,
        )
        db.executemany(
            "UPDATE papers SET upvotes = ? WHERE id = ?",
            ((move.upvotes_now, move.paper_id) for move in moves),
        )
        db.executemany(
            "INSERT OR IGNORE INTO sightings(snapshot_id, paper_id, position, upvotes)"
            " VALUES (?, ?, ?, ?)",
            sightings,
        )
        return new_positions, moves

    @staticmethod
    def _match(
        paper: Paper, key: str | None, by_id: dict[str, _Known], by_title: dict[str, list[_Known]]
    ) -> _Known | None:
        """Identity: the arXiv id when both sides have one; otherwise the folded title."""
        if paper.arxiv_id and paper.arxiv_id in by_id:
            return by_id[paper.arxiv_id]
        for known in by_title.get(key or "", ()):
            if known.arxiv_id is None or paper.arxiv_id is None:
                return known
        return None

    # -- queries ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        tables = ("snapshots", "papers", "sightings", "deliveries", "sent_papers")
        return {
            table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in tables
        }

    def candidate_papers(self, email: str, since: dt.datetime) -> list[StoredPaper]:
        """Papers first seen at or after `since` that this subscriber has not been sent."""
        rows = self._db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE p.first_seen >= ? AND NOT EXISTS"  # noqa: S608
            " (SELECT 1 FROM sent_papers s WHERE s.email = ? AND s.paper_id = p.id)"
            " ORDER BY p.id",
            (_iso(since), email),
        )
        return [_row_to_paper(row) for row in rows]

    def recent_papers(self, since: dt.datetime) -> list[StoredPaper]:
        """Papers first seen at or after `since`, oldest first."""
        rows = self._db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE p.first_seen >= ? ORDER BY p.id",  # noqa: S608
            (_iso(since),),
        )
        return [_row_to_paper(row) for row in rows]

    def sent_paper_ids(self, emails: Iterable[str]) -> dict[str, set[int]]:
        """For each address, the papers it has already been sent (in any edition)."""
        sent: dict[str, set[int]] = {email: set() for email in emails}
        rows = self._db.execute(
            "SELECT email, paper_id FROM sent_papers"
            " WHERE email IN (SELECT value FROM json_each(?))",
            (json.dumps(list(sent)),),
        )
        for email, paper_id in rows:
            sent[email].add(paper_id)
        return sent

    def upvote_deltas(self, paper_ids: Iterable[int]) -> dict[int, int]:
        """Upvotes gained between each paper's last two sightings that carried upvotes."""
        rows = self._db.execute(
            "SELECT paper_id, upvotes,"
            " lag(upvotes) OVER (PARTITION BY paper_id ORDER BY snapshot_id),"
            " row_number() OVER (PARTITION BY paper_id ORDER BY snapshot_id DESC)"
            " FROM sightings WHERE upvotes IS NOT NULL AND paper_id IN"
            " (SELECT value FROM json_each(?))",
            (json.dumps(list(paper_ids)),),
        )
        return {
            paper_id: now - before
            for paper_id, now, before, recency in rows
            if recency == 1 and before is not None
        }

    def corpus_texts(self, limit: int) -> list[str]:
        """Title and abstract of the `limit` most recently stored papers: corpus statistics."""
        rows = self._db.execute(
            "SELECT title, abstract FROM papers ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [f"{title}. {title}. {abstract}" for title, abstract in rows]

    def find_papers(self, references: Iterable[str]) -> tuple[list[StoredPaper], list[str]]:
        """Resolve arXiv ids / URLs or titles to stored papers; also return the unresolved ones."""
        found: list[StoredPaper] = []
        missing: list[str] = []
        for reference in references:
            arxiv_id = parse_arxiv_id(reference)
            row = None
            if arxiv_id:
                row = self._db.execute(
                    f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE p.arxiv_id = ?",  # noqa: S608
                    (arxiv_id,),
                ).fetchone()
            if row is None:
                row = self._db.execute(
                    f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE p.title_key = ?"  # noqa: S608
                    " ORDER BY p.id LIMIT 1",
                    (title_key(reference),),
                ).fetchone()
            if row is None:
                missing.append(reference)
            else:
                found.append(_row_to_paper(row))
        return found, missing

    def papers(self, snapshot_id: int | None = None) -> list[StoredPaper]:
        """Every stored paper in first-seen order, or the papers one dump listed, in its order."""
        if snapshot_id is None:
            rows = self._db.execute(f"SELECT {_PAPER_COLUMNS} FROM papers p ORDER BY p.id")  # noqa: S608
        else:
            rows = self._db.execute(
                f"SELECT {_PAPER_COLUMNS} FROM sightings s JOIN papers p ON p.id = s.paper_id"  # noqa: S608
                " WHERE s.snapshot_id = ? ORDER BY s.position",
                (snapshot_id,),
            )
        return [_row_to_paper(row) for row in rows]

    def snapshots(self, limit: int | None = None) -> list[SnapshotRow]:
        """Stored dumps, newest first."""
        rows = self._db.execute(
            "SELECT id, source, format, ingested_at, paper_count, new_count FROM snapshots"
            " ORDER BY id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [
            SnapshotRow(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), r[4], r[5]) for r in rows
        ]

    def changes(self, snapshot_id: int | None = None) -> Changes:
        """What a stored dump changed (the latest one when no id is given), from the history."""
        if snapshot_id is None:
            latest = self.snapshots(limit=1)
            if not latest:
                raise StoreError(f"database {self.path} holds no dumps yet; run `digest ingest`")
            snapshot = latest[0]
        else:
            found = [s for s in self.snapshots() if s.id == snapshot_id]
            if not found:
                raise StoreError(
                    f"no dump #{snapshot_id} in {self.path}; `digest history` lists them"
                )
            snapshot = found[0]
        new_ids = [
            row[0]
            for row in self._db.execute(
                "SELECT id FROM papers WHERE first_snapshot_id = ? ORDER BY id", (snapshot.id,)
            )
        ]
        seen_again = self._db.execute(
            "SELECT count(*) FROM sightings s JOIN papers p ON p.id = s.paper_id"
            " WHERE s.snapshot_id = ? AND p.first_snapshot_id != s.snapshot_id",
            (snapshot.id,),
        ).fetchone()[0]
        # Each sighting's upvotes against the same paper's previous sighting that had some.
        movements = self._db.execute(
            "SELECT paper_id, before, now FROM (SELECT s.paper_id, s.position, s.upvotes AS now,"
            " (SELECT e.upvotes FROM sightings e WHERE e.paper_id = s.paper_id"
            "  AND e.snapshot_id < s.snapshot_id AND e.upvotes IS NOT NULL"
            "  ORDER BY e.snapshot_id DESC LIMIT 1) AS before"
            " FROM sightings s WHERE s.snapshot_id = ? AND s.upvotes IS NOT NULL)"
            " WHERE before IS NOT NULL AND before != now ORDER BY now - before DESC, position",
            (snapshot.id,),
        ).fetchall()
        papers = self.papers_by_id([*new_ids, *(row[0] for row in movements)])
        return Changes(
            snapshot=snapshot,
            new=tuple(papers[i] for i in new_ids),
            seen_again=seen_again,
            moved=tuple(
                UpvoteMove(pid, papers[pid].paper, before, now) for pid, before, now in movements
            ),
        )

    def papers_by_id(self, ids: Iterable[int]) -> dict[int, StoredPaper]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = self._db.execute(
            f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE p.id IN"  # noqa: S608
            " (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
        return {paper.id: paper for paper in map(_row_to_paper, rows)}

    # -- delivery ledger -------------------------------------------------------------------

    def delivery(self, edition_id: str, email: str) -> DeliveryRow | None:
        """One ledger row; the address matches regardless of ASCII case."""
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE edition_id = ? AND email = ? COLLATE NOCASE",
            (edition_id, email),
        ).fetchone()
        return _row_to_delivery(row) if row else None

    def deliveries(self, edition_id: str) -> list[DeliveryRow]:
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE edition_id = ? ORDER BY email", (edition_id,)
        )
        return [_row_to_delivery(row) for row in rows]

    def plan_delivery(
        self,
        edition_id: str,
        email: str,
        message_id: str,
        picks: Sequence[dict[str, Any]],
        now: dt.datetime,
        *,
        dry_run: bool = False,
        send_empty: bool = False,
    ) -> DeliveryRow:
        """Record who gets which papers before anything is sent, so a resume sends the same.

        An edition without papers is `empty` (not sent) unless `send_empty`. A dry run returns
        the row it would have recorded and records nothing."""
        state = _initial_state(bool(picks), send_empty, self.suppressed(email) is not None)
        if dry_run:
            return DeliveryRow(edition_id, email, message_id, state, tuple(picks), None, 0)
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO deliveries(edition_id, email, message_id, state, picks,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (edition_id, email, message_id, state, json.dumps(list(picks)), _iso(now)),
            )
        row = self.delivery(edition_id, email)
        assert row is not None
        return row

    def plan_deliveries(
        self,
        rows: Sequence[tuple[str, str, str, Sequence[dict[str, Any]]]],
        now: dt.datetime,
        *,
        send_empty: bool = False,
    ) -> None:
        """plan_delivery for many readers in one transaction; rows: (edition, email, id, picks)."""
        suppressed = {row[0] for row in self._db.execute("SELECT email FROM suppressions")}
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO deliveries(edition_id, email, message_id, state, picks,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        edition_id,
                        email,
                        message_id,
                        _initial_state(bool(picks), send_empty, email.casefold() in suppressed),
                        json.dumps(list(picks)),
                        _iso(now),
                    )
                    for edition_id, email, message_id, picks in rows
                ),
            )

    def record_progress(
        self,
        edition_id: str,
        now: dt.datetime,
        *,
        sending: Sequence[str] = (),
        sent: Sequence[str] = (),
        failed: Sequence[tuple[str, str, bool]] = (),
        deferred: Sequence[Deferral] = (),
        published: Sequence[str] = (),
    ) -> int:
        """Move ledger rows in one transaction: `sending` (about to be handed to the relay),
        `sent` (the relay accepted; the papers it carried are recorded as sent to that reader),
        `failed` ((email, error, suppress): a permanent failure also suppresses the address),
        `deferred` (a temporary failure: tried again at its retry_at), `published` (a
        feed-only reader's edition, in their feed: its papers count as sent to them).
        Returns how many rows moved to `sending`: 0 means the row was withdrawn meanwhile (the
        reader unsubscribed), so its message must not go out."""
        stamp = _iso(now)
        with self.transaction() as db:
            # Only the statements that have rows to touch: this runs once per message sent.
            moved = 0
            if sending:
                moved = db.executemany(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                    " updated_at = ? WHERE edition_id = ? AND email = ?"
                    " AND state IN ('pending', 'sending', 'deferred')",
                    ((stamp, edition_id, email) for email in sending),
                ).rowcount
            for state, emails in (("sent", sent), ("published", published)):
                if not emails:
                    continue
                db.executemany(
                    "UPDATE deliveries SET state = ?, error = NULL, retry_at = NULL,"
                    " updated_at = ? WHERE edition_id = ? AND email = ?",
                    ((state, stamp, edition_id, email) for email in emails),
                )
                db.execute(
                    "INSERT OR IGNORE INTO sent_papers(email, paper_id, edition_id)"
                    " SELECT d.email, json_extract(p.value, '$.paper_id'), d.edition_id"
                    " FROM deliveries d, json_each(d.picks) p"
                    " WHERE d.edition_id = ? AND d.email IN (SELECT value FROM json_each(?))",
                    (edition_id, json.dumps(list(emails))),
                )
            if failed:
                db.executemany(
                    "UPDATE deliveries SET state = 'failed', error = ?, updated_at = ?"
                    " WHERE edition_id = ? AND email = ?",
                    ((error, stamp, edition_id, email) for email, error, _ in failed),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO suppressions(email, reason, created_at)"
                    " VALUES (?, ?, ?)",
                    ((email.casefold(), error, stamp) for email, error, drop in failed if drop),
                )
            if deferred:
                db.executemany(
                    "UPDATE deliveries SET state = 'deferred', error = ?, retry_at = ?,"
                    " deferrals = deferrals + 1, failing_since = ?, ambiguous = ?,"
                    " updated_at = ? WHERE edition_id = ? AND email = ?",
                    (
                        (
                            d.error,
                            _iso(d.retry_at),
                            _iso(d.failing_since),
                            d.ambiguous,
                            stamp,
                            edition_id,
                            d.email,
                        )
                        for d in deferred
                    ),
                )
        return moved

    def mark_sending(self, edition_id: str, email: str, now: dt.datetime) -> None:
        self.record_progress(edition_id, now, sending=[email])

    def mark_sent(self, edition_id: str, email: str, now: dt.datetime) -> None:
        """Record the send and the papers it carried, in one transaction."""
        self.record_progress(edition_id, now, sent=[email])

    def mark_failed(
        self, edition_id: str, email: str, error: str, now: dt.datetime, *, suppress: bool = False
    ) -> None:
        """Record a failed delivery; a permanent one (5xx) also suppresses the address for
        future editions, in the same transaction."""
        self.record_progress(edition_id, now, failed=[(email, error, suppress)])

    def suppressed(self, email: str) -> str | None:
        """Why this address gets no more mail, or None."""
        row = self._db.execute(
            "SELECT reason FROM suppressions WHERE email = ?", (email.casefold(),)
        ).fetchone()
        return None if row is None else str(row[0])

    def unsuppress(self, email: str, *, only_unsubscribed: bool = False) -> bool:
        """Mail an address again. With `only_unsubscribed`, only the reader's own unsubscribe
        is lifted, never a bounce (a relay's 5xx)."""
        with self.transaction() as db:
            deleted = db.execute(
                "DELETE FROM suppressions WHERE email = ?"
                " AND (NOT ? OR reason LIKE 'unsubscribed%')",
                (email.casefold(), only_unsubscribed),
            )
            return deleted.rowcount > 0

    def due_retries(self, now: dt.datetime) -> list[DeliveryRow]:
        """Deferred rows whose time to try again has come, oldest edition first."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE state = 'deferred' AND retry_at <= ?"
            " ORDER BY edition_id, email",
            (_iso(now),),
        )
        return [_row_to_delivery(row) for row in rows]

    def retry_failed(self, edition_id: str, now: dt.datetime) -> int:
        """Put an edition's failed deliveries back to pending; returns how many."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE deliveries SET state = 'pending', error = NULL, updated_at = ?,"
                " retry_at = NULL, deferrals = 0, failing_since = NULL, ambiguous = 0"
                " WHERE edition_id = ? AND state = 'failed'",
                (_iso(now), edition_id),
            ).rowcount

    # -- subscribers -----------------------------------------------------------------------

    def upsert_subscribers(self, rows: Sequence[SubscriberRow], now: dt.datetime) -> int:
        """Add or update subscribers in one transaction; returns how many were new."""
        stamp = _iso(now)
        with self.transaction() as db:
            before = db.execute("SELECT count(*) FROM subscribers").fetchone()[0]
            db.executemany(
                "INSERT INTO subscribers(email, name, profile, send_at, timezone, weekdays_only,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(email) DO UPDATE SET name = excluded.name,"
                " profile = excluded.profile, send_at = excluded.send_at,"
                " timezone = excluded.timezone, weekdays_only = excluded.weekdays_only,"
                " updated_at = excluded.updated_at",
                (
                    (
                        r.email,
                        r.name,
                        _encode_json(r.profile),
                        r.send_at,
                        r.timezone,
                        r.weekdays_only,
                        stamp,
                        stamp,
                    )
                    for r in rows
                ),
            )
            after = db.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        return int(after - before)

    def subscriber_rows(
        self,
        email: str | None = None,
        *,
        containing: str = "",
        offset: int = 0,
        limit: int = -1,
    ) -> list[SubscriberRow]:
        """Subscribers kept in the store, by address: the one with this address, or those whose
        address contains `containing` (any case), `limit` of them from `offset` (-1: all)."""
        query = "SELECT email, name, profile, send_at, timezone, weekdays_only FROM subscribers"
        if email is not None:
            rows = self._db.execute(query + " WHERE email = ?", (email,))
        else:
            rows = self._db.execute(
                query + " WHERE instr(lower(email), ?) > 0 ORDER BY email LIMIT ? OFFSET ?",
                (containing.casefold(), limit, offset),
            )
        return [
            SubscriberRow(
                r[0], r[1], json.loads(r[2]), r[3], r[4], None if r[5] is None else bool(r[5])
            )
            for r in rows
        ]

    def count_subscribers(self, containing: str = "") -> int:
        row = self._db.execute(
            "SELECT count(*) FROM subscribers WHERE instr(lower(email), ?) > 0",
            (containing.casefold(),),
        ).fetchone()
        return int(row[0])

    def subscriber_schedules(self) -> list[tuple[str | None, str | None, bool | None]]:
        """The distinct (send_at, timezone, weekdays_only) of stored subscribers (None: unset)."""
        rows = self._db.execute("SELECT DISTINCT send_at, timezone, weekdays_only FROM subscribers")
        return [(r[0], r[1], None if r[2] is None else bool(r[2])) for r in rows]

    def stored_addresses(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses have a row in the subscribers table (casefolded)."""
        rows = self._db.execute(
            "SELECT email FROM subscribers WHERE email IN (SELECT value FROM json_each(?))",
            (json.dumps(list(emails)),),
        )
        return {row[0].casefold() for row in rows}

    def remove_subscriber(self, email: str) -> bool:
        """Remove a reader's row and their feedback (one transaction); history stays."""
        with self.transaction() as db:
            db.execute("DELETE FROM feedback WHERE email = ?", (email,))
            return db.execute("DELETE FROM subscribers WHERE email = ?", (email,)).rowcount > 0

    # -- feedback ------------------------------------------------------------------------

    def record_feedback(
        self, email: str, paper_ids: Sequence[int], verdict: str, now: dt.datetime
    ) -> None:
        """ "more" or "less" like these papers, for this reader (the latest word wins)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO feedback(email, paper_id, verdict, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(email, paper_id) DO UPDATE SET verdict = excluded.verdict,"
                " created_at = excluded.created_at",
                ((email.casefold(), paper_id, verdict, _iso(now)) for paper_id in paper_ids),
            )

    def forget_feedback(self, email: str, paper_ids: Sequence[int]) -> int:
        """Undo feedback on these papers; returns how many rows went."""
        with self.transaction() as db:
            return db.executemany(
                "DELETE FROM feedback WHERE email = ? AND paper_id = ?",
                ((email.casefold(), paper_id) for paper_id in paper_ids),
            ).rowcount

    def feedback(self, emails: Iterable[str]) -> dict[str, dict[str, list[StoredPaper]]]:
        """Each reader's feedback: {"more": [...], "less": [...]}, oldest first."""
        wanted = {email.casefold(): email for email in emails}
        found: dict[str, dict[str, list[StoredPaper]]] = {
            email: {"more": [], "less": []} for email in wanted.values()
        }
        rows = self._db.execute(
            f"SELECT f.email, f.verdict, {_PAPER_COLUMNS} FROM feedback f"  # noqa: S608
            " JOIN papers p ON p.id = f.paper_id"
            " WHERE f.email IN (SELECT value FROM json_each(?))"
            " ORDER BY f.created_at, f.paper_id",
            (json.dumps(list(wanted)),),
        )
        for row in rows:
            found[wanted[row["email"]]][row["verdict"]].append(_row_to_paper(row))
        return found

    def unsubscribe(self, email: str, now: dt.datetime, reason: str = "unsubscribed") -> None:
        """Stop all mail to an address at once: suppress it, and withdraw whatever of an
        edition was planned for it but not handed to a relay yet (one transaction)."""
        stamp = _iso(now)
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO suppressions(email, reason, created_at) VALUES (?, ?, ?)",
                (email.casefold(), reason, stamp),
            )
            db.execute(
                "UPDATE deliveries SET state = 'suppressed', updated_at = ?"
                " WHERE email = ? COLLATE NOCASE AND state IN ('pending', 'failed', 'deferred')",
                (stamp, email),
            )

    def suppressions(self) -> dict[str, str]:
        """Every suppressed address (casefolded) with the reason."""
        return {
            row[0]: row[1] for row in self._db.execute("SELECT email, reason FROM suppressions")
        }

    def unfinished(self, edition_id: str) -> list[str]:
        """Addresses of an edition still `pending` or `sending` (a run was cut short)."""
        rows = self._db.execute(
            "SELECT email FROM deliveries WHERE edition_id = ? AND state IN ('pending', 'sending')",
            (edition_id,),
        )
        return [row[0] for row in rows]

    def sent_editions(self, email: str, limit: int = 1000) -> list[DeliveryRow]:
        """The editions this address got (mailed, or published to their feed), newest first."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE email = ? COLLATE NOCASE"
            " AND state IN ('sent', 'published') ORDER BY edition_id DESC LIMIT ?",
            (email, limit),
        )
        return [_row_to_delivery(row) for row in rows]

    def delivery_counts(self, edition_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, count(*) FROM deliveries WHERE edition_id = ? GROUP BY state",
            (edition_id,),
        )
        return {state: count for state, count in rows}

    def state_stamp(self, email: str) -> tuple[int, int, int]:
        """Changes whenever what a reader's next edition would hold may change: a new dump, a
        paper sent to them, an edition planned for them."""
        row = self._db.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM snapshots),"
            " (SELECT count(*) FROM sent_papers WHERE email = ?),"
            " (SELECT count(*) FROM deliveries WHERE email = ?)",
            (email, email),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def latest_edition(self) -> str | None:
        row = self._db.execute("SELECT max(edition_id) FROM deliveries").fetchone()
        return None if row is None or row[0] is None else str(row[0])


def _initial_state(has_picks: bool, send_empty: bool, suppressed: bool) -> DeliveryState:
    """A planned delivery starts `suppressed` (address refused mail for good), `pending`, or
    `empty` (nothing new, and empty editions are not sent)."""
    if suppressed:
        return DeliveryState.SUPPRESSED
    return DeliveryState.PENDING if has_picks or send_empty else DeliveryState.EMPTY


def _moment(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _row_to_delivery(row: sqlite3.Row) -> DeliveryRow:
    return DeliveryRow(
        edition_id=row["edition_id"],
        email=row["email"],
        message_id=row["message_id"],
        state=DeliveryState(row["state"]),
        picks=tuple(json.loads(row["picks"])),
        error=row["error"],
        attempts=row["attempts"],
        retry_at=_moment(row["retry_at"]),
        deferrals=row["deferrals"],
        failing_since=_moment(row["failing_since"]),
        ambiguous=bool(row["ambiguous"]),
    )
