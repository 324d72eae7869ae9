"""A new reader's first two minutes: topics the recent papers share (with how many each
brought), about ten recent papers across those topics to rate, and what they give back:
ticked topics and pasted papers added to their profile, ratings recorded as feedback, library
exports imported, and their first edition queued. Every part is checked before anything is
stored, and everything is stored in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from digest.editions.library import ImportReport, store_library
from digest.editions.signups import queue_first_edition
from digest.feedback import record
from digest.library import MAX_BYTES, read_library
from digest.models import StoredPaper, Subscriber
from digest.profile import profile_input, validated_row
from digest.rank.phrases import occurs
from digest.rank.topics import suggested_topics
from digest.store import Store

# A welcome page's POST may carry library exports (the other pages take 64 KiB at most).
UPLOAD_BYTES = 2 * MAX_BYTES
TOPICS = 16
TO_RATE = 10
RECENT = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Starter:
    """What the page offers: topics (phrase, papers it brought last week) and papers to rate."""

    topics: tuple[tuple[str, int], ...]
    papers: tuple[StoredPaper, ...]


def starter(store: Store, now: dt.datetime) -> Starter:
    """The week's shared topics, and one well-upvoted paper of each in turn (then the most
    upvoted others) to rate: the reader sees the store's range, not ten papers of one topic."""
    recent = store.catalog.recent_papers(now - RECENT)
    keywords = store.catalog.keywords(p.id for p in recent)
    topics = suggested_topics(
        [p.paper for p in recent], TOPICS, [keywords.get(p.id, ()) for p in recent]
    )
    popular = sorted(recent, key=lambda p: -(p.paper.upvotes or 0))
    chosen: dict[int, StoredPaper] = {}
    for phrase, _ in topics:
        found = next(
            (
                p
                for p in popular
                if p.id not in chosen and occurs(phrase, f"{p.paper.title}. {p.paper.abstract}")
            ),
            None,
        )
        if found is not None and len(chosen) < TO_RATE:
            chosen[found.id] = found
    for paper in popular:
        if len(chosen) >= TO_RATE:
            break
        chosen.setdefault(paper.id, paper)
    return Starter(tuple(topics), tuple(chosen.values()))


@dataclass(frozen=True, slots=True)
class Answers:
    """What the reader gave: topics ticked, papers pasted (arXiv ids, URLs, DOIs, titles),
    ratings (stored paper id → "more" or "less") and library files (name, content)."""

    topics: Sequence[str] = ()
    papers: Sequence[str] = ()
    ratings: dict[int, str] = dataclasses.field(default_factory=dict)
    files: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class Started:
    """What was added: topics, pasted papers, ratings, the library import's report, and
    whether the reader's first edition is queued (they were never sent one)."""

    topics: int
    papers: int
    ratings: int
    library: ImportReport | None
    first_queued: bool = False


def start(store: Store, person: Subscriber, answers: Answers, now: dt.datetime) -> Started:
    """Add the answers to the reader's profile and queue their first edition if they never
    had one. The profile is checked first (ValueError or ProfileErrors), then the library
    files read (LibraryError): a bad one stores nothing. Then everything is stored in one
    transaction: a failure half-way (a full disk) leaves nothing of it."""
    given = profile_input(person)
    topics = [t for t in dict.fromkeys(answers.topics) if t not in given.interests]
    pasted = [p.strip() for p in answers.papers if p.strip() and p.strip() not in given.liked]
    row = validated_row(
        dataclasses.replace(
            given,
            interests=[*given.interests, *topics],
            liked=[*given.liked, *pasted],
        )
    )
    reads = [read_library(name, data) for name, data in answers.files]
    with store.transaction():
        known = store.catalog.papers_by_id(answers.ratings)
        report = store_library(store, person.email, reads, now) if reads else None
        store.readers.upsert_subscribers([row], now)
        for verdict in ("more", "less"):
            ids = [pid for pid, said in answers.ratings.items() if said == verdict and pid in known]
            if ids:
                record(store, person.email, ids, verdict, now)
        first = queue_first_edition(store, person.email, now)
    rated = sum(1 for pid in answers.ratings if pid in known)
    return Started(len(topics), len(pasted), rated, report, first)
