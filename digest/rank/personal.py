"""Signal families from what a reader gave: their liked papers (an SVM each), their "more"
taps (Rocchio, every reader in one sparse product) and their "less" taps (closeness to the
closest one). Each is readers × papers, in units of its bar on the store."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digest.rank.calibration import MIN_CALIBRATION, calibrated
from digest.rank.corpus import Corpus
from digest.rank.learning import liked_model
from digest.rank.records import Profile, index
from digest.rank.text import document, stems

# "Less like this" counts this much against "more like this" in a reader's taste: the papers a
# reader turns down are mostly near their topic, so a full-weight subtraction blurs it (measured
# with `digest eval --learning-curve`: 0.3 gave 1.05x the twin, 1.0 gave 0.98x).
LESS_WEIGHT = 0.3
# "Less like this" takes out a paper as close to a tapped one as the store's closest few, if it
# is at least this close outright (tf-idf cosine). Measured on the reader panel's days: of the
# next day's 41 shown papers most like a paper tapped "less", 20 stay (41 without the tap;
# 5 with no floor, when sharing the reader's own topic words was enough to go).
AVERSION_FLOOR = 0.1


def liked(corpus: Corpus, profiles: Sequence[Profile]) -> tuple[np.ndarray, np.ndarray]:
    """readers × papers: how like each reader's liked papers a paper is (in bars), and the
    index of the liked paper most like it; zero for readers without liked papers."""
    n_papers = len(corpus.items)
    seed = np.zeros((len(profiles), n_papers))
    nearest = np.zeros((len(profiles), n_papers), dtype=np.int64)
    for s, profile in enumerate(profiles):
        if profile.liked:
            seed[s], nearest[s] = liked_one(corpus, profile)
    return seed, nearest


def liked_one(corpus: Corpus, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """One reader's liked-paper SVM (learning.liked_model) on this corpus."""
    liked_terms = [stems(document(p)) for p in profile.liked]
    vectors = corpus.model.transform(liked_terms)
    return liked_model(vectors, corpus.matrix, corpus.corpus_matrix)


def taste(corpus: Corpus, profiles: Sequence[Profile]) -> tuple[np.ndarray, np.ndarray]:
    """readers × papers: what each reader's feedback says, in units of its bar, and the
    index of the "more" paper most like each candidate. Rocchio for all readers at once:
    the mean of the papers they asked more of, minus LESS_WEIGHT × the mean of those they
    asked less of, minus the store's mean, as one weight vector per reader; every reader's
    scores are calibrated on the store in one more product."""
    from scipy.sparse import csr_matrix

    n_papers = len(corpus.items)
    scores = np.zeros((len(profiles), n_papers))
    nearest = np.zeros((len(profiles), n_papers), dtype=np.int64)
    readers = [s for s, p in enumerate(profiles) if p.more or p.less]
    if not readers or corpus.model.empty:
        return scores, nearest
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    papers_by_key = {p.key: p for s in readers for p in (*profiles[s].more, *profiles[s].less)}
    example = index(list(papers_by_key))
    for row, s in enumerate(readers):
        for papers, sign in ((profiles[s].more, 1.0), (profiles[s].less, -LESS_WEIGHT)):
            for paper in papers:  # the same paper twice adds up (csr sums duplicates)
                rows.append(row)
                columns.append(example[paper.key])
                values.append(sign / len(papers))
    # Each distinct example paper once: many readers tap the same papers.
    examples = corpus.model.transform([corpus.stems_of(papers_by_key[k]) for k in example])
    mix = csr_matrix((values, (rows, columns)), shape=(len(readers), len(example)))
    background = corpus.background
    centre = np.asarray(background.mean(axis=0)).ravel()
    has_more = np.array([bool(profiles[s].more) for s in readers], dtype=np.float64)
    # Never a dense papers x examples matrix (10,000 taps on 200,000 papers would be 16 GB):
    # the similarities stay sparse, and only readers x papers is ever dense.
    to_examples = (corpus.matrix @ examples.T).tocsc()
    candidate_scores = (mix @ to_examples.T).toarray() - np.outer(has_more, corpus.matrix @ centre)
    reference = (mix @ (background @ examples.T).T).toarray() - np.outer(
        has_more, background @ centre
    )
    if background.shape[0] < MIN_CALIBRATION:
        reference = np.hstack([reference, candidate_scores])
    for row, s in enumerate(readers):
        scores[s] = calibrated(candidate_scores[row], reference[row])
        if profiles[s].more:
            asked = [example[p.key] for p in profiles[s].more]
            # Dense per reader (papers × their taps, at most MAX_FEEDBACK_EXAMPLES):
            # scipy's sparse argmax walks the rows in Python, 5 ms a reader.
            nearest[s] = to_examples[:, asked].toarray().argmax(axis=1)
    return scores, nearest


def aversion(corpus: Corpus, profiles: Sequence[Profile]) -> np.ndarray:
    """readers × papers: how close each paper is to the closest paper the reader asked
    less of (tf-idf cosine), in units of its bar on the store: 1 is as close as the store's
    top SELECTIVITY of papers come to those papers."""
    result = np.zeros((len(profiles), len(corpus.items)))
    readers = [s for s, p in enumerate(profiles) if p.less]
    if not readers or corpus.model.empty:
        return result
    papers = {p.key: p for s in readers for p in profiles[s].less}
    example = index(list(papers))
    examples = corpus.model.transform([corpus.stems_of(papers[k]) for k in example])
    background = corpus.background
    to_candidates = (corpus.matrix @ examples.T).tocsc()
    to_background = (background @ examples.T).tocsc()
    for s in readers:
        mine = [example[p.key] for p in profiles[s].less]
        # Dense per reader, as for their "more" taps (at most MAX_FEEDBACK_EXAMPLES wide).
        closest = to_candidates[:, mine].toarray().max(axis=1)
        reference = to_background[:, mine].toarray().max(axis=1)
        if background.shape[0] < MIN_CALIBRATION:
            reference = np.r_[reference, closest]
        # As close as the store's closest few, and close outright: where the store holds
        # nothing like the tapped paper, sharing the reader's own topic is not "like it".
        result[s] = np.where(closest >= AVERSION_FLOOR, calibrated(closest, reference), 0.0)
    return result
