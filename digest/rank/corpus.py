"""The corpus of one ranking run: the day's candidates and the store's earlier papers, with
everything computed from them once, whoever the readers are: word forms (Texts), BM25 and a
tf-idf TextModel over both, calibration of each phrase on the store, and the models learned
per phrase (an SVM on the store, embeddings when the extra is installed). Cached per phrase and
per paper; knows no reader."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from digest.abbreviations import Abbreviations
from digest.identity import normalise_title
from digest.models import Paper
from digest.rank.calibration import MIN_CALIBRATION, calibrated
from digest.rank.learning import no_convergence_warnings, phrase_model, svm_ready
from digest.rank.phrases import Matcher
from digest.rank.records import Candidate
from digest.rank.text import Bm25, document, lemmas, padded, stem, stems

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

LEARNING_THREADS = 4  # at most, and no more than the machine's cores


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
class Texts:
    """Per-candidate word forms, computed once per ranking run."""

    titles: list[str]
    bodies: list[str]
    words: list[frozenset[str]]
    authors: list[frozenset[str]]
    papers: Sequence[Paper]
    folded_titles: list[str]  # lower-cased, for phrases.spans' quick check
    folded_abstracts: list[str]
    # (paper, phrase) -> the words the phrase stood in when they were others ("MLLMs")
    written: dict[tuple[int, str], str]

    @classmethod
    def of(cls, papers: Sequence[Paper]) -> Texts:
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
            written={},
        )

    def phrase_hits(
        self, phrases: Sequence[str], matcher: Matcher
    ) -> tuple[np.ndarray, np.ndarray]:
        """papers × phrases: whether the phrase stands in the title, and how often in the
        abstract (digest.rank.phrases: its words together, never scattered; or its
        abbreviation or expansion, whose words are kept in `written` for the claim)."""
        in_title = np.zeros((len(self.papers), len(phrases)), dtype=bool)
        in_abstract = np.zeros((len(self.papers), len(phrases)), dtype=np.int64)
        for j, phrase in enumerate(phrases):
            for i, paper in enumerate(self.papers):
                title = matcher.find(phrase, paper.title, self.folded_titles[i])
                found = matcher.find(phrase, paper.abstract, self.folded_abstracts[i])
                in_title[i, j] = bool(title.spans)
                in_abstract[i, j] = len(found.spans)
                if written := title.written or found.written:
                    self.written[i, phrase] = written
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


class Corpus:
    """The candidates and the store's papers of one ranking run, indexed once: BM25 and
    tf-idf over both, each phrase calibrated on the store, per-phrase models learned from it."""

    def __init__(
        self,
        papers: Sequence[Paper | Candidate],
        store: Sequence[str] = (),
        abbreviations: Abbreviations | None = None,
    ) -> None:
        self.matcher = Matcher(abbreviations)
        self.candidates = tuple(p if isinstance(p, Candidate) else Candidate(p) for p in papers)
        self.items = [c.paper for c in self.candidates]
        self.texts = Texts.of(self.items)
        # Scoring works on stems (wide recall); honesty (what matched) on lemmas, in Texts.
        corpus_terms = [stems(text) for text in store]
        self.documents = [document(p) for p in self.items]
        candidate_terms = [stems(text) for text in self.documents]
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

    @property
    def background(self) -> csr_matrix:
        """What "ordinary" is measured on: the store's papers, else the candidates."""
        return self.corpus_matrix if self.corpus_matrix is not None else self.matrix

    def rarity(self, word: str) -> float:
        """How rare a word (a lemma) is in the store: its stem's idf (cached per word)."""
        found = self._rarity.get(word)
        if found is None:
            found = self._rarity[word] = self.idf.get(stem(word), 1.0)
        return found

    def stems_of(self, paper: Paper) -> list[str]:
        """A reader's example paper as stems (cached: many readers tap the same papers)."""
        if paper.key not in self._example_stems:
            self._example_stems[paper.key] = stems(document(paper))
        return self._example_stems[paper.key]

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
        papers are embedded once per corpus, each phrase once."""
        from digest.rank import semantic

        if self._paper_embeddings is None and self.documents and phrases:
            self._paper_embeddings = semantic.embed(self.documents)
        if self._paper_embeddings is None or not phrases:
            return None
        missing = [p for p in dict.fromkeys(phrases) if p not in self._phrase_embeddings]
        if missing:
            found = semantic.embed(missing)
            assert found is not None
            self._phrase_embeddings.update(zip(missing, found, strict=True))
        queries = np.stack([self._phrase_embeddings[p] for p in phrases])
        return semantic.similarity_z(self._paper_embeddings, queries)

    def learned(self, phrases: Sequence[str]) -> np.ndarray:
        """papers × phrases: what each phrase is about, learned from the store
        (learning.phrase_model). It finds on-topic papers in other words; cached per phrase."""
        assert self.corpus_matrix is not None
        missing = [p for p in dict.fromkeys(phrases) if p not in self._learned_cache]
        if missing:
            # liblinear lets go of the interpreter while it trains: phrases learn side by side.
            workers = min(len(missing), LEARNING_THREADS, os.cpu_count() or 1)
            with no_convergence_warnings(), ThreadPoolExecutor(workers) as pool:
                learn = functools.partial(self._learn, self._svm_corpus)
                learned = pool.map(learn, missing)
                self._learned_cache.update(zip(missing, learned, strict=True))
        return np.stack([self._learned_cache[p] for p in phrases], axis=1)

    @functools.cached_property
    def _svm_corpus(self) -> csr_matrix:
        """The store's papers as the phrases' SVMs fit on them, prepared once per corpus."""
        assert self.corpus_matrix is not None
        return svm_ready(self.corpus_matrix)

    def _learn(self, store: csr_matrix, phrase: str) -> np.ndarray:
        """One phrase's SVM scores of the candidates (see learned)."""
        scores = self.bm25.scores(phrase)[: self.n_corpus]
        return phrase_model(store, self.matrix, scores)
