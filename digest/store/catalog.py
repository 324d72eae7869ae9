"""The catalog: snapshots, papers and sightings, and the diff's merge of a dump into them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from digest.abbreviations import Abbreviations, counted
from digest.errors import StoreError
from digest.identity import paper_key, parse_arxiv_id, title_key
from digest.models import (
    IngestResult,
    Paper,
    Snapshot,
    StoredPaper,
    UpvoteMove,
)
from digest.store._base import ALL_ROWS, Connected, encode_json, iso, translating_errors
from digest.store.db import Database

VECTOR_DTYPE = np.dtype("<f2")

PAPER_COLUMNS = (
    "p.id, p.arxiv_id, p.title, p.abstract, p.authors, p.author_count, p.published, p.upvotes,"
    " p.url, p.pdf_url, p.code_url, p.first_seen, p.thumbnail_url, p.project_url, p.comments"
)


def count_definitions(db: Database, abstracts: Iterable[str]) -> None:
    """Add the abbreviations these abstracts define to the store's counts."""
    counts = counted(abstracts)
    db.executemany(
        "INSERT INTO abbreviations(short_form, long_form, definitions) VALUES (?, ?, ?)"
        " ON CONFLICT (short_form, long_form)"
        " DO UPDATE SET definitions = abbreviations.definitions + excluded.definitions",
        [(short, long, count) for (short, long), count in sorted(counts.items())],
    )


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
        encode_json(list(paper.authors)),
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
        encode_json(list(paper.authors)),
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


def row_to_paper(row: Any) -> StoredPaper:
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


