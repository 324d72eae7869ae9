"""Rank stage: each reader's picks from the day's new papers, with the evidence for each.

`text` turns papers into lemmas, BM25 scores and evidence sentences; `phrases` says where a
reader's phrase stands in a paper; `ranker` holds the models calibrated on the store and runs a
ranking call, vectorised over all readers, in four pieces: `signals` (every signal and the
blended score), `eligibility` (what earns a place), `diversity` (MMR) and `explain` (the
reasons and evidence sentence of each pick).
"""

from digest.models import Interest, Weights
from digest.rank.ranker import MAX_FEEDBACK_EXAMPLES, Candidate, Profile, Ranker, rank
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
