"""Rank stage: each reader's picks from the day's new papers, with the evidence for each.

One direction, each module importing only those above it:
`records` (Profile, Candidate) · `text`, `phrases`, `semantic` (words, where a phrase stands,
optional embeddings) · `calibration` (scores in units of the store's bar) · `learning` (the
SVMs) · `corpus` (the day's candidates and the store indexed once: BM25, tf-idf, per-phrase
caches) · `personal` (liked papers, taps) · `signals` (one function per signal family, the
blend) · `eligibility` (what earns a place) · `diversity` (MMR) · `explain` (reasons and
evidence) · `ranker` (orchestrates them).
"""

from digest.models import Interest, Weights
from digest.rank.ranker import Ranker, rank
from digest.rank.records import MAX_FEEDBACK_EXAMPLES, Candidate, Profile
from digest.rank.text import document

__all__ = [
    "MAX_FEEDBACK_EXAMPLES",
    "Candidate",
    "Interest",
    "Profile",
    "Ranker",
    "Weights",
    "document",
    "rank",
]
