"""Signals: for these readers and the day's papers, every per-phrase and per-reader signal
and the blended score, one function per signal family. Per phrase: BM25 in units of its bar
and where the phrase stands (`topical`), then the families in PHRASE_FAMILIES that add to it
(the phrase's SVM, embeddings); one product spreads them over the readers. Per reader:
exclusions, followed authors, and what the reader gave (digest.rank.personal: liked papers,
taps). What is eligible, and why, is decided elsewhere (eligibility, explain).

A new family is one function here: per phrase, `(corpus, weights, phrases) -> papers ×
phrases or None` appended to PHRASE_FAMILIES; per reader, a readers × papers array added in
`Signals.blended` under its weight."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from digest.identity import normalise_title
from digest.models import Interest, Weights
from digest.rank import personal
from digest.rank.corpus import Corpus
from digest.rank.diversity import DECIMALS
from digest.rank.records import Candidate, Profile, index

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# A phrase (or the liked papers) counts at most this many bars: one phrase repeated forty times
# does not outweigh three phrases matched.
CAP = 3.0
# An exact run of the phrase's words adds this many bars (title) or this many (abstract).
TITLE_RUN_BONUS = 0.5
ABSTRACT_RUN_BONUS = 0.25

PhraseFamily = Callable[[Corpus, Weights, list[str]], "np.ndarray | None"]


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


# -- per phrase ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topical:
    """papers × phrases: `confidence` (BM25 in units of its bar), `in_title` and `in_abstract`
    (where the phrase stands, and how often), and `score` (capped confidence plus a bonus
    where the phrase itself stands)."""

    confidence: np.ndarray
    in_title: np.ndarray
    in_abstract: np.ndarray
    score: np.ndarray


def topical(corpus: Corpus, phrases: list[str]) -> Topical:
    """Calibrated BM25 (capped; the phrase's words anywhere, weak evidence) plus a bonus where
    the phrase itself stands in the paper."""
    confidence = corpus.phrase_confidence(phrases)
    in_title, in_abstract = corpus.texts.phrase_hits(phrases, corpus.matcher)
    score = np.minimum(confidence, CAP) + np.where(
        in_title, TITLE_RUN_BONUS, np.where(in_abstract > 0, ABSTRACT_RUN_BONUS, 0)
    )
    return Topical(confidence, in_title, in_abstract, score)


def learned(corpus: Corpus, weights: Weights, phrases: list[str]) -> np.ndarray | None:
    """What each phrase is about, learned from the store: orders the papers that clear a bar
    (it never makes a paper eligible, so it cannot bring in off-topic ones)."""
    if not (weights.learned and phrases and corpus.corpus_matrix is not None):
        return None
    found: np.ndarray = weights.learned * corpus.learned(phrases)
    return found


def semantic(corpus: Corpus, weights: Weights, phrases: list[str]) -> np.ndarray | None:
    """Optional (digest[embeddings]): meaning beyond the words; reorders only."""
    if not (weights.semantic and phrases):
        return None
    found = corpus.semantic(phrases)
    return None if found is None else weights.semantic * found


# Added, in this order, to each phrase's topical score before it is spread over the readers.
PHRASE_FAMILIES: tuple[PhraseFamily, ...] = (learned, semantic)


def spread(interests: Sequence[tuple[Interest, ...]], phrases: dict[str, int]) -> csr_matrix:
    """readers × phrases: each reader's phrases by their share of the reader's weight."""
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for s, group in enumerate(interests):
        weight_sum = sum(i.weight for i in group)
        for interest in group:
            rows.append(s)
            cols.append(phrases[interest.phrase])
            vals.append(interest.weight / weight_sum)
    shape = (len(interests), max(len(phrases), 1))
    return csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)


def relevance(
    corpus: Corpus, weights: Weights, phrases: list[str], found: Topical, share: csr_matrix
) -> np.ndarray:
    """readers × papers: every per-phrase family summed per phrase, then one product spreads
    them over the readers by weight."""
    if not phrases:
        return np.zeros((share.shape[0], len(corpus.items)))
    per_phrase = found.score
    for family in PHRASE_FAMILIES:
        extra = family(corpus, weights, phrases)
        if extra is not None:
            per_phrase = per_phrase + extra
    return np.asarray(share[:, : len(phrases)] @ per_phrase.T)


# -- per reader ------------------------------------------------------------------------------


def excluded(corpus: Corpus, profiles: Sequence[Profile]) -> np.ndarray:
    """readers × papers: one of the reader's exclusions stands in the paper (a veto)."""
    exclusions = [p.exclude for p in profiles]
    terms = index([t for group in exclusions for t in group])
    ex_title, ex_body = corpus.texts.runs(list(terms))
    return _any_per_profile(ex_title | ex_body, terms, exclusions)


def followed(corpus: Corpus, profiles: Sequence[Profile]) -> np.ndarray:
    """readers × papers: the paper is by an author the reader follows."""
    authors = [tuple(normalise_title(a) for a in p.authors) for p in profiles]
    names = index([a for group in authors for a in group])
    by_name = np.array(
        [[name in written for name in names] for written in corpus.texts.authors], dtype=bool
    ).reshape(len(corpus.items), len(names))
    return _any_per_profile(by_name, names, authors)


def shared(corpus: Corpus, weights: Weights, now: dt.datetime | None) -> np.ndarray:
    """papers: what every reader shares: popularity, upvote movement, freshness."""
    upvotes = upvote_counts(corpus)
    deltas = np.array([c.upvote_delta for c in corpus.candidates], dtype=np.float64)
    found: np.ndarray = (
        weights.popularity * _scaled_log(upvotes)
        + weights.trending * _scaled_log(deltas)
        + weights.freshness * _freshness(corpus.candidates, now, weights.freshness_half_life_days)
    )
    return found


def upvote_counts(corpus: Corpus) -> np.ndarray:
    """papers: their upvotes (0 where the listing gives none), the tie-break of MMR too."""
    return np.array([p.upvotes or 0 for p in corpus.items], dtype=np.float64)


def _mask(profiles: Sequence[Profile], has: Callable[[Profile], object]) -> np.ndarray:
    return np.array([bool(has(p)) for p in profiles])


# -- all of them -----------------------------------------------------------------------------


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
    def of(
        cls,
        corpus: Corpus,
        profiles: Sequence[Profile],
        weights: Weights,
        now: dt.datetime | None = None,
    ) -> Signals:
        """Every family for these readers, then the blend."""
        interests = [p.interests for p in profiles]
        phrases = index([i.phrase for group in interests for i in group])
        phrase_list = list(phrases)
        found = topical(corpus, phrase_list)
        share = spread(interests, phrases)
        pattern = share.copy()
        pattern.data[:] = 1
        seed, nearest = personal.liked(corpus, profiles)
        taste, taste_nearest = personal.taste(corpus, profiles)
        signals = cls(
            interests=interests,
            phrases=phrases,
            confidence=found.confidence,
            in_title=found.in_title,
            in_abstract=found.in_abstract,
            pattern=pattern,
            excluded=excluded(corpus, profiles),
            followed=followed(corpus, profiles),
            seed=seed,
            nearest=nearest,
            taste=taste,
            taste_nearest=taste_nearest,
            aversion=personal.aversion(corpus, profiles),
            upvotes=upvote_counts(corpus),
            scores=np.zeros(0),
        )
        topic = relevance(corpus, weights, phrase_list, found, share)
        total = weights.relevance * topic + shared(corpus, weights, now)[None, :]
        return signals.blended(profiles, weights, total)

    def blended(self, profiles: Sequence[Profile], weights: Weights, total: np.ndarray) -> Signals:
        """These signals with `scores`: `total` (relevance and what every reader shares) plus
        each per-reader family under its weight, added only for the readers who have it."""
        has_feedback = _mask(profiles, lambda p: p.more or p.less)
        total[has_feedback] += weights.feedback * np.clip(self.taste[has_feedback], -CAP, CAP)
        has_liked = _mask(profiles, lambda p: p.liked)
        total[has_liked] += weights.seed * np.minimum(self.seed[has_liked], CAP)
        has_authors = _mask(profiles, lambda p: p.authors)
        total[has_authors] += weights.authors * self.followed[has_authors]
        # "Less like this": papers close to one the reader turned down go down, in proportion.
        has_less = _mask(profiles, lambda p: p.less)
        total[has_less] -= weights.feedback * np.clip(self.aversion[has_less], 0, CAP)
        return dataclasses.replace(self, scores=np.round(total, DECIMALS))

    def per_reader(self, per_phrase: np.ndarray) -> np.ndarray:
        """readers × papers: whether any of the reader's phrases holds (per_phrase: papers ×
        phrases, boolean)."""
        if not self.phrases:
            return np.zeros((self.pattern.shape[0], per_phrase.shape[0]), dtype=bool)
        found: np.ndarray = (
            np.asarray(self.pattern[:, : len(self.phrases)] @ per_phrase.T.astype(np.float64)) > 0
        )
        return found
