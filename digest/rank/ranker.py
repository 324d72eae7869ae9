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

import contextlib
import datetime as dt
import functools
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from digest.identity import normalise_title
from digest.models import Interest, Paper, Pick, Weights
from digest.rank.diversity import mmr
from digest.rank.eligibility import admit
from digest.rank.explain import Explainer
from digest.rank.phrases import compiled, spans
from digest.rank.signals import Signals, index
from digest.rank.text import (
    Bm25,
    document,
    lemmas,
    padded,
    stem,
    stems,
)

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# A paper clears a phrase's bar when it scores like the top SELECTIVITY of the store's papers
# (measured: `digest eval` shows ~6 papers a day per topic at 0.41 precision, against 0.34 for
# the top 10 whatever they score).
SELECTIVITY = 0.01
# With fewer store papers than this, the candidates join the calibration sample.
MIN_CALIBRATION = 200
# SVM regularisation for liked papers (few and precise, as arxiv-sanity-lite uses) and for the
# per-phrase models (pseudo-labels: the store papers a phrase's BM25 ranks highest).
SEED_C = 0.01
PHRASE_C = 0.1
PSEUDO_POSITIVES = 20
LEARNING_THREADS = 4  # at most, and no more than the machine's cores
# "Less like this" counts this much against "more like this" in a reader's taste: the papers a
# reader turns down are mostly near their topic, so a full-weight subtraction blurs it (measured
# with `digest eval --learning-curve`: 0.3 gave 1.05x the twin, 1.0 gave 0.98x).
LESS_WEIGHT = 0.3
# The taps a reader's taste keeps, for each of "more" and "less": the latest ones.
MAX_FEEDBACK_EXAMPLES = 100
# "Less like this" takes out a paper as close to a tapped one as the store's closest few, if it
# is at least this close outright (tf-idf cosine). Measured on the reader panel's days: of the
# next day's 41 shown papers most like a paper tapped "less", 20 stay (41 without the tap;
# 5 with no floor, when sharing the reader's own topic words was enough to go).
AVERSION_FLOOR = 0.1


