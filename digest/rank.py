"""Rank stage: (papers, subscribers) → each subscriber's top picks, with reasons.

A lexical baseline, vectorised over every subscriber at once: one tf-idf matrix for the papers,
one for every interest phrase of every subscriber, and a single sparse product between them.
Exact phrase hits add a bonus, so "graph neural networks" beats papers that only say "graph".
Exclusions veto a paper outright. Ties break by upvotes, then listing order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from digest.identity import normalise_title
from digest.models import Paper, Pick

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

# How much an exact phrase occurrence adds on top of the tf-idf cosine, by where it occurs.
TITLE_PHRASE_BONUS = 0.35
ABSTRACT_PHRASE_BONUS = 0.15
# A phrase counts as a reason when its own contribution reaches this.
REASON_THRESHOLD = 0.08


@dataclass(frozen=True, slots=True)
class Profile:
    """What one reader wants: interest phrases, vetoing terms and how many picks."""

    interests: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 10


def _folded(text: str) -> str:
    return f" {normalise_title(text)} "


def _contains(haystack: str, phrase: str) -> bool:
    """Whole-word phrase match on folded text (both sides padded with spaces)."""
    needle = normalise_title(phrase)
    return bool(needle) and f" {needle} " in haystack


def _popularity_reason(paper: Paper) -> str | None:
    if paper.upvotes:
        return f"{paper.upvotes} upvote{'s' if paper.upvotes != 1 else ''}"
    return None


def _vectorizer() -> TfidfVectorizer:
    # Imported here: scikit-learn costs ~0.7 s to import, which every CLI command would pay.
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words="english",
        token_pattern=r"(?u)\b\w[\w\-]*\w\b|\b\w\b",  # noqa: S106 - a regex, not a password
        dtype=np.float32,
    )


def rank(papers: Sequence[Paper], profiles: Sequence[Profile]) -> list[list[Pick]]:
    """Return, for each profile, its best papers (at most `max_items`), best first."""
    if not papers or not profiles:
        return [[] for _ in profiles]
    titles = [_folded(p.title) for p in papers]
    abstracts = [_folded(p.abstract) for p in papers]
    documents = [f"{p.title}. {p.title}. {p.abstract}" for p in papers]
    vectorizer = _vectorizer()
    try:
        paper_matrix = vectorizer.fit_transform(documents)
    except ValueError:  # every document was stop words only
        paper_matrix = None

    phrases = [phrase for profile in profiles for phrase in profile.interests]
    similarity = np.zeros((len(phrases), len(papers)), dtype=np.float32)
    if phrases and paper_matrix is not None:
        similarity = (vectorizer.transform(phrases) @ paper_matrix.T).toarray()
    for row, phrase in enumerate(phrases):
        for col in range(len(papers)):
            if _contains(titles[col], phrase):
                similarity[row, col] += TITLE_PHRASE_BONUS
            elif _contains(abstracts[col], phrase):
                similarity[row, col] += ABSTRACT_PHRASE_BONUS

    upvotes = np.array([p.upvotes or 0 for p in papers], dtype=np.float32)
    popularity = np.log1p(upvotes) / (np.log1p(upvotes.max()) or 1.0)
    order_keys = (-upvotes, np.arange(len(papers)))

    results: list[list[Pick]] = []
    start = 0
    for profile in profiles:
        rows = similarity[start : start + len(profile.interests)]
        start += len(profile.interests)
        if profile.interests:
            scores = rows.sum(axis=0) + 0.05 * popularity
            eligible = rows.max(axis=0) >= REASON_THRESHOLD
        else:
            scores = popularity.copy()
            eligible = np.ones(len(papers), dtype=bool)
        for col in range(len(papers)):
            if eligible[col] and any(
                _contains(titles[col], term) or _contains(abstracts[col], term)
                for term in profile.exclude
            ):
                eligible[col] = False
        # lexsort sorts by the last key first: score desc, then upvotes desc, then listing order.
        ranked = np.lexsort((*order_keys, -scores))
        picks: list[Pick] = []
        for col in ranked:
            if len(picks) >= profile.max_items:
                break
            if not eligible[col]:
                continue
            paper = papers[col]
            matched = [
                profile.interests[i]
                for i in np.argsort(-rows[:, col], kind="stable")
                if rows[i, col] >= REASON_THRESHOLD
            ]
            reasons = [f"matches: {', '.join(matched)}"] if matched else []
            popular = _popularity_reason(paper)
            if popular:
                reasons.append(popular)
            if not reasons:
                reasons.append("new in this listing")
            picks.append(
                Pick(paper=paper, score=round(float(scores[col]), 4), reasons=tuple(reasons))
            )
        results.append(picks)
    return results
