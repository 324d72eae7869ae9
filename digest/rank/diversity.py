"""Diversity: maximal marginal relevance over every reader's eligible papers at once, so
near-duplicates do not fill an email."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# MMR looks this many times `max_items` deep into each reader's ranking.
SHORTLIST_FACTOR = 4
# Scores are compared at this precision: a batch and a single reader order exactly alike.
DECIMALS = 6


def mmr(
    scores: np.ndarray,
    eligible: np.ndarray,
    matrix: csr_matrix,
    limits: Sequence[int],
    upvotes: np.ndarray,
    diversity: float,
) -> list[list[int]]:
    """Maximal marginal relevance for all readers in lock-step.

    Each reader's shortlist is its best SHORTLIST_FACTOR × max_items papers (score, then
    upvotes, then listing order); each step takes, per reader, the shortlisted paper with the
    best (1 - diversity) · relevance - diversity · (max cosine to what it already took)."""
    n_profiles, n_papers = scores.shape
    depth = min(n_papers, max(limits) * SHORTLIST_FACTOR)
    # Only the eligible (reader, paper) pairs are ordered, all readers in one sort: by reader,
    # then score desc, then upvotes desc, then listing order (the tie-break rank).
    tie_rank = np.empty(n_papers, dtype=np.int64)
    tie_rank[np.lexsort((np.arange(n_papers), -upvotes))] = np.arange(n_papers)
    rows, cols = np.nonzero(eligible)
    order = np.lexsort((tie_rank[cols], -scores[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    within = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_profiles))[rows]
    kept = within < depth
    shortlist = np.zeros((n_profiles, depth), dtype=np.int64)
    valid = np.zeros((n_profiles, depth), dtype=bool)
    shortlist[rows[kept], within[kept]] = cols[kept]
    valid[rows[kept], within[kept]] = True
    relevance = np.take_along_axis(scores, shortlist, axis=1)
    top = np.where(valid, relevance, -np.inf).max(axis=1, keepdims=True)
    relevance = np.where(np.isfinite(top) & (top > 0), relevance / np.where(top > 0, top, 1), 0)
    relevance = np.round(relevance, DECIMALS)
    union = np.unique(shortlist[valid]) if valid.any() else np.zeros(0, dtype=np.int64)
    position = np.full(n_papers, -1)
    position[union] = np.arange(len(union))
    similar = (
        np.round((matrix[union] @ matrix[union].T).toarray().astype(np.float64), DECIMALS)
        if len(union)
        else np.zeros((0, 0))
    )
    local = position[shortlist]
    closest = np.zeros(shortlist.shape, dtype=np.float64)
    taken = ~valid
    picks: list[list[int]] = [[] for _ in range(n_profiles)]
    rows = np.arange(n_profiles)
    for step in range(max(limits)):
        value = np.round((1 - diversity) * relevance - diversity * closest, DECIMALS)
        value[taken] = -np.inf
        best = value.argmax(axis=1)  # first of equals = better by score/upvotes/order
        alive = np.isfinite(value[rows, best]) & (np.array(limits) > step)
        if not alive.any():
            break
        for s in rows[alive]:
            picks[s].append(int(shortlist[s, best[s]]))
        taken[rows[alive], best[alive]] = True
        chosen_local = local[rows, best]
        safe = np.where(alive, chosen_local, 0)
        sims = similar[safe[:, None], np.where(local >= 0, local, 0)] if len(union) else closest
        closest = np.where(alive[:, None], np.maximum(closest, sims), closest)
    return picks