@translating_errors
class Catalog(Connected):
    """Dumps in, papers out: the only part that writes papers."""

    def ingest(self, snapshot: Snapshot, now: dt.datetime) -> IngestResult:
        """Store a snapshot and return which of its papers were never seen before.

        One transaction: either the snapshot, its new papers and all its sightings are stored,
        or nothing is.
        """
        return self.ingest_many([snapshot], now)[0]

    def ingest_many(
        self,
        snapshots: Sequence[Snapshot],
        now: dt.datetime,
        *,
        moments: Sequence[dt.datetime] | None = None,
    ) -> list[IngestResult]:
        """Store a batch of snapshots in order, in one transaction: all of them, or (if any
        fails) none. A paper new in the first dump is seen again in a later one. `moments`
        (one per snapshot) replaces `now` as each one's ingest time and its new papers'
        first-seen time: a replayed history (`digest ingest --as-of`)."""
        at = list(moments) if moments is not None else [now] * len(snapshots)
        if len(at) != len(snapshots):
            raise ValueError("one moment per snapshot")
        with self.transaction() as db:
            return [
                self._ingest_one(db, snapshot, moment)
                for snapshot, moment in zip(snapshots, at, strict=True)
            ]

    def _ingest_one(self, db: Database, snapshot: Snapshot, now: dt.datetime) -> IngestResult:
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
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (
                snapshot.source,
                snapshot.format,
                snapshot.content_hash,
                iso(now),
                len(snapshot.papers),
            ),
        ).fetchone()[0]
        new_positions, moves = self._merge_papers(db, snapshot, snapshot_id, iso(now))
        db.execute(
            "UPDATE snapshots SET new_count = ? WHERE id = ?", (len(new_positions), snapshot_id)
        )
        new = tuple(snapshot.papers[pos] for pos in new_positions)
        count_definitions(db, (paper.abstract for paper in new))
        return IngestResult(
            source=snapshot.source,
            format=snapshot.format,
            snapshot_id=snapshot_id,
            new=new,
            seen_again=len(snapshot.papers) - len(new),
            moved=tuple(moves),
        )

    def _merge_papers(
        self, db: Database, snapshot: Snapshot, snapshot_id: int, now: str
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
            (ids,),
        ):
            by_id[row[1]] = _Known(row[0], row[1], row[2], row[3])
        # Only papers not found by id need a title key (to match by title, or to be stored).
        keys = [None if p.arxiv_id in by_id else title_key(p.title) for p in papers]
        unmatched = [key for key in keys if key is not None]
        for row in db.execute(
            "SELECT id, arxiv_id, title_key, upvotes FROM papers"
            " WHERE title_key IN (SELECT value FROM json_each(?)) ORDER BY id",
            (unmatched,),
        ):
            stored = by_id.get(row[1]) or _Known(row[0], row[1], row[2], row[3])
            by_title.setdefault(stored.title_key, []).append(stored)
        next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM papers").fetchone()[0]
        new_rows: list[tuple[object, ...]] = []
        new_positions: list[int] = []
        sightings: list[tuple[int, int, int, int | None]] = []
        keyword_rows: list[tuple[int, str]] = []
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
            keyword_rows.extend((known.id, k) for k in paper.keywords)
        db.executemany(
            "INSERT INTO papers(id, arxiv_id, title_key, title, abstract, authors, author_count,"
            " published, upvotes, url, pdf_url, code_url, first_snapshot_id, first_seen,"
            " thumbnail_url, project_url, comments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            new_rows,
        )
        db.executemany("UPDATE papers SET arxiv_id = ? WHERE id = ?", learned_ids)
        # Keywords as the newest listing gives them (a paper listed before without any, too).
        db.executemany(
            "INSERT INTO paper_keywords(paper_id, keyword) VALUES (?, ?) ON CONFLICT DO NOTHING",
            keyword_rows,
        )
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
            "INSERT INTO sightings(snapshot_id, paper_id, position, upvotes)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
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

    def recent_papers(
        self, since: dt.datetime, until: dt.datetime | None = None
    ) -> list[StoredPaper]:
        """Papers first seen at or after `since` (and at or before `until`), oldest first."""
        where, params = "p.first_seen >= ?", [iso(since)]
        if until is not None:
            where, params = f"{where} AND p.first_seen <= ?", [*params, iso(until)]
        rows = self._db.execute(
            f"SELECT {PAPER_COLUMNS} FROM papers p WHERE {where} ORDER BY p.id",  # noqa: S608
            params,
        )
        return [row_to_paper(row) for row in rows]

    def keywords(self, paper_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """The listings' keywords (Hugging Face's `ai_keywords`) of these papers, if any."""
        rows = self._db.execute(
            "SELECT paper_id, keyword FROM paper_keywords"
            " WHERE paper_id IN (SELECT value FROM json_each(?)) ORDER BY paper_id, keyword",
            (list(paper_ids),),
        )
        found: dict[int, list[str]] = {}
        for paper_id, keyword in rows:
            found.setdefault(int(paper_id), []).append(str(keyword))
        return {paper_id: tuple(words) for paper_id, words in found.items()}

    def most_upvoted(self, since: dt.datetime, limit: int) -> list[StoredPaper]:
        """The `limit` most upvoted papers first seen since `since` (newest first among equals)."""
        rows = self._db.execute(
            f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.first_seen >= ?"  # noqa: S608
            " ORDER BY coalesce(p.upvotes, 0) DESC, p.id DESC LIMIT ?",
            (iso(since), limit),
        )
        return [row_to_paper(row) for row in rows]

    def upvote_deltas(self, paper_ids: Iterable[int]) -> dict[int, int]:
        """Upvotes gained between each paper's last two sightings that carried upvotes."""
        rows = self._db.execute(
            "SELECT paper_id, upvotes,"
            " lag(upvotes) OVER (PARTITION BY paper_id ORDER BY snapshot_id),"
            " row_number() OVER (PARTITION BY paper_id ORDER BY snapshot_id DESC)"
            " FROM sightings WHERE upvotes IS NOT NULL AND paper_id IN"
            " (SELECT value FROM json_each(?))",
            (list(paper_ids),),
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
                    f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.arxiv_id = ?",  # noqa: S608
                    (arxiv_id,),
                ).fetchone()
            if row is None:
                row = self._db.execute(
                    f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.title_key = ?"  # noqa: S608
                    " ORDER BY p.id LIMIT 1",
                    (title_key(reference),),
                ).fetchone()
            if row is None:
                missing.append(reference)
            else:
                found.append(row_to_paper(row))
        return found, missing

    def papers(self, snapshot_id: int | None = None) -> list[StoredPaper]:
        """Every stored paper in first-seen order, or the papers one dump listed, in its order."""
        if snapshot_id is None:
            rows = self._db.execute(f"SELECT {PAPER_COLUMNS} FROM papers p ORDER BY p.id")  # noqa: S608
        else:
            rows = self._db.execute(
                f"SELECT {PAPER_COLUMNS} FROM sightings s JOIN papers p ON p.id = s.paper_id"  # noqa: S608
                " WHERE s.snapshot_id = ? ORDER BY s.position",
                (snapshot_id,),
            )
        return [row_to_paper(row) for row in rows]

    def snapshots(self, limit: int | None = None) -> list[SnapshotRow]:
        """Stored dumps, newest first."""
        rows = self._db.execute(
            "SELECT id, source, format, ingested_at, paper_count, new_count FROM snapshots"
            " ORDER BY id DESC LIMIT ?",
            (ALL_ROWS if limit is None else limit,),
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
            " AS moves WHERE before IS NOT NULL AND before != now"
            " ORDER BY now - before DESC, position",
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

    def matching(
        self, arxiv_ids: Iterable[str], title_keys: Iterable[str]
    ) -> tuple[dict[str, StoredPaper], dict[str, StoredPaper]]:
        """The stored papers with these arXiv ids, and with these folded titles (`title:..`
        keys, the first stored of several): two index probes however many are asked."""
        by_id = {
            stored.paper.arxiv_id or "": stored
            for stored in map(
                row_to_paper,
                self._db.execute(
                    f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.arxiv_id IN"  # noqa: S608
                    " (SELECT value FROM json_each(?))",
                    (list(set(arxiv_ids)),),
                ),
            )
        }
        by_title: dict[str, StoredPaper] = {}
        for row in self._db.execute(
            f"SELECT {PAPER_COLUMNS}, p.title_key FROM papers p WHERE p.title_key IN"  # noqa: S608
            " (SELECT value FROM json_each(?)) ORDER BY p.id",
            (list(set(title_keys)),),
        ):
            by_title.setdefault(row["title_key"], row_to_paper(row))
        return by_id, by_title

    def papers_by_id(self, ids: Iterable[int]) -> dict[int, StoredPaper]:
        wanted = list(ids)
        if not wanted:
            return {}
        rows = self._db.execute(
            f"SELECT {PAPER_COLUMNS} FROM papers p WHERE p.id IN"  # noqa: S608
            " (SELECT value FROM json_each(?))",
            (wanted,),
        )
        return {paper.id: paper for paper in map(row_to_paper, rows)}

    def vectors(self, model: str, paper_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """The stored meaning vectors (float32) of these papers under this model, where any."""
        wanted = list(paper_ids)
        if not wanted:
            return {}
        rows = self._db.execute(
            "SELECT paper_id, vector FROM paper_vectors WHERE model = ?"
            " AND paper_id IN (SELECT value FROM json_each(?))",
            (model, wanted),
        )
        return {
            int(paper_id): np.frombuffer(bytes(blob), dtype=VECTOR_DTYPE).astype(np.float32)
            for paper_id, blob in rows
        }

    def store_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        """Keep papers' meaning vectors under this model (float16: ample for cosines); a paper
        that has one already keeps it."""
        rows = [
            (paper_id, model, np.asarray(vector, dtype=VECTOR_DTYPE).tobytes())
            for paper_id, vector in vectors.items()
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO paper_vectors(paper_id, model, vector) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                rows,
            )

    def abbreviations(self) -> Abbreviations:
        """The abbreviations the stored abstracts define (digest.abbreviations)."""
        rows = self._db.execute("SELECT short_form, long_form, definitions FROM abbreviations")
        return Abbreviations.of((str(s), str(lf), int(n)) for s, lf, n in rows)