@dataclass(frozen=True, slots=True)
class Profile:
    """What one reader wants."""

    interests: tuple[Interest, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 10
    authors: tuple[str, ...] = ()
    liked: tuple[Paper, ...] = ()
    # One-tap feedback: papers the reader asked for more of, and less of.
    more: tuple[Paper, ...] = ()
    less: tuple[Paper, ...] = ()
    min_score: float = 0.0
    # Store ids of papers this reader must not get again (already sent).
    skip_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # A reader's taste is their latest taps: older ones beyond the cap are let go, so that
        # 10,000 votes cost what MAX_FEEDBACK_EXAMPLES do (oldest first, as the store gives).
        for name in ("more", "less"):
            papers = getattr(self, name)
            if len(papers) > MAX_FEEDBACK_EXAMPLES:
                object.__setattr__(self, name, papers[-MAX_FEEDBACK_EXAMPLES:])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper to rank, with what the store knows about it beyond the paper itself."""

    paper: Paper
    paper_id: int | None = None
    upvote_delta: int = 0
    first_seen: dt.datetime | None = None


class TextModel:
    """tf-idf over stems (digest.rank.text.stems), for the SVMs and MMR's similarity; fitted on
    pre-tokenised documents."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(analyzer=_given, sublinear_tf=True, dtype=np.float32)
        self.empty = False

    def fit_transform(self, documents: Sequence[Sequence[str]]) -> csr_matrix:
        from scipy.sparse import csr_matrix

        try:
            matrix: csr_matrix = self._vectorizer.fit_transform(documents).tocsr()
        except ValueError:  # no document had a single content word
            self.empty = True
            return csr_matrix((len(documents), 1), dtype=np.float32)
        return matrix

    def transform(self, documents: Sequence[Sequence[str]]) -> csr_matrix:
        from scipy.sparse import csr_matrix

        if self.empty:
            return csr_matrix((len(documents), 1), dtype=np.float32)
        return self._vectorizer.transform(documents)

    def idf(self) -> dict[str, float]:
        """Rarity of each stem: evidence sentences prefer rare matched words."""
        if self.empty:
            return {}
        vocabulary = self._vectorizer.vocabulary_
        weights = self._vectorizer.idf_
        return {t: float(weights[i]) for t, i in vocabulary.items()}


def _given(tokens: Sequence[str]) -> Sequence[str]:
    return tokens


@dataclass(slots=True)
class _Texts:
    """Per-candidate word forms, computed once per ranking run."""

    titles: list[str]
    bodies: list[str]
    words: list[frozenset[str]]
    authors: list[frozenset[str]]
    papers: Sequence[Paper]
    folded_titles: list[str]  # lower-cased, for phrases.spans' quick check
    folded_abstracts: list[str]

    @classmethod
    def of(cls, papers: Sequence[Paper]) -> _Texts:
        titles = [lemmas(p.title) for p in papers]
        bodies = [lemmas(p.abstract) for p in papers]
        return cls(
            titles=[padded(t) for t in titles],
            bodies=[padded(b) for b in bodies],
            words=[frozenset(t) | frozenset(b) for t, b in zip(titles, bodies, strict=True)],
            authors=[frozenset(normalise_title(a) for a in p.authors) for p in papers],
            papers=papers,
            folded_titles=[p.title.lower() for p in papers],
            folded_abstracts=[p.abstract.lower() for p in papers],
        )

    def phrase_hits(self, phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """papers × phrases: whether the phrase stands in the title, and how often in the
        abstract (digest.rank.phrases: its words together and in order, never scattered)."""
        in_title = np.zeros((len(self.papers), len(phrases)), dtype=bool)
        in_abstract = np.zeros((len(self.papers), len(phrases)), dtype=np.int64)
        for j, text in enumerate(phrases):
            phrase = compiled(text)
            for i, paper in enumerate(self.papers):
                in_title[i, j] = bool(spans(phrase, paper.title, self.folded_titles[i]))
                found = spans(phrase, paper.abstract, self.folded_abstracts[i])
                in_abstract[i, j] = len(found)
        return in_title, in_abstract

    def runs(self, phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(in title, in abstract): the phrase's words as one run, in order."""
        needles = [padded(lemmas(p)) for p in phrases]
        in_title = np.zeros((len(self.titles), len(phrases)), dtype=bool)
        in_body = np.zeros_like(in_title)
        for j, needle in enumerate(needles):
            if needle.strip():
                in_title[:, j] = [needle in t for t in self.titles]
                in_body[:, j] = [needle in b for b in self.bodies]
        return in_title, in_body


def calibrated(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`scores` in units of the bar the top SELECTIVITY of `reference` reaches, measured from
    the reference's median (so 0 = an ordinary paper, 1 = the bar). A rare phrase, which most
    papers score 0 on, has its bar at least at the upper quartile of those that score at all. A
    sample
    smaller than MIN_CALIBRATION cannot say what is unusual: there the unit is simply the median
    of the scores above zero."""
    if len(reference) == 0:
        return np.zeros_like(scores)
    if len(reference) < MIN_CALIBRATION:
        return _in_positive_medians(scores, reference)
    median = float(np.median(reference))
    bar = float(np.quantile(reference, 1 - SELECTIVITY))
    positive = reference[reference > median]
    if len(positive):
        bar = max(bar, float(np.quantile(positive, 0.75)))
    if bar <= median:
        # Nothing in the store scores at all (a phrase new to it): the scores set their own
        # unit, as a small sample does.
        return _in_positive_medians(scores, scores)
    result: np.ndarray = (scores - median) / (bar - median)
    return result


def _in_positive_medians(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`scores` in units of the median of the reference's scores above zero."""
    positive = reference[reference > 0]
    unit = float(np.median(positive)) if len(positive) else 0.0
    return scores / unit if unit > 0 else np.zeros_like(scores)


# Cosine at which two texts are one paper (the same title and abstract, up to small edits).
SAME_PAPER = 0.95


def _fit_svm(features: csr_matrix, labels: np.ndarray, c: float) -> Any:
    """A linear SVM on `features` (float64, canonical CSR: sklearn would otherwise convert a
    copy on every fit). Called from worker threads: the caller silences ConvergenceWarning
    around all of them (warning filters are the process's, not a thread's)."""
    import sklearn
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, class_weight="balanced", max_iter=2000, random_state=0)
    # The matrix is ours and finite: skip sklearn's checks (its settings are per thread).
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return svm.fit(features, labels)


def _svm_ready(matrix: csr_matrix) -> csr_matrix:
    """`matrix` as LinearSVC fits on it without copying: float64, sorted, no duplicates."""
    ready: csr_matrix = matrix.astype(np.float64)
    ready.sum_duplicates()
    ready.sort_indices()
    return ready


@contextlib.contextmanager
def _no_convergence_warnings() -> Iterator[None]:
    """Around SVM fits: liblinear's ConvergenceWarning is silenced, as each fit did before.
    Warning filters are the process's: fits in worker threads are covered by the block that
    starts them."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- ranking ---------------------------------------------------------------------------------


class Ranker:
    """One ranking run: the candidates, the store's statistics and the models built from them,
    then any number of profiles (`digest send` ranks every reader in one call)."""

    def __init__(
        self,
        papers: Sequence[Paper | Candidate],
        *,
        corpus: Sequence[str] = (),
        now: dt.datetime | None = None,
        weights: Weights | None = None,
    ) -> None:
        self.weights = weights or Weights()
        self.now = now
        self.candidates = tuple(p if isinstance(p, Candidate) else Candidate(p) for p in papers)
        self.items = [c.paper for c in self.candidates]
        self.texts = _Texts.of(self.items)
        # Scoring works on stems (wide recall); honesty (what matched) on lemmas, in _Texts.
        corpus_terms = [stems(text) for text in corpus]
        self._documents = [document(p) for p in self.items]
        candidate_terms = [stems(text) for text in self._documents]
        self.bm25 = Bm25([*corpus_terms, *candidate_terms])
        self.n_corpus = len(corpus_terms)
        self.model = TextModel()
        both = self.model.fit_transform([*corpus_terms, *candidate_terms])
        self.matrix = both[self.n_corpus :]
        self.corpus_matrix = both[: self.n_corpus] if corpus_terms else None
        self.idf = self.model.idf()
        self._phrase_cache: dict[str, np.ndarray] = {}
        self._learned_cache: dict[str, np.ndarray] = {}
        self._example_stems: dict[str, list[str]] = {}
        self._paper_embeddings: np.ndarray | None = None
        self._phrase_embeddings: dict[str, np.ndarray] = {}
        self._rarity: dict[str, float] = {}

    def rarity(self, word: str) -> float:
        """How rare a word (a lemma) is in the store: its stem's idf (cached per word)."""
        found = self._rarity.get(word)
        if found is None:
            found = self._rarity[word] = self.idf.get(stem(word), 1.0)
        return found

    def _reference(self, scores: np.ndarray) -> np.ndarray:
        """The calibration sample: the store's papers, plus the candidates when it is small."""
        return scores if self.n_corpus < MIN_CALIBRATION else scores[: self.n_corpus]

    def phrase_confidence(self, phrases: Sequence[str]) -> np.ndarray:
        """papers × phrases: each phrase's BM25 score in units of its calibrated bar."""
        missing = [p for p in phrases if p not in self._phrase_cache]
        for phrase in missing:
            scores = self.bm25.scores(phrase)
            self._phrase_cache[phrase] = calibrated(
                scores[self.n_corpus :], self._reference(scores)
            )
        if not phrases:
            return np.zeros((len(self.items), 0))
        return np.stack([self._phrase_cache[p] for p in phrases], axis=1)

    def semantic(self, phrases: Sequence[str]) -> np.ndarray | None:
        """papers × phrases: embedding similarity z-scores, or None without the extra. The
        papers are embedded once per Ranker, each phrase once."""
        from digest.rank import semantic

        if self._paper_embeddings is None and self._documents and phrases:
            self._paper_embeddings = semantic.embed(self._documents)
        if self._paper_embeddings is None or not phrases:
            return None
        missing = [p for p in dict.fromkeys(phrases) if p not in self._phrase_embeddings]
        if missing:
            found = semantic.embed(missing)
            assert found is not None
            self._phrase_embeddings.update(zip(missing, found, strict=True))
        queries = np.stack([self._phrase_embeddings[p] for p in phrases])
        return semantic.similarity_z(self._paper_embeddings, queries)

    def learn(self, phrases: Sequence[str]) -> None:
        """Score, calibrate, learn and embed these phrases now (cached; `rank` does any
        missing): what a ranking run needs per phrase and per paper, whoever the readers are."""
        self.phrase_confidence(phrases)
        if self.weights.learned and self.corpus_matrix is not None:
            self.learned(phrases)
        if self.weights.semantic:
            self.semantic(phrases)

    def learned(self, phrases: Sequence[str]) -> np.ndarray:
        """papers × phrases: what each phrase is about, learned from the store. Per phrase, a
        linear SVM separates the PSEUDO_POSITIVES store papers its BM25 ranks highest from the
        rest of the store; a candidate's score is read in standard deviations above the
        store's. It finds on-topic papers in other words; cached per phrase."""
        assert self.corpus_matrix is not None
        missing = [p for p in dict.fromkeys(phrases) if p not in self._learned_cache]
        if missing:
            # liblinear lets go of the interpreter while it trains: phrases learn side by side.
            workers = min(len(missing), LEARNING_THREADS, os.cpu_count() or 1)
            with _no_convergence_warnings(), ThreadPoolExecutor(workers) as pool:
                learn = functools.partial(self._learn, self._svm_corpus)
                learned = pool.map(learn, missing)
                self._learned_cache.update(zip(missing, learned, strict=True))
        return np.stack([self._learned_cache[p] for p in phrases], axis=1)

    @functools.cached_property
    def _svm_corpus(self) -> csr_matrix:
        """The store's papers as the phrases' SVMs fit on them, prepared once per ranker."""
        assert self.corpus_matrix is not None
        return _svm_ready(self.corpus_matrix)

    def _learn(self, corpus: csr_matrix, phrase: str) -> np.ndarray:
        """One phrase's SVM scores of the candidates (see learned)."""
        scores = self.bm25.scores(phrase)[: self.n_corpus]
        top = np.argsort(-scores, kind="stable")[:PSEUDO_POSITIVES]
        top = top[scores[top] > 0]
        if len(top) < 2 or len(top) == self.n_corpus or not self.items:
            return np.zeros(len(self.items))
        labels = np.zeros(self.n_corpus)
        labels[top] = 1
        svm = _fit_svm(corpus, labels, PHRASE_C)
        known = np.asarray(svm.decision_function(corpus), dtype=np.float64)
        found = np.asarray(svm.decision_function(self.matrix), dtype=np.float64)
        result: np.ndarray = (found - known.mean()) / (float(known.std()) or 1.0)
        return result

    def _stems(self, paper: Paper) -> list[str]:
        """A reader's example paper as stems (cached: many readers tap the same papers)."""
        if paper.key not in self._example_stems:
            self._example_stems[paper.key] = stems(document(paper))
        return self._example_stems[paper.key]

    def taste(self, profiles: Sequence[Profile]) -> tuple[np.ndarray, np.ndarray]:
        """readers × papers: what each reader's feedback says, in units of its bar, and the
        index of the "more" paper most like each candidate. Rocchio for all readers at once:
        the mean of the papers they asked more of, minus LESS_WEIGHT × the mean of those they
        asked less of, minus the store's mean, as one weight vector per reader; every reader's
        scores are calibrated on the store in one more product."""
        from scipy.sparse import csr_matrix

        n_papers = len(self.items)
        scores = np.zeros((len(profiles), n_papers))
        nearest = np.zeros((len(profiles), n_papers), dtype=np.int64)
        readers = [s for s, p in enumerate(profiles) if p.more or p.less]
        if not readers or self.model.empty:
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
        examples = self.model.transform([self._stems(papers_by_key[k]) for k in example])
        mix = csr_matrix((values, (rows, columns)), shape=(len(readers), len(example)))
        background = self.corpus_matrix if self.corpus_matrix is not None else self.matrix
        centre = np.asarray(background.mean(axis=0)).ravel()
        has_more = np.array([bool(profiles[s].more) for s in readers], dtype=np.float64)
        # Never a dense papers x examples matrix (10,000 taps on 200,000 papers would be 16 GB):
        # the similarities stay sparse, and only readers x papers is ever dense.
        to_examples = (self.matrix @ examples.T).tocsc()
        candidate_scores = (mix @ to_examples.T).toarray() - np.outer(
            has_more, self.matrix @ centre
        )
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

    def aversion(self, profiles: Sequence[Profile]) -> np.ndarray:
        """readers × papers: how close each paper is to the closest paper the reader asked
        less of (tf-idf cosine), in units of its bar on the store: 1 is as close as the store's
        top SELECTIVITY of papers come to those papers."""
        result = np.zeros((len(profiles), len(self.items)))
        readers = [s for s, p in enumerate(profiles) if p.less]
        if not readers or self.model.empty:
            return result
        papers = {p.key: p for s in readers for p in profiles[s].less}
        example = index(list(papers))
        examples = self.model.transform([self._stems(papers[k]) for k in example])
        background = self.corpus_matrix if self.corpus_matrix is not None else self.matrix
        to_candidates = (self.matrix @ examples.T).tocsc()
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

    def liked(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """(confidence in bar units, index of the most similar liked paper) per candidate: a
        linear SVM with the liked papers as positives and the store's other papers (else the
        candidates) as negatives, as arxiv-sanity-lite does, calibrated on those negatives."""
        from scipy.sparse import vstack

        liked_terms = [stems(document(p)) for p in profile.liked]
        liked = self.model.transform(liked_terms)
        nearest = (self.matrix @ liked.T).toarray().argmax(axis=1)
        background = self.corpus_matrix
        if background is not None and background.shape[0]:
            # A liked paper the store also holds is a positive, never a negative as well.
            copies = (background @ liked.T).max(axis=1).toarray().ravel() >= SAME_PAPER
            if copies.any():
                background = background[np.flatnonzero(~copies)]
        if background is None or background.shape[0] < MIN_CALIBRATION:
            background = self.matrix if background is None else vstack([background, self.matrix])
        features = vstack([liked, background])
        labels = np.r_[np.ones(liked.shape[0]), np.zeros(background.shape[0])]
        with _no_convergence_warnings():
            svm = _fit_svm(features, labels, SEED_C)
        reference = np.asarray(svm.decision_function(background), dtype=np.float64)
        scores = np.asarray(svm.decision_function(self.matrix), dtype=np.float64)
        return calibrated(scores, reference), nearest

    def rank(self, profiles: Sequence[Profile], *, thresholded: bool = True) -> list[list[Pick]]:
        """For each profile, its best papers (at most `max_items`), best first. With
        `thresholded` (the default) only papers that clear a bar; without it, the top
        `max_items` of the ranking whatever they score (for evaluation)."""
        if not self.candidates or not profiles:
            return [[] for _ in profiles]
        signals = Signals.of(self, profiles)
        admission = admit(self, profiles, signals, thresholded)
        chosen = mmr(
            signals.scores,
            admission.eligible,
            self.matrix,
            [p.max_items for p in profiles],
            signals.upvotes,
            self.weights.diversity,
        )
        explainer = Explainer(self, profiles, signals, admission)
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
) -> list[list[Pick]]:
    """Return, for each profile, its best papers (at most `max_items`), best first.

    `corpus`: texts of earlier papers (the store) for BM25 statistics, calibration and SVM
    negatives.
    """
    if not papers or not profiles:
        return [[] for _ in profiles]
    return Ranker(papers, corpus=corpus, now=now, weights=weights).rank(profiles)
