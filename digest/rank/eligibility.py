"""Eligibility: which papers earn a place in each reader's email. A paper must be about one of
the reader's phrases (digest.rank.phrases: in the title; a phrase of several words in the
abstract; a one-word phrase twice, or once at its bar), or like their liked papers, or close to
their "more" taps and near their profile, or by a followed author. Exclusions, "less" taps at
the store's closest, papers already sent and what the reader gave (liked papers, feedback)
never are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest.rank.phrases import compiled
from digest.rank.records import Candidate, Profile
from digest.rank.signals import Signals

# A paper as like the reader's liked papers as this many bars is picked for them. Measured with
# `digest eval --every 5` (nDCG@10 of the shown list, arXiv topics, 10 liked papers each): 1 bar
# showed 2.1 papers a day at precision 0.37, nDCG 0.17 (0.50x the arxiv-sanity SVM's top 10);
# half a bar 8.6 a day at 0.31, nDCG 0.39 (1.12x).
LIKED_BAR = 0.5
# A one-word phrase mentioned once in an abstract picks a paper scoring this many bars on it
# (the same measure, keyword topics: 1 bar 0.423 at precision 0.368; half a bar 0.442 at 0.322).
ONCE_BAR = 1.0
# "More like this" admits a paper this many bars close to the reader's taps, if it is also
# this many bars near their profile (their phrases' words, their liked papers): measured on
# the reader panel's days, one tap on a pick with 1 and 1 admitted 34 papers, 25 of them off
# topic; with 2 and 2, 4 papers, 1 off topic.
TASTE_BAR = 2.0
NEAR = 2.0


@dataclass(frozen=True, slots=True)
class Admission:
    """readers × papers: `eligible` (may be shown), `liked_match` (like their liked papers),
    `taste_close` (close to a "more" tap: said as a reason wherever it holds)."""

    eligible: np.ndarray
    liked_match: np.ndarray
    taste_close: np.ndarray


def about(signals: Signals) -> np.ndarray:
    """papers × phrases: the paper is about the phrase: the phrase in its title; a phrase of
    several words in its abstract; a one-word phrase ("benchmarks", which many abstracts
    mention in passing) twice, or once in a paper that scores like the store's best for it."""
    several = np.array([compiled(p).content >= 2 for p in signals.phrases], dtype=bool)
    once = signals.in_abstract == 1
    found: np.ndarray = (
        signals.in_title
        | (signals.in_abstract >= 2)
        | (once & (several[None, :] | (signals.confidence >= ONCE_BAR)))
    )
    return found


def admit(
    candidates: Sequence[Candidate],
    profiles: Sequence[Profile],
    signals: Signals,
    thresholded: bool,
) -> Admission:
    """Which papers each reader may be shown: with `thresholded`, only those that clear a bar
    (readers with nothing to go on get any); without it, any not vetoed (for evaluation)."""
    has_interest = np.array([bool(p.interests) for p in profiles])
    has_liked = np.array([bool(p.liked) for p in profiles])
    has_authors = np.array([bool(p.authors) for p in profiles])
    has_more = np.array([bool(p.more) for p in profiles])
    targeted = has_interest | has_liked | has_authors | has_more
    phrase_match = signals.per_reader(about(signals))
    liked_match = has_liked[:, None] & (signals.seed >= LIKED_BAR)
    # "More like this" admits a paper close to the tapped one that is also near what the
    # reader reads (one of their phrases' words, their liked papers), unless the taps are
    # all the reader has: one tap must not open the email to a neighbouring field.
    near = signals.per_reader(signals.confidence >= NEAR)
    near |= has_liked[:, None] & (signals.seed >= NEAR)
    near |= ~(has_interest | has_liked)[:, None]
    # Said as a reason wherever a paper is close to a tapped one (1 bar); admits one alone
    # only further up and near the profile.
    taste_close = has_more[:, None] & (signals.taste >= 1)
    taste_match = taste_close & (signals.taste >= TASTE_BAR) & near
    cleared = phrase_match | liked_match | signals.followed | taste_match
    # A paper as close to a turned-down paper as the store's closest few is not shown.
    eligible = ~signals.excluded & (signals.aversion < 1)
    if thresholded:
        eligible &= np.where(targeted[:, None], cleared, True)
    ids = np.array([-1 if c.paper_id is None else c.paper_id for c in candidates])
    column = {c.paper.key: col for col, c in enumerate(candidates)}
    for s, profile in enumerate(profiles):
        if profile.skip_ids:
            eligible[s] &= ~np.isin(ids, list(profile.skip_ids))
        # Never shown back what the reader gave: their liked papers and their feedback's.
        given = [column.get(p.key) for p in (*profile.liked, *profile.more, *profile.less)]
        eligible[s, [col for col in given if col is not None]] = False
    minimum = np.array([p.min_score for p in profiles], dtype=np.float64)[:, None]
    return Admission(eligible & (signals.scores >= minimum), liked_match, taste_close)
