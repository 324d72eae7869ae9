"""The picks of an edition: every reader ranked in one call from the store and the settings, and
read back from the ledger, where each planned row records them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields

from digest.editions.library import LIBRARY_LEARNS, candidate_keys, library_papers
from digest.models import Basis, Frequency, Pick, Quiet, RecordedPick, Subscriber
from digest.rank import MAX_FEEDBACK_EXAMPLES, Candidate, Profile, Weights, rank
from digest.settings import Settings
from digest.store import DeliveryRow, Store


def weights_from(settings: Settings) -> Weights:
    """[ranking] names every weight the ranker has (and more: corpus_size)."""
    return settings.ranking.weights()


# What a pick and the ledger's record of it share, field for field.
_RECORDED = tuple(f.name for f in fields(RecordedPick))


# A quiet day's email lists this many of the day's most upvoted papers.
QUIET_PICKS = 3
_NOT_MATCHED = "not matched to your interests: among the day's most upvoted new papers"


@dataclass(frozen=True, slots=True)
class Choices:
    """Every reader's picks; on a quiet day (new papers, none for them) those of the day's
    most upvoted papers, marked as not matched (Basis.UNMATCHED), or none for a reader who
    asked for a note alone: `notes` names them (their edition goes out though it is empty)."""

    picks: dict[str, list[Pick]]
    notes: frozenset[str] = frozenset()


def choose_picks(
    store: Store,
    settings: Settings,
    people: Sequence[Subscriber],
    now: dt.datetime,
    *,
    past: bool = False,
) -> dict[str, list[Pick]]:
    """Every reader's picks (see `choose`)."""
    return choose(store, settings, people, now, past=past).picks


def choose(
    store: Store,
    settings: Settings,
    people: Sequence[Subscriber],
    now: dt.datetime,
    *,
    past: bool = False,
) -> Choices:
    """Rank, for every subscriber at once, the papers first seen in the window that they have
    not been sent yet. Liked papers are looked up in the store (unknown ones are skipped);
    the papers of the reader's library count as liked, and are never picked. A
    reader with nothing on a day that brought new papers gets a quiet day's edition. `past`:
    `now` is an earlier moment (an edition of another day), so papers first seen after it are
    not candidates."""
    if not people:
        return Choices({})
    since = now - dt.timedelta(days=settings.window_days)
    stored = store.catalog.recent_papers(since, now if past else None)
    deltas = store.catalog.upvote_deltas(p.id for p in stored)
    candidates = [Candidate(p.paper, p.id, deltas.get(p.id, 0), p.first_seen) for p in stored]
    sent = store.ledger.sent_paper_ids(person.email for person in people)
    feedback = store.readers.feedback((p.email for p in people), latest=MAX_FEEDBACK_EXAMPLES)
    libraries = store.library.entries((p.email for p in people), limit=LIBRARY_LEARNS)
    by_title = candidate_keys([c.paper for c in candidates]) if any(libraries.values()) else {}
    profiles = []
    for person in people:
        liked, _unknown = store.catalog.find_papers(person.liked)
        own = library_papers(libraries.get(person.email, []), by_title)
        profiles.append(
            Profile(
                interests=person.interests,
                exclude=person.exclude,
                max_items=person.max_items,
                authors=person.authors,
                liked=(*(p.paper for p in liked), *own),
                more=tuple(p.paper for p in feedback[person.email]["more"]),
                less=tuple(p.paper for p in feedback[person.email]["less"]),
                min_score=person.min_score,
                skip_ids=frozenset(sent[person.email]),
            )
        )
    corpus = store.catalog.corpus_texts(settings.ranking.corpus_size) if candidates else []
    ranked = rank(
        candidates,
        profiles,
        corpus=corpus,
        now=now,
        weights=weights_from(settings),
        abbreviations=store.catalog.abbreviations() if candidates else None,
    )
    chosen = {person.email: picks for person, picks in zip(people, ranked, strict=True)}
    quiet = [p for p in people if not chosen[p.email] and p.quiet is not Quiet.SKIP]
    if not quiet:
        return Choices(chosen)
    previous = store.ledger.last_planned(p.email for p in quiet)
    waiting = {p.email for p in quiet}
    notes = set()
    for person, profile in zip(people, profiles, strict=True):
        if person.email not in waiting:
            continue
        # New papers since this reader's last edition (a weekend's listing brings none).
        after = previous.get(person.email) or now - _period(person)
        fresh = [c for c in candidates if c.first_seen is not None and c.first_seen > after]
        if not fresh:
            continue
        if person.quiet is Quiet.NOTE:
            notes.add(person.email)
        else:
            chosen[person.email] = _most_upvoted(fresh, profile)
    return Choices(chosen, frozenset(notes))


def _period(person: Subscriber) -> dt.timedelta:
    return dt.timedelta(days=7 if person.frequency is Frequency.WEEKLY else 1)


def _most_upvoted(fresh: Sequence[Candidate], profile: Profile) -> list[Pick]:
    """The day's QUIET_PICKS most upvoted new papers (then the most gaining, then listing
    order) that the reader was not sent and did not give, marked as not matched to them."""
    given = {p.key for p in (*profile.liked, *profile.more, *profile.less)}
    allowed = [c for c in fresh if c.paper_id not in profile.skip_ids and c.paper.key not in given]
    order = sorted(
        range(len(allowed)),
        key=lambda n: (-(allowed[n].paper.upvotes or 0), -allowed[n].upvote_delta, n),
    )
    return [
        Pick(
            paper=allowed[n].paper,
            score=0.0,
            reasons=(_NOT_MATCHED,),
            paper_id=allowed[n].paper_id,
            basis=Basis.UNMATCHED,
            upvote_delta=allowed[n].upvote_delta,
            first_seen=allowed[n].first_seen,
        )
        for n in order[:QUIET_PICKS]
    ]


def pick_record(pick: Pick) -> RecordedPick:
    """A pick as the ledger keeps it (the archive renders the edition again from this)."""
    assert pick.paper_id is not None  # picks for a send come from the store
    return RecordedPick(**{name: getattr(pick, name) for name in _RECORDED})


def picks_from_row(store: Store, row: DeliveryRow) -> tuple[Pick, ...]:
    """The picks a ledger row recorded, with their papers as the store holds them now."""
    papers = store.catalog.papers_by_id(pick.paper_id for pick in row.picks)
    return tuple(
        Pick(
            paper=papers[pick.paper_id].paper,
            first_seen=papers[pick.paper_id].first_seen,
            **{name: getattr(pick, name) for name in _RECORDED},
        )
        for pick in row.picks
        if pick.paper_id in papers
    )


def unresolved_liked(store: Store, people: Sequence[Subscriber]) -> dict[str, list[str]]:
    """Per reader, the liked papers (arXiv ids or titles) the store does not hold: ranking
    leaves them out until a dump brings them."""
    missing = {}
    for person in people:
        if person.liked:
            unknown = store.catalog.find_papers(person.liked)[1]
            if unknown:
                missing[person.email] = unknown
    return missing
