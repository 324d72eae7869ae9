"""The SQLite store: the only module that speaks SQL.

Storage discipline: one file, WAL journal, every ingest one `BEGIN IMMEDIATE` transaction (so two
processes ingesting at once serialise instead of double counting), bulk work done in SQL against
a temporary table rather than by loading stored keys into Python.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.errors import StoreError
from digest.identity import paper_key, title_key
from digest.models import IngestResult, Paper, Snapshot, StoredPaper

SCHEMA_VERSION = 1

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
    first_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_title_key ON papers(title_key);
CREATE INDEX IF NOT EXISTS papers_first_seen ON papers(first_seen);
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
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'empty')),
    picks TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (edition_id, email)
);
CREATE TABLE IF NOT EXISTS sent_papers (
    email TEXT NOT NULL,
    paper_id INTEGER NOT NULL REFERENCES papers(id),
    edition_id TEXT NOT NULL,
    PRIMARY KEY (email, paper_id)
) WITHOUT ROWID;
"""

_PAPER_COLUMNS = (
    "p.id, p.arxiv_id, p.title, p.abstract, p.authors, p.author_count, p.published, p.upvotes,"
    " p.url, p.pdf_url, p.code_url, p.first_seen"
)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One row of the delivery ledger: who gets which papers in which edition, and how far."""

    edition_id: str
    email: str
    message_id: str
    state: str
    picks: tuple[dict[str, Any], ...]
    error: str | None
    attempts: int


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
    )
    return StoredPaper(
        id=row["id"],
        paper=paper,
        first_seen=dt.datetime.fromisoformat(row["first_seen"]),
        upvotes=row["upvotes"],
    )


class Store:
    """A digest database file. Use `Store.open(path)` as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"database {path} is a directory; set `database` to a file path")
        if not path.parent.exists():
            raise StoreError(f"database folder {path.parent} does not exist; create it first")
        try:
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA synchronous=NORMAL")
            store = cls(connection, path)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"database {path} is not a usable digest store ({exc})") from None
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _migrate(self) -> None:
        # executescript commits any open transaction, so the idempotent DDL runs on its own.
        self._db.executescript(_SCHEMA)
        with self.transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row["value"]) > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema {row['value']}, newer than this digest"
                    f" ({SCHEMA_VERSION}); upgrade digest"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"database {self.path} is busy or read-only ({exc})") from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # -- ingest and diff -------------------------------------------------------------------

    def ingest(self, snapshot: Snapshot, now: dt.datetime) -> IngestResult:
        """Store a snapshot and return which of its papers were never seen before.

        One transaction: either the snapshot, its new papers and all its sightings are stored,
        or nothing is.
        """
        with self.transaction() as db:
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
            new_positions = self._merge_papers(db, snapshot, snapshot_id, _iso(now))
            db.execute(
                "UPDATE snapshots SET new_count = ? WHERE id = ?",
                (len(new_positions), snapshot_id),
            )
        new = tuple(snapshot.papers[pos] for pos in new_positions)
        return IngestResult(
            source=snapshot.source,
            format=snapshot.format,
            snapshot_id=snapshot_id,
            new=new,
            seen_again=len(snapshot.papers) - len(new),
        )

    def _merge_papers(
        self, db: sqlite3.Connection, snapshot: Snapshot, snapshot_id: int, now: str
    ) -> list[int]:
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS incoming ("
            " pos INTEGER PRIMARY KEY, arxiv_id TEXT, title_key TEXT NOT NULL,"
            " upvotes INTEGER, paper_id INTEGER)"
        )
        db.execute("DELETE FROM incoming")
        db.executemany(
            "INSERT INTO incoming(pos, arxiv_id, title_key, upvotes) VALUES (?, ?, ?, ?)",
            (
                (pos, p.arxiv_id, title_key(p.title), p.upvotes)
                for pos, p in enumerate(snapshot.papers)
            ),
        )
        # Identity: the arXiv id when both sides have one; otherwise the folded title.
        db.execute(
            "UPDATE incoming SET paper_id = (SELECT id FROM papers WHERE papers.arxiv_id ="
            " incoming.arxiv_id) WHERE arxiv_id IS NOT NULL"
        )
        db.execute(
            "UPDATE incoming SET paper_id = (SELECT min(id) FROM papers WHERE papers.title_key ="
            " incoming.title_key AND (papers.arxiv_id IS NULL OR incoming.arxiv_id IS NULL))"
            " WHERE paper_id IS NULL"
        )
        # A paper first seen by title learns its arXiv id when a later dump brings one.
        db.execute(
            "UPDATE papers SET arxiv_id = (SELECT arxiv_id FROM incoming WHERE paper_id ="
            " papers.id AND arxiv_id IS NOT NULL) WHERE arxiv_id IS NULL AND id IN"
            " (SELECT paper_id FROM incoming WHERE arxiv_id IS NOT NULL)"
        )
        new_positions = [
            row[0]
            for row in db.execute("SELECT pos FROM incoming WHERE paper_id IS NULL ORDER BY pos")
        ]
        next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM papers").fetchone()[0]
        rows = []
        for offset, pos in enumerate(new_positions):
            paper = snapshot.papers[pos]
            rows.append(
                (
                    next_id + offset,
                    paper.arxiv_id,
                    title_key(paper.title),
                    paper.title,
                    paper.abstract,
                    json.dumps(list(paper.authors), ensure_ascii=False),
                    paper.author_count,
                    paper.published.isoformat() if paper.published else None,
                    paper.upvotes,
                    paper.url,
                    paper.pdf_url,
                    paper.code_url,
                    snapshot_id,
                    now,
                )
            )
        db.executemany(
            "INSERT INTO papers(id, arxiv_id, title_key, title, abstract, authors, author_count,"
            " published, upvotes, url, pdf_url, code_url, first_snapshot_id, first_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "UPDATE incoming SET paper_id = ? WHERE pos = ?",
            ((next_id + offset, pos) for offset, pos in enumerate(new_positions)),
        )
        db.execute(
            "INSERT OR IGNORE INTO sightings(snapshot_id, paper_id, position, upvotes)"
            " SELECT ?, paper_id, pos, upvotes FROM incoming",
            (snapshot_id,),
        )
        db.execute(
            "UPDATE papers SET upvotes = (SELECT upvotes FROM incoming WHERE paper_id = papers.id)"
            " WHERE id IN (SELECT paper_id FROM incoming WHERE upvotes IS NOT NULL)"
        )
        db.execute("DELETE FROM incoming")
        return new_positions

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
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE edition_id = ? AND email = ?", (edition_id, email)
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
    ) -> DeliveryRow:
        """Record who gets which papers before anything is sent, so a resume sends the same."""
        state = "pending" if picks else "empty"
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO deliveries(edition_id, email, message_id, state, picks,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (edition_id, email, message_id, state, json.dumps(list(picks)), _iso(now)),
            )
        row = self.delivery(edition_id, email)
        assert row is not None
        return row

    def mark_sending(self, edition_id: str, email: str, now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?"
                " WHERE edition_id = ? AND email = ? AND state IN ('pending', 'sending')",
                (_iso(now), edition_id, email),
            )

    def mark_sent(self, edition_id: str, email: str, now: dt.datetime) -> None:
        """Record the send and the papers it carried, in one transaction."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT picks FROM deliveries WHERE edition_id = ? AND email = ?",
                (edition_id, email),
            ).fetchone()
            db.execute(
                "UPDATE deliveries SET state = 'sent', error = NULL, updated_at = ?"
                " WHERE edition_id = ? AND email = ?",
                (_iso(now), edition_id, email),
            )
            paper_ids = [pick["paper_id"] for pick in json.loads(row["picks"])]
            db.executemany(
                "INSERT OR IGNORE INTO sent_papers(email, paper_id, edition_id) VALUES (?, ?, ?)",
                ((email, paper_id, edition_id) for paper_id in paper_ids),
            )

    def mark_failed(self, edition_id: str, email: str, error: str, now: dt.datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = 'failed', error = ?, updated_at = ?"
                " WHERE edition_id = ? AND email = ?",
                (error, _iso(now), edition_id, email),
            )


def _row_to_delivery(row: sqlite3.Row) -> DeliveryRow:
    return DeliveryRow(
        edition_id=row["edition_id"],
        email=row["email"],
        message_id=row["message_id"],
        state=row["state"],
        picks=tuple(json.loads(row["picks"])),
        error=row["error"],
        attempts=row["attempts"],
    )
