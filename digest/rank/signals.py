"""Signals: for these readers and the day's papers, every per-phrase and per-reader signal
(BM25 in units of its bar, where phrases stand, exclusions, followed authors, liked papers,
taps, popularity) and the blended score. What is eligible, and why, is decided elsewhere
(eligibility, explain)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from digest.identity import normalise_title
from digest.models import Interest
from digest.rank.diversity import DECIMALS

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from digest.rank.ranker import Candidate, Profile, Ranker

# A phrase (or the liked papers) counts at most this many bars: one phrase repeated forty times
# does not outweigh three phrases matched.
CAP = 3.0
# An exact run of the phrase's words adds this many bars (title) or this many (abstract).
TITLE_RUN_BONUS = 0.5
ABSTRACT_RUN_BONUS = 0.25


def index(items: Sequence[str]) -> dict[str, int]:
    """Distinct items in first-seen order → column number."""
    columns: dict[str, int] = {}
    for item in items:
        columns.setdefault(item, len(columns))
    return columns


def _any_per_profile(
    hits: np.ndarray, columns: dict[str, int], wanted: Sequence[Sequence[str]]
) -> np.ndarray:
    """profiles × papers: does the paper hit any of that profile's items (terms, authors)?"""
    result = np.zeros((len(wanted), hits.shape[0]), dtype=bool)
    for s, items in enumerate(wanted):
        if items:
            result[s] = hits[:, [columns[item] for item in items]].any(axis=1)
    return result


def _scaled_log(values: np.ndarray) -> np.ndarray:
    logged = np.log1p(np.maximum(values, 0))
    top = logged.max() if len(logged) else 0.0
    return logged / top if top > 0 else np.zeros_like(logged)


def _freshness(
    candidates: Sequence[Candidate], now: dt.datetime | None, half_life: float
) -> np.ndarray:
    if now is None:
        return np.ones(len(candidates), dtype=np.float64)
    ages = []
    for c in candidates:
        age: float
        if c.paper.published is not None:
            age = float((now.date() - c.paper.published).days)
        elif c.first_seen is not None:
            age = (now - c.first_seen).total_seconds() / 86400
        else:
            age = 0.0
        ages.append(max(age, 0.0))
    decay: np.ndarray = np.power(0.5, np.asarray(ages, dtype=np.float64) / half_life)
    return decay


