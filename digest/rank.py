"""Rank stage: (candidate papers, subscriber profiles) → each subscriber's picks, with reasons.

Vectorised over every subscriber at once:

- one tf-idf model (stemmed unigrams + bigrams, idf from the store's recent papers plus today's
  candidates) turns papers and every distinct interest phrase into vectors; one sparse product
  scores every phrase against every paper, one more spreads that over the subscribers;
- exact (stemmed, whole-word) phrase hits add a bonus, exclusions veto, followed authors boost;
- liked papers train a linear SVM per subscriber over the same features (as arxiv-sanity does);
- popularity, upvote movement and freshness are blended in with weights from the settings;
- MMR picks the final list for all subscribers in lock-step, so near-duplicates do not fill it.

Ties break by upvotes, then listing order, so the same input always gives the same picks.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from digest.identity import normalise_title
from digest.models import Paper, Pick

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

# How much an exact phrase occurrence adds on top of the tf-idf cosine, by where it occurs.
TITLE_PHRASE_BONUS = 0.35
ABSTRACT_PHRASE_BONUS = 0.15
# A phrase counts as a reason (and makes a paper eligible) when its contribution reaches this.
REASON_THRESHOLD = 0.08
# Liked papers are a reason for a candidate whose (squashed) SVM score passes this.
SEED_REASON_THRESHOLD = 0.6
# SVM regularisation for liked papers (few, precise) and phrase classifiers (pseudo-labels).
SEED_C = 0.01
PHRASE_C = 0.1
# Self-training: the background papers most like the liked ones that join them as positives.
SELF_TRAINING_POSITIVES = 30
# Phrase classifiers: how many of the store's papers most similar to a phrase are taken as
# its positive examples, and the (0..1 squashed) score above which a paper is "about" it.
PSEUDO_POSITIVES = 10
LEARNED_REASON_THRESHOLD = 0.6
LEARNED_SCALE = 4.0
# MMR looks this many times `max_items` deep into each subscriber's ranking.
SHORTLIST_FACTOR = 4

_TOKEN = re.compile(r"(?u)\b\w[\w\-]*\w\b|\b\w\b")


@dataclass(frozen=True, slots=True)
class Interest:
    """An interest phrase and how much it counts relative to the subscriber's others."""

    phrase: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    """What one reader wants."""

    interests: tuple[str | Interest, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 10
    authors: tuple[str, ...] = ()
    liked: tuple[Paper, ...] = ()
    min_score: float = 0.0
    # Store ids of papers this reader must not get again (already sent).
    skip_ids: frozenset[int] = frozenset()

    def weighted_interests(self) -> tuple[Interest, ...]:
        return tuple(i if isinstance(i, Interest) else Interest(i) for i in self.interests)


@dataclass(frozen=True, slots=True)
class Weights:
    """How the signals blend into one score (settings: [ranking])."""

    relevance: float = 1.0
    # Phrase classifiers learned from the store (see Ranker._learned); 0 turns them off.
    learned: float = 1.0
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


# -- text ------------------------------------------------------------------------------------


@functools.cache
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@functools.cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


_STEMS: dict[str, str] = {}


def stems(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words, each reduced by the Snowball stemmer
    (cached per word: a day's papers share most of their words)."""
    stop = _stop_words()
    out = []
    for token in _TOKEN.findall(text.lower()):
        if token in stop:
            continue
        stem = _STEMS.get(token)
        if stem is None:
            stem = _STEMS[token] = _stemmer().stemWord(token)
        out.append(stem)
    return out


def _terms(text: str) -> list[str]:
    """Analyzer: stemmed unigrams plus bigrams of neighbouring kept words."""
    words = stems(text)
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def document(paper: Paper) -> str:
    """The text a paper is ranked by; the title counts twice."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


def _vectorizer() -> TfidfVectorizer:
    # Imported here: scikit-learn costs ~0.7 s to import, which every CLI command would pay.
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=_terms, sublinear_tf=True, dtype=np.float32)


class TextModel:
    """tf-idf over stemmed 1-2 grams; idf from a corpus (the store) plus the candidates."""

    def __init__(self) -> None:
        self._vectorizer = _vectorizer()
        self.empty = False

    def fit_transform(self, corpus: Sequence[str]) -> csr_matrix:
        """Learn idf from `corpus` and return its vectors (one analysis pass, not two)."""
        from scipy.sparse import csr_matrix

        try:
            matrix: csr_matrix = self._vectorizer.fit_transform(corpus).tocsr()
        except ValueError:  # no document had a single content word
            self.empty = True
            return csr_matrix((len(corpus), 1), dtype=np.float32)
        return matrix

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        from scipy.sparse import csr_matrix

        if self.empty:
            return csr_matrix((len(texts), 1), dtype=np.float32)
        return self._vectorizer.transform(texts)


def _padded(words: Sequence[str]) -> str:
    return f" {' '.join(words)} "


def _phrase_hits(needles: Sequence[str], haystacks: Sequence[str]) -> np.ndarray:
    """hits[i, j]: needle j occurs in haystack i as whole (stemmed) words."""
    hits = np.zeros((len(haystacks), len(needles)), dtype=bool)
    for j, needle in enumerate(needles):
        if needle.strip():
            hits[:, j] = [needle in hay for hay in haystacks]
    return hits


@dataclass(slots=True)
class _Texts:
    """Per-candidate text forms, computed once per ranking run."""

    titles: list[str]
    bodies: list[str]
    folded_titles: list[str]
    folded_bodies: list[str]
    authors: list[frozenset[str]]

    @classmethod
    def of(cls, papers: Sequence[Paper]) -> _Texts:
        return cls(
            titles=[_padded(stems(p.title)) for p in papers],
            bodies=[_padded(stems(p.abstract)) for p in papers],
            folded_titles=[f" {normalise_title(p.title)} " for p in papers],
            folded_bodies=[f" {normalise_title(p.abstract)} " for p in papers],
            authors=[frozenset(normalise_title(a) for a in p.authors) for p in papers],
        )

    def hits(self, phrases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(in title, in abstract) for each phrase; stop-word-only phrases match literally."""
        stemmed = [_padded(stems(p)) for p in phrases]
        literal = [
            f" {normalise_title(p)} " if not s.strip() else ""
            for p, s in zip(phrases, stemmed, strict=True)
        ]
        in_title = _phrase_hits(stemmed, self.titles) | _phrase_hits(literal, self.folded_titles)
        in_body = _phrase_hits(stemmed, self.bodies) | _phrase_hits(literal, self.folded_bodies)
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
        return np.ones(len(candidates), dtype=np.float32)
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
    decay: np.ndarray = np.power(0.5, np.asarray(ages, dtype=np.float32) / half_life)
    return decay


def _fit_svm(features: csr_matrix, labels: np.ndarray, c: float) -> Any:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=c, class_weight="balanced", max_iter=2000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return svm.fit(features, labels)


def _standard_squash(svm: Any, background: csr_matrix, papers: csr_matrix) -> np.ndarray:
    """SVM scores in standard deviations above the background's own, squashed into 0..1, so
    that every classifier speaks on the same scale (0.5 = the store's average paper)."""
    known = svm.decision_function(background)
    spread = float(known.std()) or 1.0
    standard = (svm.decision_function(papers) - float(known.mean())) / spread
    squashed: np.ndarray = (0.5 + 0.5 * np.tanh(standard / LEARNED_SCALE)).astype(np.float32)
    return squashed


def _seed_scores(
    profile: Profile,
    model: TextModel,
    papers: csr_matrix,
    corpus: csr_matrix | None,
    corpus_texts: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """(score in 0..1, index of the most similar liked paper) per candidate.

    A linear SVM with the liked papers as positives and every other known paper as negatives
    (the store's recent papers, else the candidates themselves), as arxiv-sanity-lite does,
    then one round of self-training: the background papers it scores highest join the
    positives, which widens ten liked papers into a topic."""
    from scipy.sparse import vstack

    liked_documents = [document(p) for p in profile.liked]
    liked = model.transform(liked_documents)
    nearest = (papers @ liked.T).toarray().argmax(axis=1)
    background = corpus if corpus is not None and corpus.shape[0] > 0 else papers
    if corpus is not None and corpus_texts:
        # The liked papers are positives, not part of the background they are measured against.
        wanted = set(liked_documents)
        keep = np.array([text not in wanted for text in corpus_texts])
        if keep.sum() >= 2:
            background = corpus[keep]
    features = vstack([liked, background])
    labels = np.r_[np.ones(liked.shape[0]), np.zeros(background.shape[0])]
    svm = _fit_svm(features, labels, SEED_C)
    if background.shape[0] > 2 * SELF_TRAINING_POSITIVES:
        scores = svm.decision_function(background)
        labels[liked.shape[0] + np.argsort(-scores, kind="stable")[:SELF_TRAINING_POSITIVES]] = 1
        svm = _fit_svm(features, labels, SEED_C)
    return _standard_squash(svm, background, papers), nearest


# -- ranking ---------------------------------------------------------------------------------


class Ranker:
    """One ranking run: the candidates, their vectors and the corpus model, built once and then
    used for any number of profiles (`digest send` ranks every subscriber in one call)."""

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
        documents = [document(p) for p in self.items]
        self.model = TextModel()
        both = self.model.fit_transform([*corpus, *documents])
        self.matrix = both[len(corpus) :]
        self.corpus_texts = tuple(corpus)
        self.corpus_matrix = both[: len(corpus)] if corpus else None
        self._learned_cache: dict[str, np.ndarray] = {}

    def learn(self, phrases: Sequence[str]) -> None:
        """Train the phrase classifiers now (they are cached; `rank` would train any missing)."""
        self._learned(phrases)

    def _learned(self, phrases: Sequence[str]) -> np.ndarray:
        """What each phrase is about, learned from the store: per phrase, a linear SVM trained
        with the PSEUDO_POSITIVES corpus papers most similar to the phrase as positives and the
        rest of the corpus as negatives, applied to the candidates and squashed to 0..1
        (0.5 = on the boundary). It finds on-topic papers that never use the phrase's words.
        Cached per phrase: a phrase shared by many subscribers is learned once."""
        background = self.corpus_matrix
        if background is None or background.shape[0] < 2 * PSEUDO_POSITIVES:
            background = self.matrix  # no history: learn from the candidates themselves
        missing = [p for p in phrases if p not in self._learned_cache]
        if missing:
            similarity = (background @ self.model.transform(missing).T).toarray()
            for j, phrase in enumerate(missing):
                column = similarity[:, j]
                top = np.argsort(-column, kind="stable")[:PSEUDO_POSITIVES]
                top = top[column[top] > 0]
                if len(top) < 2 or len(top) == background.shape[0]:
                    self._learned_cache[phrase] = np.zeros(len(self.items), dtype=np.float32)
                    continue
                labels = np.zeros(background.shape[0])
                labels[top] = 1
                svm = _fit_svm(background, labels, PHRASE_C)
                self._learned_cache[phrase] = _standard_squash(svm, background, self.matrix)
        if not phrases:
            return np.zeros((len(self.items), 0), dtype=np.float32)
        return np.stack([self._learned_cache[p] for p in phrases], axis=1)

    def rank(self, profiles: Sequence[Profile]) -> list[list[Pick]]:
        """For each profile, its best papers (at most `max_items`), best first."""
        if not self.candidates or not profiles:
            return [[] for _ in profiles]
        items, texts, model, matrix = self.items, self.texts, self.model, self.matrix
        candidates, weights, corpus_matrix = self.candidates, self.weights, self.corpus_matrix
        n_papers, n_profiles = len(items), len(profiles)

        # Interest relevance: distinct phrases × papers, then spread over subscribers by weight.
        interests = [p.weighted_interests() for p in profiles]
        phrases = _index([i.phrase for group in interests for i in group])
        phrase_list = list(phrases)
        per_phrase = np.zeros((n_papers, len(phrases)), dtype=np.float32)
        if phrases:
            per_phrase = (matrix @ model.transform(phrase_list).T).toarray()
            in_title, in_body = texts.hits(phrase_list)
            per_phrase += np.where(
                in_title, TITLE_PHRASE_BONUS, np.where(in_body, ABSTRACT_PHRASE_BONUS, 0)
            )
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for s, group in enumerate(interests):
            total = sum(i.weight for i in group)
            for interest in group:
                rows.append(s)
                cols.append(phrases[interest.phrase])
                vals.append(interest.weight / max(total, 1.0))
        spread = csr_matrix(
            (vals, (rows, cols)), shape=(n_profiles, max(len(phrases), 1)), dtype=np.float32
        )
        learned = self._learned(phrase_list) if phrases and weights.learned else None
        topical = per_phrase if learned is None else per_phrase + weights.learned * learned
        relevance = (
            np.asarray(spread[:, : per_phrase.shape[1]] @ topical.T)
            if phrases
            else np.zeros((n_profiles, n_papers), np.float32)
        )

        # Exclusions veto; followed authors boost.
        exclusions = [p.exclude for p in profiles]
        terms = _index([t for group in exclusions for t in group])
        in_title, in_body = texts.hits(list(terms))
        excluded = _any_per_profile(in_title | in_body, terms, exclusions)
        authors = [tuple(normalise_title(a) for a in p.authors) for p in profiles]
        names = _index([a for group in authors for a in group])
        by_name = np.array(
            [[name in written for name in names] for written in texts.authors], dtype=bool
        ).reshape(n_papers, len(names))
        followed = _any_per_profile(by_name, names, authors)

        # Liked papers: one SVM per subscriber who has any (the one non-vectorised step).
        seed = np.zeros((n_profiles, n_papers), dtype=np.float32)
        nearest_liked = np.zeros((n_profiles, n_papers), dtype=np.int64)
        for s, profile in enumerate(profiles):
            if profile.liked:
                seed[s], nearest_liked[s] = _seed_scores(
                    profile, model, matrix, corpus_matrix, self.corpus_texts
                )

        upvotes = np.array([p.upvotes or 0 for p in items], dtype=np.float32)
        deltas = np.array([c.upvote_delta for c in candidates], dtype=np.float32)
        shared = (
            weights.popularity * _scaled_log(upvotes)
            + weights.trending * _scaled_log(deltas)
            + weights.freshness * _freshness(candidates, self.now, weights.freshness_half_life_days)
        )
        scores = (
            weights.relevance * relevance
            + weights.seed * seed
            + weights.authors * followed
            + shared[None, :]
        ).astype(np.float32)

        has_interest = np.array([bool(g) for g in interests])
        has_liked = np.array([bool(p.liked) for p in profiles])
        has_authors = np.array([bool(p.authors) for p in profiles])
        targeted = has_interest | has_liked | has_authors
        # A targeted subscriber only gets papers with a reason: phrase, liked paper or author.
        phrase_hit = np.zeros((n_profiles, n_papers), dtype=bool)
        if phrases:
            pattern = spread.copy()
            pattern.data[:] = 1
            strong = per_phrase >= REASON_THRESHOLD
            if learned is not None:
                strong |= learned > LEARNED_REASON_THRESHOLD
            strong = strong.astype(np.float32)
            phrase_hit = np.asarray(pattern @ strong.T) > 0
        relevant = phrase_hit | (has_liked[:, None] & (seed >= SEED_REASON_THRESHOLD)) | followed
        eligible = np.where(targeted[:, None], relevant, True) & ~excluded
        ids = np.array([-1 if c.paper_id is None else c.paper_id for c in candidates])
        for s, profile in enumerate(profiles):
            if profile.skip_ids:
                eligible[s] &= ~np.isin(ids, list(profile.skip_ids))
        eligible &= scores >= np.array([p.min_score for p in profiles], dtype=np.float32)[:, None]

        chosen = _mmr(
            scores, eligible, matrix, [p.max_items for p in profiles], upvotes, weights.diversity
        )
        return [
            [
                Pick(
                    paper=items[col],
                    score=round(float(scores[s, col]), 4),
                    reasons=_reasons(
                        profiles[s],
                        interests[s],
                        phrases,
                        per_phrase[col],
                        None if learned is None else learned[col],
                        candidates[col],
                        followed[s, col],
                        seed[s, col],
                        nearest_liked[s, col],
                    ),
                    paper_id=candidates[col].paper_id,
                )
                for col in chosen[s]
            ]
            for s in range(n_profiles)
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

    `corpus`: texts of earlier papers (the store) for idf statistics and SVM negatives.
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
    """Maximal marginal relevance for all subscribers in lock-step.

    Each subscriber's shortlist is its best SHORTLIST_FACTOR × max_items papers (score, then
    upvotes, then listing order); each step takes, per subscriber, the shortlisted paper with the
    best (1 - diversity) · relevance - diversity · (max cosine to what it already took)."""
    n_profiles, n_papers = scores.shape
    depth = min(n_papers, max(limits) * SHORTLIST_FACTOR)
    masked = np.where(eligible, scores, -np.inf)
    # Order: score desc, then upvotes desc, then listing order. Columns are pre-permuted into
    # tie-break order once, so one stable sort per row gives the full order.
    tie_order = np.lexsort((np.arange(n_papers), -upvotes))
    order = tie_order[np.argsort(-masked[:, tie_order], axis=1, kind="stable")]
    shortlist = order[:, :depth]
    valid = np.take_along_axis(eligible, shortlist, axis=1)
    relevance = np.take_along_axis(scores, shortlist, axis=1)
    top = np.where(valid, relevance, -np.inf).max(axis=1, keepdims=True)
    relevance = np.where(np.isfinite(top) & (top > 0), relevance / np.where(top > 0, top, 1), 0)
    union = np.unique(shortlist[valid]) if valid.any() else np.zeros(0, dtype=np.int64)
    position = np.full(n_papers, -1)
    position[union] = np.arange(len(union))
    similar = (matrix[union] @ matrix[union].T).toarray() if len(union) else np.zeros((0, 0))
    local = position[shortlist]
    closest = np.zeros(shortlist.shape, dtype=np.float32)
    taken = ~valid
    picks: list[list[int]] = [[] for _ in range(n_profiles)]
    rows = np.arange(n_profiles)
    for step in range(max(limits)):
        value = (1 - diversity) * relevance - diversity * closest
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


def _reasons(
    profile: Profile,
    interests: Sequence[Interest],
    phrases: dict[str, int],
    per_phrase: np.ndarray,
    learned: np.ndarray | None,
    candidate: Candidate,
    followed: bool,
    seed_score: float,
    nearest_liked: int,
) -> tuple[str, ...]:
    reasons = []
    matched = sorted(
        (i for i in interests if per_phrase[phrases[i.phrase]] >= REASON_THRESHOLD),
        key=lambda i: -per_phrase[phrases[i.phrase]] * i.weight,
    )
    if matched:
        reasons.append(f"matches: {', '.join(dict.fromkeys(i.phrase for i in matched))}")
    elif learned is not None:
        about = sorted(
            (i for i in interests if learned[phrases[i.phrase]] > LEARNED_REASON_THRESHOLD),
            key=lambda i: -learned[phrases[i.phrase]] * i.weight,
        )
        if about:
            reasons.append(f"about: {', '.join(dict.fromkeys(i.phrase for i in about))}")
    if profile.liked and seed_score >= SEED_REASON_THRESHOLD:
        reasons.append(f"like: {profile.liked[nearest_liked].title}")
    if followed:
        wanted = {normalise_title(a) for a in profile.authors}
        names = [a for a in candidate.paper.authors if normalise_title(a) in wanted]
        reasons.append(f"by {', '.join(names)}")
    paper = candidate.paper
    if paper.upvotes:
        popular = f"{paper.upvotes} upvote{'s' if paper.upvotes != 1 else ''}"
        if candidate.upvote_delta > 0:
            popular += f" (+{candidate.upvote_delta} since the last listing)"
        reasons.append(popular)
    if not reasons:
        reasons.append("new in this listing")
    return tuple(reasons)
