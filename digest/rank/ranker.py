"""Rank stage: (candidate papers, reader profiles) → each reader's picks, with their evidence.

Vectorised over every reader at once:

- relevance is BM25 (digest.rank.text) of each distinct interest phrase, with document
  frequencies from the store's recent papers and today's candidates; one sparse product spreads
  the phrases over the readers by weight;
- every phrase is calibrated on the store: its score is read in units of its bar, the score that
  only the top SELECTIVITY of the store's papers reach; its words scattered through a paper are
  weak evidence for the score, never a match;
- a pick must earn its place: one of the reader's phrases standing in it (digest.rank.phrases:
  in the title, a phrase of several words in the abstract, a one-word phrase twice or at its
  bar), their liked papers, their "more like this" taps near their profile, or a followed
  author; so an edition holds the papers worth reading, not `max_items` of whatever scored
  highest, and what the reader gave (liked papers, feedback) never comes back;
- "less like this" pushes down what is close to a turned-down paper, and takes out the closest;
- liked papers train a linear SVM per reader (liked vs the store), calibrated the same way;
- exclusions veto; popularity, upvote movement and freshness are blended in lightly;
- MMR picks the final list for all readers in lock-step, so near-duplicates do not fill it.

Scores are rounded before ordering and ties break by upvotes, then listing order, so the same
input always gives the same picks, alone or in a batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from digest.abbreviations import Abbreviations
from digest.models import Paper, Pick, Weights
from digest.rank import personal
from digest.rank.corpus import Corpus
from digest.rank.diversity import mmr
from digest.rank.eligibility import admit
from digest.rank.explain import Explainer
from digest.rank.records import Candidate, Profile
from digest.rank.signals import Signals
from digest.rank.words import as_read


class Ranker:
    """One ranking run: the candidates and the store (a Corpus, indexed and calibrated once),
    then any number of profiles (`digest send` ranks every reader in one call). It only
    orchestrates: signals, eligibility, MMR, explanation."""

    def __init__(
        self,
        papers: Sequence[Paper | Candidate],
        *,
        corpus: Sequence[str] = (),
        now: dt.datetime | None = None,
        weights: Weights | None = None,
        abbreviations: Abbreviations | None = None,
    ) -> None:
        self.weights = weights or Weights()
        self.now = now
        self.corpus = Corpus(papers, corpus, abbreviations)

    def learn(self, phrases: Sequence[str]) -> None:
        """Score, calibrate, learn and embed these phrases now (cached; `rank` does any
        missing): what a ranking run needs per phrase and per paper, whoever the readers are."""
        self.corpus.phrase_confidence(phrases)
        if self.weights.learned and self.corpus.corpus_matrix is not None:
            self.corpus.learned(phrases)
        if self.weights.semantic:
            self.corpus.semantic(phrases)

    def learned(self, phrases: Sequence[str]) -> np.ndarray:
        """papers × phrases: each phrase's SVM learned from the store (Corpus.learned)."""
        return self.corpus.learned(phrases)

    def liked(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """One reader's liked-paper confidence and nearest liked paper (personal.liked_one)."""
        return personal.liked_one(self.corpus, profile)

    def rank(self, profiles: Sequence[Profile], *, thresholded: bool = True) -> list[list[Pick]]:
        """For each profile, its best papers (at most `max_items`), best first. With
        `thresholded` (the default) only papers that clear a bar; without it, the top
        `max_items` of the ranking whatever they score (for evaluation)."""
        corpus = self.corpus
        if not corpus.candidates or not profiles:
            return [[] for _ in profiles]
        # Interests in the reader's own words: the phrases and exclusions they ask for.
        profiles = [as_read(p) for p in profiles]
        signals = Signals.of(corpus, profiles, self.weights, self.now)
        admission = admit(corpus.candidates, profiles, signals, thresholded)
        chosen = mmr(
            signals.scores,
            admission.eligible,
            corpus.matrix,
            [p.max_items for p in profiles],
            signals.upvotes,
            self.weights.diversity,
        )
        explainer = Explainer(corpus, profiles, signals, admission)
        return [
            [
                explainer.pick(s, col, score)
                for col, score in zip(columns, signals.scores[s, columns].tolist(), strict=True)
            ]
            for s, columns in enumerate(chosen)
        ]


def rank(
    papers: Sequence[Paper | Candidate],
    profiles: Sequence[Profile],
    *,
    corpus: Sequence[str] = (),
    now: dt.datetime | None = None,
    weights: Weights | None = None,
    abbreviations: Abbreviations | None = None,
) -> list[list[Pick]]:
    """Return, for each profile, its best papers (at most `max_items`), best first.

    `corpus`: texts of earlier papers (the store) for BM25 statistics, calibration and SVM
    negatives; `abbreviations`: what the store's abstracts define (a phrase also stands in a
    paper as its short form or its expansion).
    """
    if not papers or not profiles:
        return [[] for _ in profiles]
    ranker = Ranker(papers, corpus=corpus, now=now, weights=weights, abbreviations=abbreviations)
    return ranker.rank(profiles)
