"""Readers' own libraries: the papers each imported (their title and abstract, matched to a
stored paper where one is the same), which teach the ranker and are never sent back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from digest.models import LibraryEntry
from digest.store._base import ALL_ROWS, Connected, encode_json, iso, translating_errors


@translating_errors
class Library(Connected):
    """Per reader, their library entries, newest import first."""

    def add(
        self,
        email: str,
        entries: Sequence[LibraryEntry],
        paper_ids: Sequence[int | None],
        now: dt.datetime,
    ) -> int:
        """Add (or refresh) entries in one transaction; how many the reader did not have.
        An entry already there keeps its abstract if the new one has none."""
        with self.transaction() as db:
            before = self._count(email)
            start = db.execute(
                "SELECT coalesce(max(position), 0) FROM library WHERE email = ?", (email,)
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO library(email, key, position, title, abstract, arxiv_id, doi,"
                " authors, year, paper_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (email, key) DO UPDATE SET position = excluded.position,"
                " title = excluded.title, abstract = CASE WHEN excluded.abstract = ''"
                " THEN library.abstract ELSE excluded.abstract END,"
                " doi = coalesce(excluded.doi, library.doi), authors = excluded.authors,"
                " year = coalesce(excluded.year, library.year), paper_id = excluded.paper_id",
                [
                    (
                        email,
                        entry.key,
                        start + n,
                        entry.title,
                        entry.abstract,
                        entry.arxiv_id,
                        entry.doi,
                        encode_json(list(entry.authors)),
                        entry.year,
                        paper_id,
                        iso(now),
                    )
                    for n, (entry, paper_id) in enumerate(zip(entries, paper_ids, strict=True), 1)
                ],
            )
            return self._count(email) - before

    def _count(self, email: str) -> int:
        row = self._db.execute("SELECT count(*) FROM library WHERE email = ?", (email,)).fetchone()
        return int(row[0])

    def count(self, email: str) -> int:
        return self._count(email)

    def entries(
        self, emails: Iterable[str], limit: int | None = None
    ) -> dict[str, list[LibraryEntry]]:
        """Each reader's entries, the latest imported first; at most `limit` each (the
        ranker learns from the newest)."""
        wanted = {email.casefold(): email for email in emails}
        found: dict[str, list[LibraryEntry]] = {email: [] for email in wanted.values()}
        if not wanted:
            return found
        rows = self._db.execute(
            "SELECT email, key, title, abstract, arxiv_id, doi, authors, year FROM"
            " (SELECT *, row_number() OVER (PARTITION BY email ORDER BY position DESC) AS n"
            "  FROM library WHERE email IN (SELECT value FROM json_each(?))) newest"
            " WHERE n <= ? ORDER BY email, n",
            (list(wanted.values()), ALL_ROWS if limit is None else limit),
        )
        for row in rows:
            found[wanted[str(row[0]).casefold()]].append(
                LibraryEntry(
                    key=row[1],
                    title=row[2],
                    abstract=row[3],
                    arxiv_id=row[4],
                    doi=row[5],
                    authors=tuple(json.loads(row[6])),
                    year=row[7],
                )
            )
        return found

    def clear(self, email: str) -> int:
        """Remove a reader's whole library; how many entries went."""
        with self.transaction() as db:
            return db.execute("DELETE FROM library WHERE email = ?", (email,)).rowcount
