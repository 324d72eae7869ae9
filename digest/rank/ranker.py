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
from digest.models import Basis, Interest, Paper, Pick
from digest.rank.phrases import compiled, spans
from digest.rank.phrases import evidence as phrase_evidence
from digest.rank.text import (
    Bm25,
    Evidence,
    document,
    evidence,
    lemmas,
    padded,
    sentences,
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
# A phrase (or the liked papers) counts at most this many bars: one phrase repeated forty times
# does not outweigh three phrases matched.
CAP = 3.0
# An exact run of the phrase's words adds this many bars (title) or this many (abstract).
TITLE_RUN_BONUS = 0.5
ABSTRACT_RUN_BONUS = 0.25
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
# A paper as like the reader's liked papers as this many bars is picked for them. Measured with
# `digest eval --every 5` (nDCG@10 of the shown list, arXiv topics, 10 liked papers each): 1 bar
# showed 2.1 papers a day at precision 0.37, nDCG 0.17 (0.50x the arxiv-sanity SVM's top 10);
# half a bar 8.6 a day at 0.31, nDCG 0.39 (1.12x).
LIKED_BAR = 0.5
# A one-word phrase mentioned once in an abstract picks a paper scoring this many bars on it
# (the same measure, keyword topics: 1 bar 0.423 at precision 0.368; half a bar 0.442 at 0.322).
ONCE_BAR = 1.0
# "More like this" admits a paper this many bars close to the reader's taps, if it is also
# this many bars near their profile (their phrases' words, their liked papers): measured on
# the reader panel's days, one tap on a pick with 1 and 1 admitted 34 papers, 25 of them off
# topic; with 2 and 2, 4 papers, 1 off topic.
TASTE_BAR = 2.0
NEAR = 2.0
# "Less like this" takes out a paper as close to a tapped one as the store's closest few, if it
# is at least this close outright (tf-idf cosine). Measured on the reader panel's days: of the
# next day's 41 shown papers most like a paper tapped "less", 20 stay (41 without the tap;
# 5 with no floor, when sharing the reader's own topic words was enough to go).
AVERSION_FLOOR = 0.1
# A paper this near one of a reader's phrases is "related to" it (an unthresholded ranking).
RELATED = 0.5
# MMR looks this many times `max_items` deep into each reader's ranking.
SHORTLIST_FACTOR = 4
# Scores are compared at this precision: a batch and a single reader order exactly alike.
DECIMALS = 6


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
class Weights:
    """How the signals blend into one score (settings: [ranking]); relevance and liked papers
    are in units of their calibrated bar."""

    relevance: float = 1.0
    # The reader's feedback ("more like this" / "less like this"), in units of its bar.
    feedback: float = 1.0
    # Per-phrase models learned from the store (in standard deviations); they reorder papers
    # that cleared a bar and never make one eligible. 0 turns them off.
    learned: float = 0.4
    # Semantic similarity of phrase and paper (only with `digest[embeddings]`), in standard
    # deviations over the day's papers; reorders, never admits a paper.
    semantic: float = 0.5
    seed: float = 1.0
    authors: float = 0.5
    popularity: float = 0.05
    trending: float = 0.05
    freshness: float = 0.05
    # MMR trade-off: 0 = pure relevance order, 1 = as diverse as possible.
    diversity: float = 0.3
    # Freshness halves every this many days.
    freshness_half_life_days: float = 7.0


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


def _index(items: Sequence[str]) -> dict[str, int]:
    """Distinct items in first-seen order → column number."""
    columns: dict[str, int] = {}
    for item in items:
        columns.setdefault(item, len(columns))
    return columns


# -- signals ---------------------------------------------------------------------------------


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
        example = _index(list(papers_by_key))
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
        example = _index(list(papers))
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

    def _liked(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """(confidence in bar units, index of the most similar liked paper) per candidate: a
        linear SVM with the liked papers as positives and the store's other papers (else the
        candidates) as negatives, as arxiv-sanity-lite does, calibrated on those negatives."""
        from scipy.sparse import vstack

        liked_terms = [stems(document(p)) for p in profile.liked]
        liked = self.model.transform(liked_terms)
        nearest = (self.matrix @ liked.T).toarray().argmax(axis=1)
        background = self.corpus_matrix
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
        return _Run(self, profiles, thresholded).picks()


class _Run:
    """One call of Ranker.rank: the signals for these profiles, then the picks."""

    def __init__(self, ranker: Ranker, profiles: Sequence[Profile], thresholded: bool) -> None:
        from scipy.sparse import csr_matrix

        self._sentences: dict[int, list[tuple[str, frozenset[str]]]] = {}
        self._evidence_cache: dict[tuple[int, frozenset[str]], Evidence | None] = {}
        self._example_words: dict[str, frozenset[str]] = {}
        self._honest_rows: list[frozenset[int]] | None = None
        self._confidence_rows: list[list[float]] = []
        self._phrase_evidence_cache: dict[tuple[int, tuple[str, ...]], Evidence | None] = {}
        self._shared_cache: dict[tuple[str, int], frozenset[str]] = {}
        self._own: dict[int, list[tuple[int, float, int, str]]] = {}

        self.ranker, self.profiles = ranker, profiles
        texts, n_papers = ranker.texts, len(ranker.items)
        self.interests = [p.interests for p in profiles]
        self.phrases = _index([i.phrase for group in self.interests for i in group])
        phrase_list = list(self.phrases)
        # Phrases: calibrated BM25 (capped; the phrase's words anywhere, weak evidence) plus a
        # bonus where the phrase itself stands in the paper.
        confidence = ranker.phrase_confidence(phrase_list)
        in_title, in_abstract = texts.phrase_hits(phrase_list)
        self.confidence = confidence
        # A phrase matches where its words stand together, in order, in the title or the
        # abstract (digest.rank.phrases): that, and only that, is told as "matches: X".
        self.honest = in_title | (in_abstract > 0)
        # It is a reason to pick the paper where the paper is about it: the phrase in its
        # title; a phrase of several words in its abstract; a one-word phrase ("benchmarks",
        # which many abstracts mention in passing) twice, or once in a paper that scores like
        # the store's best for it.
        several = np.array([compiled(p).content >= 2 for p in phrase_list], dtype=bool)
        self.about = (
            in_title
            | (in_abstract >= 2)
            | ((in_abstract == 1) & (several[None, :] | (confidence >= ONCE_BAR)))
        )
        topical = np.minimum(confidence, CAP) + np.where(
            in_title, TITLE_RUN_BONUS, np.where(in_abstract > 0, ABSTRACT_RUN_BONUS, 0)
        )
        rows, cols, vals = [], [], []
        for s, group in enumerate(self.interests):
            weight_sum = sum(i.weight for i in group)
            for interest in group:
                rows.append(s)
                cols.append(self.phrases[interest.phrase])
                vals.append(interest.weight / weight_sum)
        shape = (len(profiles), max(len(self.phrases), 1))
        self.spread = csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float64)
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
            np.asarray(self.spread[:, : len(phrase_list)] @ per_phrase.T)
            if phrase_list
            else np.zeros((len(profiles), n_papers))
        )
        pattern = self.spread.copy()
        pattern.data[:] = 1
        phrase_match = (
            np.asarray(pattern[:, : len(phrase_list)] @ self.about.T.astype(np.float64)) > 0
            if phrase_list
            else np.zeros((len(profiles), n_papers), dtype=bool)
        )
        # Exclusions veto; followed authors boost and qualify.
        exclusions = [p.exclude for p in profiles]
        terms_ = _index([t for group in exclusions for t in group])
        ex_title, ex_body = texts.runs(list(terms_))
        excluded = _any_per_profile(ex_title | ex_body, terms_, exclusions)
        authors = [tuple(normalise_title(a) for a in p.authors) for p in profiles]
        names = _index([a for group in authors for a in group])
        by_name = np.array(
            [[name in written for name in names] for written in texts.authors], dtype=bool
        ).reshape(n_papers, len(names))
        self.followed = _any_per_profile(by_name, names, authors)
        # Liked papers: one SVM per reader who has any.
        self.seed = np.zeros((len(profiles), n_papers))
        self.nearest = np.zeros((len(profiles), n_papers), dtype=np.int64)
        for s, profile in enumerate(profiles):
            if profile.liked:
                self.seed[s], self.nearest[s] = ranker._liked(profile)
        weights, items, candidates = ranker.weights, ranker.items, ranker.candidates
        self.upvotes = np.array([p.upvotes or 0 for p in items], dtype=np.float64)
        deltas = np.array([c.upvote_delta for c in candidates], dtype=np.float64)
        shared = (
            weights.popularity * _scaled_log(self.upvotes)
            + weights.trending * _scaled_log(deltas)
            + weights.freshness
            * _freshness(candidates, ranker.now, weights.freshness_half_life_days)
        )
        # Feedback: one model for every reader who gave any, in one sparse product.
        self.taste, self.taste_nearest = ranker.taste(profiles)
        has_interest = np.array([bool(g) for g in self.interests])
        has_liked = np.array([bool(p.liked) for p in profiles])
        has_authors = np.array([bool(p.authors) for p in profiles])
        has_more = np.array([bool(p.more) for p in profiles])
        has_feedback = has_more | np.array([bool(p.less) for p in profiles])
        # The per-reader signals are zero for the readers without them: added only where not.
        total = weights.relevance * relevance + shared[None, :]
        total[has_feedback] += weights.feedback * np.clip(self.taste[has_feedback], -CAP, CAP)
        total[has_liked] += weights.seed * np.minimum(self.seed[has_liked], CAP)
        total[has_authors] += weights.authors * self.followed[has_authors]
        # "Less like this": papers close to one the reader turned down go down, in proportion.
        has_less = np.array([bool(p.less) for p in profiles])
        aversion = ranker.aversion(profiles)
        total[has_less] -= weights.feedback * np.clip(aversion[has_less], 0, CAP)
        self.scores = np.round(total, DECIMALS)
        targeted = has_interest | has_liked | has_authors | has_more
        self.liked_match = has_liked[:, None] & (self.seed >= LIKED_BAR)
        # "More like this" admits a paper close to the tapped one that is also near what the
        # reader reads (one of their phrases' words, their liked papers), unless the taps are
        # all the reader has: one tap must not open the email to a neighbouring field.
        near = (
            np.asarray(pattern[:, : len(phrase_list)] @ (confidence >= NEAR).T.astype(float)) > 0
            if phrase_list
            else np.zeros((len(profiles), n_papers), dtype=bool)
        )
        near |= has_liked[:, None] & (self.seed >= NEAR)
        near |= ~(has_interest | has_liked)[:, None]
        # Said as a reason wherever a paper is close to a tapped one (1 bar); admits one alone
        # only further up and near the profile.
        self.taste_close = has_more[:, None] & (self.taste >= 1)
        taste_match = self.taste_close & (self.taste >= TASTE_BAR) & near
        cleared = phrase_match | self.liked_match | self.followed | taste_match
        # A paper as close to a turned-down paper as the store's closest few is not shown.
        eligible = ~excluded & (aversion < 1)
        if thresholded:
            eligible &= np.where(targeted[:, None], cleared, True)
        ids = np.array([-1 if c.paper_id is None else c.paper_id for c in candidates])
        column = {c.paper.key: col for col, c in enumerate(candidates)}
        for s, profile in enumerate(profiles):
            if profile.skip_ids:
                eligible[s] &= ~np.isin(ids, list(profile.skip_ids))
            # Never shown back what the reader gave: their liked papers and their feedback's.
            given = [column.get(p.key) for p in (*profile.liked, *profile.more, *profile.less)]
            eligible[s, [col for col in given if col is not None]] = False
        minimum = np.array([p.min_score for p in profiles], dtype=np.float64)[:, None]
        self.eligible = eligible & (self.scores >= minimum)

    def _own_phrases(self, s: int) -> list[tuple[int, float, int, str]]:
        """The reader's distinct phrases as (column, weight, position, phrase); a phrase
        listed twice counts with its larger weight, at its first position."""
        mine: dict[str, tuple[int, float, int, str]] = {}
        for n, interest in enumerate(self.interests[s]):
            phrase = interest.phrase
            if phrase in mine:
                j, weight, first, _ = mine[phrase]
                mine[phrase] = (j, max(weight, interest.weight), first, phrase)
            else:
                mine[phrase] = (self.phrases[phrase], interest.weight, n, phrase)
        return list(mine.values())

    def _matched(self, s: int, col: int) -> tuple[str, ...]:
        """The reader's phrases this paper honestly matches, strongest first. Read from plain
        Python rows made once per run: numpy indexing per pick would cost more than the pick."""
        if self._honest_rows is None:
            self._honest_rows = [frozenset(np.flatnonzero(row).tolist()) for row in self.honest]
            self._confidence_rows = self.confidence.tolist()
        mine = self._own.get(s)
        if mine is None:
            mine = self._own[s] = self._own_phrases(s)
        honest, confidence = self._honest_rows[col], self._confidence_rows[col]
        found = sorted(
            (-confidence[j] * weight, n, phrase) for j, weight, n, phrase in mine if j in honest
        )
        return tuple(phrase for _, _, phrase in found)

    def _phrase_evidence(self, col: int, matched: tuple[str, ...]) -> Evidence | None:
        """Cached per (paper, phrases): readers with the same interests share the sentence."""
        key = (col, matched)
        if key not in self._phrase_evidence_cache:
            if col not in self._sentences:
                self._sentences[col] = sentences(self.ranker.items[col])
            texts = [sentence for sentence, _ in self._sentences[col]]
            self._phrase_evidence_cache[key] = phrase_evidence(texts, list(matched))
        return self._phrase_evidence_cache[key]

    def _shared_words(self, example: Paper, col: int) -> frozenset[str]:
        """The rarest words a candidate shares with a paper the reader liked or asked more of:
        what its evidence sentence should show. Cached per (paper, candidate)."""
        key = (example.key, col)
        if key not in self._shared_cache:
            if example.key not in self._example_words:
                self._example_words[example.key] = frozenset(lemmas(document(example)))
            shared = self.ranker.texts.words[col] & self._example_words[example.key]
            ranked = sorted(shared, key=lambda w: (-self.ranker.rarity(w), w))
            self._shared_cache[key] = frozenset(ranked[:6])
        return self._shared_cache[key]

    def _evidence(self, col: int, wanted: frozenset[str]) -> Evidence | None:
        """Cached per (paper, words): readers with the same interests share the sentence."""
        key = (col, wanted)
        if key not in self._evidence_cache:
            if col not in self._sentences:
                self._sentences[col] = sentences(self.ranker.items[col])
            self._evidence_cache[key] = evidence(self._sentences[col], wanted, self.ranker.rarity)
        return self._evidence_cache[key]

    def picks(self) -> list[list[Pick]]:
        ranker, profiles = self.ranker, self.profiles
        chosen = _mmr(
            self.scores,
            self.eligible,
            ranker.matrix,
            [p.max_items for p in profiles],
            self.upvotes,
            ranker.weights.diversity,
        )
        return [
            [
                self._pick(s, col, score)
                for col, score in zip(columns, self.scores[s, columns].tolist(), strict=True)
            ]
            for s, columns in enumerate(chosen)
        ]

    def _pick(self, s: int, col: int, score: float) -> Pick:
        ranker = self.ranker
        profile, candidate = self.profiles[s], ranker.candidates[col]
        paper = candidate.paper
        reasons: list[str] = []
        bases: list[Basis] = []
        wanted: frozenset[str] = frozenset()
        matched = self._matched(s, col)
        if matched:
            reasons.append(f"matches: {', '.join(matched)}")
            bases.append(Basis.INTEREST)
        # The numpy lookups only for readers who have the signal at all.
        if profile.liked and self.liked_match[s, col]:
            liked = profile.liked[self.nearest[s, col]]
            reasons.append(f"similar to papers you liked: {liked.title}")
            bases.append(Basis.LIKED)
            if not wanted:
                wanted = self._shared_words(liked, col)
        if profile.more and self.taste_close[s, col]:
            asked = profile.more[self.taste_nearest[s, col]]
            reasons.append(f"like a paper you asked more of: {asked.title}")
            bases.append(Basis.FEEDBACK)
            if not wanted:
                wanted = self._shared_words(asked, col)
        if profile.authors and self.followed[s, col]:
            followed = {normalise_title(a) for a in profile.authors}
            names = [a for a in paper.authors if normalise_title(a) in followed]
            reasons.append(f"by {', '.join(names)}")
            bases.append(Basis.AUTHOR)
        if not reasons:
            related = [
                i.phrase
                for i in self.interests[s]
                if self.confidence[col, self.phrases[i.phrase]] >= RELATED
            ]
            if related:
                reasons.append(f"related to {', '.join(dict.fromkeys(related))}")
        if not reasons:  # nothing personal: popularity is the reason (the card shows counts)
            reasons.append("trending in this listing" if paper.upvotes else "new in this listing")
        # The sentence that shows it: the matched phrases' own words marked, else the words a
        # similar paper shares with it.
        found = self._phrase_evidence(col, matched) if matched else self._evidence(col, wanted)
        return Pick(
            paper=paper,
            score=round(score, 4),
            reasons=tuple(reasons),
            paper_id=candidate.paper_id,
            evidence=found.sentence if found else "",
            highlights=found.highlights if found else (),
            basis=bases[0] if bases else Basis.POPULAR,
            interest=matched[0] if matched else "",
            upvote_delta=candidate.upvote_delta,
            first_seen=candidate.first_seen,
        )


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


def _mmr(
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
