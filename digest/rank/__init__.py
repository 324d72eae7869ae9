"""Rank stage: each reader's picks from the day's new papers, with the evidence for each.

`text` turns papers into lemmas, BM25 scores and evidence sentences; `ranker` calibrates the
signals on the store, blends them and picks per reader, vectorised over all readers.
"""

from digest.models import Interest
from digest.rank.ranker import MAX_FEEDBACK_EXAMPLES, Candidate, Profile, Ranker, Weights, rank
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
