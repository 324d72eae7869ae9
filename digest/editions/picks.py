"""The picks of an edition: every reader ranked in one call from the store and the settings, and
read back from the ledger, where each planned row records them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import fields

from digest.models import Pick, RecordedPick, Subscriber
from digest.rank import MAX_FEEDBACK_EXAMPLES, Candidate, Profile, Weights, rank
from digest.settings import Settings
from digest.store import DeliveryRow, Store


def weights_from(settings: Settings) -> Weights:
    """[ranking] names every weight the ranker has (and more: corpus_size)."""
    return Weights(**{f.name: getattr(settings.ranking, f.name) for f in fields(Weights)})


# What a pick and the ledger's record of it share, field for field.
_RECORDED = tuple(f.name for f in fields(RecordedPick))


def choose_picks(
    store: Store,
    settings: Settings,
    people: Sequence[Subscriber],
    now: dt.datetime,
) -> dict[str, list[Pick]]:
    """Rank, for every subscriber at once, the papers first seen in the window that they have
    not been sent yet. Liked papers are looked up in the store; unknown ones are skipped."""
    if not people:
        return {}
    since = now - dt.timedelta(days=settings.window_days)
    stored = store.recent_papers(since)
    deltas = store.upvote_deltas(p.id for p in stored)
    candidates = [Candidate(p.paper, p.id, deltas.get(p.id, 0), p.first_seen) for p in stored]
    sent = store.sent_paper_ids(person.email for person in people)
    feedback = store.feedback((p.email for p in people), latest=MAX_FEEDBACK_EXAMPLES)
    profiles = []
    for person in people:
        liked, _unknown = store.find_papers(person.liked)
        profiles.append(
            Profile(
                interests=person.interests,
                exclude=person.exclude,
                max_items=person.max_items,
                authors=person.authors,
                liked=tuple(p.paper for p in liked),
                more=tuple(p.paper for p in feedback[person.email]["more"]),
                less=tuple(p.paper for p in feedback[person.email]["less"]),
                min_score=person.min_score,
                skip_ids=frozenset(sent[person.email]),
            )
        )
    corpus = store.corpus_texts(settings.ranking.corpus_size) if candidates else []
    ranked = rank(candidates, profiles, corpus=corpus, now=now, weights=weights_from(settings))
    return {person.email: picks for person, picks in zip(people, ranked, strict=True)}


def _pick_record(pick: Pick) -> RecordedPick:
    """A pick as the ledger keeps it (the archive renders the edition again from this)."""
    assert pick.paper_id is not None  # picks for a send come from the store
    return RecordedPick(**{name: getattr(pick, name) for name in _RECORDED})


def _picks_from_row(store: Store, row: DeliveryRow) -> tuple[Pick, ...]:
    """The picks a ledger row recorded, with their papers as the store holds them now."""
    papers = store.papers_by_id(pick.paper_id for pick in row.picks)
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
            unknown = store.find_papers(person.liked)[1]
            if unknown:
                missing[person.email] = unknown
    return missing