@dataclass(frozen=True, slots=True)
class Signals:
    """Every signal of one ranking call. Per phrase (papers × phrases): `confidence` (BM25 in
    units of its bar), `in_title` and `in_abstract` (where the phrase stands, and how often);
    `pattern` (readers × phrases, 1 where the reader has the phrase). Per reader (readers ×
    papers): `excluded`, `followed`, `seed` (liked papers, in bars) and its `nearest` liked
    paper, `taste` ("more" taps, in bars) and its `taste_nearest` tap, `aversion` ("less"),
    and the blended `scores`."""

    interests: list[tuple[Interest, ...]]
    phrases: dict[str, int]
    confidence: np.ndarray
    in_title: np.ndarray
    in_abstract: np.ndarray
    pattern: csr_matrix
    excluded: np.ndarray
    followed: np.ndarray
    seed: np.ndarray
    nearest: np.ndarray
    taste: np.ndarray
    taste_nearest: np.ndarray
    aversion: np.ndarray
    upvotes: np.ndarray
    scores: np.ndarray

    @property
    def honest(self) -> np.ndarray:
        """papers × phrases: the phrase stands in the title or the abstract
        (digest.rank.phrases): that, and only that, is told as "matches: X"."""
        honest: np.ndarray = self.in_title | (self.in_abstract > 0)
        return honest

    @classmethod
    def of(cls, ranker: Ranker, profiles: Sequence[Profile]) -> Signals:
        from scipy.sparse import csr_matrix

        texts, n_papers = ranker.texts, len(ranker.items)
        interests = [p.interests for p in profiles]
        phrases = index([i.phrase for group in interests for i in group])
        phrase_list = list(phrases)
        # Phrases: calibrated BM25 (capped; the phrase's words anywhere, weak evidence) plus a
        # bonus where the phrase itself stands in the paper.
        confidence = ranker.phrase_confidence(phrase_list)
        in_title, in_abstract = texts.phrase_hits(phrase_list)
        topical = np.minimum(confidence, CAP) + np.where(
            in_title, TITLE_RUN_BONUS, np.where(in_abstract > 0, ABSTRACT_RUN_BONUS, 0)
        )
        rows, cols, vals = [], [], []
        for s, group in enumerate(interests):
            weight_sum = sum(i.weight for i in group)
            for interest in group:
                rows.append(s)
                cols.append(phrases[interest.phrase])
                vals.append(interest.weight / weight_sum)
        shape = (len(profiles), max(len(phrases), 1))
        spread = csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)
        per_phrase = topical
        if ranker.weights.learned and phrase_list and ranker.corpus_matrix is not None:
            # What each phrase is about, learned from the store: orders the papers that clear a
            # bar (it never makes a paper eligible, so it cannot bring in off-topic ones).
            per_phrase = per_phrase + ranker.weights.learned * ranker.learned(phrase_list)
        if ranker.weights.semantic and phrase_list:
            # Optional (digest[embeddings]): meaning beyond the words; reorders only.
            semantic = ranker.semantic(phrase_list)
            if semantic is not None:
                per_phrase = per_phrase + ranker.weights.semantic * semantic
        # Every signal per phrase first, then one product spreads them over the readers.
        relevance = (
            np.asarray(spread[:, : len(phrase_list)] @ per_phrase.T)
            if phrase_list
            else np.zeros((len(profiles), n_papers))
        )
        pattern = spread.copy()
        pattern.data[:] = 1
        # Exclusions veto; followed authors boost and qualify.
        exclusions = [p.exclude for p in profiles]
        terms = index([t for group in exclusions for t in group])
        ex_title, ex_body = texts.runs(list(terms))
        excluded = _any_per_profile(ex_title | ex_body, terms, exclusions)
        authors = [tuple(normalise_title(a) for a in p.authors) for p in profiles]
        names = index([a for group in authors for a in group])
        by_name = np.array(
            [[name in written for name in names] for written in texts.authors], dtype=bool
        ).reshape(n_papers, len(names))
        followed = _any_per_profile(by_name, names, authors)
        # Liked papers: one SVM per reader who has any.
        seed = np.zeros((len(profiles), n_papers))
        nearest = np.zeros((len(profiles), n_papers), dtype=np.int64)
        for s, profile in enumerate(profiles):
            if profile.liked:
                seed[s], nearest[s] = ranker.liked(profile)
        weights, items, candidates = ranker.weights, ranker.items, ranker.candidates
        upvotes = np.array([p.upvotes or 0 for p in items], dtype=np.float64)
        deltas = np.array([c.upvote_delta for c in candidates], dtype=np.float64)
        shared = (
            weights.popularity * _scaled_log(upvotes)
            + weights.trending * _scaled_log(deltas)
            + weights.freshness
            * _freshness(candidates, ranker.now, weights.freshness_half_life_days)
        )
        # Feedback: one model for every reader who gave any, in one sparse product.
        taste, taste_nearest = ranker.taste(profiles)
        has_liked = np.array([bool(p.liked) for p in profiles])
        has_authors = np.array([bool(p.authors) for p in profiles])
        has_feedback = np.array([bool(p.more or p.less) for p in profiles])
        has_less = np.array([bool(p.less) for p in profiles])
        # The per-reader signals are zero for the readers without them: added only where not.
        total = weights.relevance * relevance + shared[None, :]
        total[has_feedback] += weights.feedback * np.clip(taste[has_feedback], -CAP, CAP)
        total[has_liked] += weights.seed * np.minimum(seed[has_liked], CAP)
        total[has_authors] += weights.authors * followed[has_authors]
        # "Less like this": papers close to one the reader turned down go down, in proportion.
        aversion = ranker.aversion(profiles)
        total[has_less] -= weights.feedback * np.clip(aversion[has_less], 0, CAP)
        return cls(
            interests=interests,
            phrases=phrases,
            confidence=confidence,
            in_title=in_title,
            in_abstract=in_abstract,
            pattern=pattern,
            excluded=excluded,
            followed=followed,
            seed=seed,
            nearest=nearest,
            taste=taste,
            taste_nearest=taste_nearest,
            aversion=aversion,
            upvotes=upvotes,
            scores=np.round(total, DECIMALS),
        )

    def per_reader(self, per_phrase: np.ndarray) -> np.ndarray:
        """readers × papers: whether any of the reader's phrases holds (per_phrase: papers ×
        phrases, boolean)."""
        if not self.phrases:
            return np.zeros((self.pattern.shape[0], per_phrase.shape[0]), dtype=bool)
        found: np.ndarray = (
            np.asarray(self.pattern[:, : len(self.phrases)] @ per_phrase.T.astype(np.float64)) > 0
        )
        return found
