"""A reader's library imported: files read (all of them, or nothing is stored), the same
paper in two files kept once, each entry matched to a stored paper (arXiv id, then folded
title), then stored in one transaction; and the counts the reader is told."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from digest.identity import title_key
from digest.library import MAX_BYTES, LibraryRead, Skipped, first_of_each, read_library
from digest.models import LibraryEntry, Paper, StoredPaper
from digest.store import Store

# The ranker learns a reader's taste from at most this many of their library's papers, the
# latest imported first (a 4,000-paper library would cost every send seconds, and the oldest
# papers say least about what the reader reads now).
LIBRARY_LEARNS = 500
# One library export's bytes at most (a shell reads no more of a file).
LIBRARY_BYTES = MAX_BYTES


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did: entries read, of them matched to a stored paper, kept without an
    abstract (by title), and skipped (each with its reason); `added` were new to the
    library, which now holds `library` papers."""

    read: int
    matched: int
    without_abstract: int
    skipped: tuple[Skipped, ...]
    added: int
    library: int

    def as_json(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "matched": self.matched,
            "without_abstract": self.without_abstract,
            "skipped": [{"entry": s.entry, "reason": s.reason} for s in self.skipped],
            "added": self.added,
            "library": self.library,
        }


def import_library(
    store: Store, email: str, files: Sequence[tuple[str, bytes]], now: dt.datetime
) -> ImportReport:
    """Read every file first (LibraryError on any: nothing stored), then store the entries."""
    return store_library(store, email, [read_library(name, data) for name, data in files], now)


def store_library(
    store: Store, email: str, reads: Sequence[LibraryRead], now: dt.datetime
) -> ImportReport:
    """Match the entries of files already read to stored papers and add them to the
    reader's library, in one transaction."""
    entries, skipped = _merged(reads)
    by_id, by_title = store.catalog.matching(
        (e.arxiv_id for e in entries if e.arxiv_id), (title_key(e.title) for e in entries)
    )
    kept: list[LibraryEntry] = []
    paper_ids: list[int | None] = []
    for entry in entries:
        stored = by_id.get(entry.arxiv_id or "") or (
            by_title.get(title_key(entry.title)) if entry.title else None
        )
        if stored is None and not entry.title:
            skipped.append(
                Skipped(
                    f"arXiv {entry.arxiv_id}", "it has no title, and the store has no such paper"
                )
            )
            continue
        kept.append(_matched(entry, stored) if stored else entry)
        paper_ids.append(stored.id if stored else None)
    added = store.library.add(email, kept, paper_ids, now) if kept else 0
    return ImportReport(
        read=sum(r.read for r in reads),
        matched=sum(1 for pid in paper_ids if pid is not None),
        without_abstract=sum(1 for e in kept if not e.abstract),
        skipped=tuple(skipped),
        added=added,
        library=store.library.count(email),
    )


def _merged(reads: Sequence[LibraryRead]) -> tuple[list[LibraryEntry], list[Skipped]]:
    """Every file's entries, a paper in several files once; every file's skipped ones."""
    entries, twice = first_of_each(
        (e for r in reads for e in r.entries), "an entry of another file"
    )
    return entries, [*(s for r in reads for s in r.skipped), *twice]


def _matched(entry: LibraryEntry, stored: StoredPaper) -> LibraryEntry:
    """The entry under the stored paper's identity; what it lacks, from the stored paper."""
    paper = stored.paper
    return dataclasses.replace(
        entry,
        key=paper.key,
        title=entry.title or paper.title,
        abstract=entry.abstract or paper.abstract,
        arxiv_id=entry.arxiv_id or paper.arxiv_id,
    )


def candidate_keys(candidates: Sequence[Paper]) -> dict[str, str]:
    """The day's candidates' keys by folded title (for `library_papers`): built once a send."""
    return {title_key(p.title): p.key for p in candidates}


def library_papers(entries: Sequence[LibraryEntry], by_title: Mapping[str, str]) -> list[Paper]:
    """A reader's library as the liked papers the ranker learns from; an entry that is one of
    today's candidates by title (`candidate_keys`) takes its key, so it is never recommended
    back."""
    return [
        dataclasses.replace(e.as_paper(), key=by_title.get(title_key(e.title), e.key))
        for e in entries
    ]
