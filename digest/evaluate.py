"""`digest eval`: ranking quality on real arXiv days, next to baselines computed in the same run.

Protocol (corpora/README.md): the days are ingested in order through the real differ into a
scratch store; each day's new papers are the candidates; a "subscriber" is an arXiv topic,
described either by a few keyword phrases (below) or by 10 liked papers of that topic from the
first days; a paper is relevant when it carries the topic's category. The ranker only ever sees
`Paper` records, which have no categories: the categories are read from the raw files here, for
grading only. Metrics: nDCG@10 and P@10 per topic (mean over days where the topic has at least one
relevant candidate), then macro-averaged over topics.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digest.diff import ingest_paths
from digest.errors import DigestError
from digest.models import Paper, interests
from digest.rank import Profile, Ranker, Weights, document
from digest.store import Store

# Topic → phrases a reader of that arXiv category might write (paraphrasing the category's
# own description). Written once, never tuned to individual papers.
KEYWORD_TOPICS: dict[str, tuple[str, ...]] = {
    "cs.CL": (
        "language models",
        "natural language processing",
        "machine translation",
        "question answering",
        "LLM",
        "text",
    ),
    "cs.LG": (
        "machine learning",
        "deep learning",
        "reinforcement learning",
        "optimization",
        "generalization",
        "training",
    ),
    "eess.IV": (
        "image processing",
        "medical imaging",
        "MRI",
        "image restoration",
        "super-resolution",
        "image compression",
    ),
    "cs.RO": (
        "robot",
        "robotic manipulation",
        "autonomous driving",
        "navigation",
        "motion planning",
        "grasping",
    ),
    "cs.GR": (
        "rendering",
        "3D gaussian splatting",
        "mesh",
        "neural radiance fields",
        "animation",
        "computer graphics",
    ),
    "cs.IR": (
        "information retrieval",
        "recommendation",
        "recommender systems",
        "search engine",
        "retrieval-augmented generation",
        "ranking",
    ),
    "cs.HC": (
        "human-computer interaction",
        "user study",
        "user interface",
        "participants",
        "accessibility",
        "interactive",
    ),
    "cs.CY": ("society", "ethics", "education", "policy", "fairness", "social impact"),
    "cs.CR": (
        "security",
        "privacy",
        "adversarial attacks",
        "jailbreak",
        "backdoor",
        "watermarking",
    ),
    "cs.SD": ("audio", "speech", "music", "sound", "speaker", "text-to-speech"),
}
# A reader who writes a single phrase: each topic's first one.
ONE_PHRASE: dict[str, str] = {topic: phrases[0] for topic, phrases in KEYWORD_TOPICS.items()}
LIKED_PER_TOPIC = 10
HISTORY_DAYS = 5  # liked papers come from these days; evaluation starts after them
CORPUS_LIMIT = 3000  # most recent store papers used for idf and as SVM negatives
K = 10

Scorer = Callable[[Sequence[Paper], str, "Context"], Sequence[Paper]]


@dataclass(frozen=True, slots=True)
class Context:
    """What a method may use on one day: earlier papers' texts and the topic's liked papers."""

    corpus: tuple[str, ...]
    liked: tuple[Paper, ...]
    seed: int
    picks: dict[tuple[str, str], list[Paper]]


@dataclass(frozen=True, slots=True)
class Score:
    method: str
    profile: str  # "keywords", "one phrase" or "liked"
    per_topic: dict[str, tuple[float, float]]  # topic → (nDCG@10, P@10)
    # digest only: precision of the papers an email would show (those that clear a bar), and
    # how many it shows a day on average.
    shown_precision: float | None = None
    shown_per_day: float | None = None
    # digest only: nDCG@10 of what the email shows (an empty email scores 0 on a day with a
    # relevant paper), macro over topics: the figure a reader meets.
    shown_ndcg: float | None = None

    @property
    def ndcg(self) -> float:
        return float(np.mean([v[0] for v in self.per_topic.values()]))

    @property
    def precision(self) -> float:
        return float(np.mean([v[1] for v in self.per_topic.values()]))


def ndcg_at(relevant: Sequence[bool], total_relevant: int, k: int = K) -> float:
    gains = np.asarray(relevant[:k], dtype=float)
    discounts = 1 / np.log2(np.arange(2, len(gains) + 2))
    ideal = (1 / np.log2(np.arange(2, min(k, total_relevant) + 2))).sum()
    return float((gains * discounts).sum() / ideal) if ideal else 0.0


# -- methods ---------------------------------------------------------------------------------


def _digest_keywords(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return ctx.picks[("keywords", topic)]


def _digest_liked(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return ctx.picks[("liked", topic)]


def _digest_one_phrase(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return ctx.picks[("one phrase", topic)]


_DIGEST_METHODS: tuple[Scorer, ...] = (_digest_keywords, _digest_one_phrase, _digest_liked)


def _digest_picks(
    papers: Sequence[Paper], corpus: Sequence[str], liked: dict[str, tuple[Paper, ...]]
) -> dict[tuple[str, str], list[Paper]]:
    """digest's picks for every topic at once, as `digest send` ranks all subscribers together.
    Quality is judged on relevance alone: no popularity, freshness or diversity reshuffling."""
    plain = Weights(popularity=0, trending=0, freshness=0, diversity=0)
    ranker = Ranker(papers, corpus=corpus, weights=plain)
    topics = list(KEYWORD_TOPICS)
    keywords = [Profile(interests(*KEYWORD_TOPICS[t]), max_items=K) for t in topics]
    single = [Profile(interests(ONE_PHRASE[t]), max_items=K) for t in topics]
    likes = [Profile(liked=liked[t], max_items=K) for t in topics]
    picks = {}
    # nDCG judges the ranking itself (the top K whatever they score); "shown" is what an email
    # holds: only the papers that clear a bar.
    for kind, profiles in (("keywords", keywords), ("one phrase", single), ("liked", likes)):
        ranked = ranker.rank(profiles, thresholded=False)
        shown = ranker.rank(profiles)
        for topic, full, kept in zip(topics, ranked, shown, strict=True):
            picks[(kind, topic)] = [p.paper for p in full]
            picks[(f"{kind} shown", topic)] = [p.paper for p in kept]
    return picks


def _random(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    order = np.random.default_rng(ctx.seed).permutation(len(papers))
    return [papers[i] for i in order[:K]]


def _newest(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return sorted(papers, key=lambda p: p.arxiv_id or "", reverse=True)[:K]


def _plain_tfidf(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer()
    matrix = vectorizer.fit_transform([document(p) for p in papers])
    query = vectorizer.transform([" ".join(KEYWORD_TOPICS[topic])])
    scores = (matrix @ query.T).toarray().ravel()
    return [papers[i] for i in np.argsort(-scores, kind="stable")[:K]]


def _bm25(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    """Plain BM25 (bm25s, Snowball-stemmed English, stop words out) over the day's papers, the
    topic's phrases as one query: the baseline the issue names."""
    return _bm25_top(papers, " ".join(KEYWORD_TOPICS[topic]))


def _bm25_one_phrase(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return _bm25_top(papers, ONE_PHRASE[topic])


def _bm25_top(papers: Sequence[Paper], text: str) -> Sequence[Paper]:
    import Stemmer

    from digest.rank.text import bm25s_module

    bm25s = bm25s_module()

    stemmer = Stemmer.Stemmer("english")
    corpus = bm25s.tokenize(
        [document(p) for p in papers], stopwords="en", stemmer=stemmer, show_progress=False
    )
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    query = bm25s.tokenize(text, stopwords="en", stemmer=stemmer, show_progress=False)
    vocabulary = {index: word for word, index in query.vocab.items()}
    words = [vocabulary[i] for i in query.ids[0] if vocabulary[i] in retriever.vocab_dict]
    scores = retriever.get_scores(words) if words else np.zeros(len(papers))
    return [papers[i] for i in np.argsort(-scores, kind="stable")[:K]]


def _arxiv_sanity(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    return svm_top(papers, ctx.liked)


def svm_top(papers: Sequence[Paper], liked: Sequence[Paper], k: int = K) -> list[Paper]:
    """arxiv-sanity-lite's recommender: tf-idf of 1-2 grams, a linear SVM (C=0.01, balanced)
    with the liked papers as positives and the day's candidates as negatives; its top k."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    texts = [document(p) for p in papers]
    positives = [document(p) for p in liked]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000)
    features = vectorizer.fit_transform([*texts, *positives])
    labels = np.r_[np.zeros(len(texts)), np.ones(len(positives))]
    svm = LinearSVC(C=0.01, class_weight="balanced", max_iter=10_000, tol=1e-6)
    svm.fit(features, labels)
    scores = svm.decision_function(features[: len(texts)])
    return [papers[i] for i in np.argsort(-scores, kind="stable")[:k]]


def _centroid(papers: Sequence[Paper], topic: str, ctx: Context) -> Sequence[Paper]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer().fit([*ctx.corpus, *(document(p) for p in papers)])
    liked = np.asarray(vectorizer.transform([document(p) for p in ctx.liked]).mean(axis=0))
    scores = np.asarray(vectorizer.transform([document(p) for p in papers]) @ liked.T).ravel()
    return [papers[i] for i in np.argsort(-scores, kind="stable")[:K]]


METHODS: dict[str, tuple[str, Scorer]] = {
    "random": ("keywords", _random),
    "newest first": ("keywords", _newest),
    "plain tf-idf": ("keywords", _plain_tfidf),
    "BM25 (bm25s)": ("keywords", _bm25),
    "digest (keywords)": ("keywords", _digest_keywords),
    "BM25, one phrase": ("one phrase", _bm25_one_phrase),
    "digest (one phrase)": ("one phrase", _digest_one_phrase),
    "tf-idf centroid of liked": ("liked", _centroid),
    "arxiv-sanity SVM": ("liked", _arxiv_sanity),
    "digest (liked)": ("liked", _digest_liked),
}


# -- the run ---------------------------------------------------------------------------------


def _categories(days: Sequence[Path]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Every paper's categories, and its primary (first) category."""
    categories: dict[str, set[str]] = {}
    primary: dict[str, str] = {}
    for day in days:
        for line in day.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                categories.setdefault(str(record["id"]), set()).update(record["categories"])
                primary.setdefault(str(record["id"]), record["categories"][0])
    return categories, primary


def _liked(pool: Sequence[Paper], topic: str, primary: dict[str, str]) -> tuple[Paper, ...]:
    """A reader of `topic` likes papers whose main subject it is: the first ones in the pool."""
    return tuple(p for p in pool if primary.get(p.arxiv_id or "") == topic)[:LIKED_PER_TOPIC]


def evaluate(
    folder: Path,
    *,
    every: int = 1,
    methods: Sequence[str] = tuple(METHODS),
    progress: Callable[[int, int], None] | None = None,
) -> list[Score]:
    """Run every method over the days in `folder` (every `every`-th day after the history)."""
    days = sorted(folder.glob("*.jsonl"))
    if len(days) <= HISTORY_DAYS:
        raise DigestError(f"{folder}: needs more than {HISTORY_DAYS} days of arXiv JSONL")
    categories, primary = _categories(days)  # for grading only; the ranker never sees these
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    shown: dict[str, list[tuple[int, int]]] = {}  # method → (relevant shown, shown) per day
    shown_ndcg: dict[tuple[str, str], list[float]] = {}  # (method, topic) → per day
    history: list[Paper] = []
    seed_pool: tuple[Paper, ...] = ()
    clock = lambda: dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # noqa: E731
    with (
        tempfile.TemporaryDirectory() as scratch,
        Store.open(Path(scratch) / "eval.sqlite") as store,
    ):
        for number, day in enumerate(days):
            [result] = ingest_paths(store, [day], clock)
            candidates = list(result.new)
            if progress:
                progress(number + 1, len(days))
            if number >= HISTORY_DAYS and candidates and (number - HISTORY_DAYS) % every == 0:
                corpus = tuple(document(p) for p in history[-CORPUS_LIMIT:])
                liked = {topic: _liked(seed_pool, topic, primary) for topic in KEYWORD_TOPICS}
                picks = _digest_picks(candidates, corpus, liked)
                for topic in KEYWORD_TOPICS:
                    relevant = [
                        topic in categories.get(p.arxiv_id or "", set()) for p in candidates
                    ]
                    if not any(relevant):
                        continue
                    ctx = Context(corpus, liked[topic], number, picks)
                    graded = dict(zip((p.key for p in candidates), relevant, strict=True))
                    for name in methods:
                        profile, method = METHODS[name]
                        top = method(candidates, topic, ctx)
                        hits = [graded[p.key] for p in top]
                        results.setdefault((name, topic), []).append(
                            (ndcg_at(hits, sum(relevant)), sum(hits) / K)
                        )
                        if method in _DIGEST_METHODS:
                            kept = [graded[p.key] for p in picks[(f"{profile} shown", topic)]]
                            shown.setdefault(name, []).append((sum(kept), len(kept)))
                            shown_ndcg.setdefault((name, topic), []).append(
                                ndcg_at(kept, sum(relevant))
                            )
            history.extend(candidates)
            if number == HISTORY_DAYS - 1:
                seed_pool = tuple(history)  # liked papers come from the first days only
    scores = []
    for name in methods:
        per_topic = {
            topic: (
                float(np.mean([r[0] for r in results[(name, topic)]])),
                float(np.mean([r[1] for r in results[(name, topic)]])),
            )
            for topic in KEYWORD_TOPICS
            if (name, topic) in results
        }
        days_shown = shown.get(name, [])
        scores.append(
            Score(
                name,
                METHODS[name][0],
                per_topic,
                shown_precision=sum(h for h, _ in days_shown)
                / max(1, sum(n for _, n in days_shown))
                if days_shown
                else None,
                shown_per_day=float(np.mean([n for _, n in days_shown])) if days_shown else None,
                shown_ndcg=float(
                    np.mean([np.mean(v) for (method, _), v in shown_ndcg.items() if method == name])
                )
                if days_shown
                else None,
            )
        )
    return scores


# -- the learning curve ------------------------------------------------------------------------

LEARNING_DAYS = 15


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One day of the learning curve: macro nDCG@10 of the readers who answer their email and
    of their twins who never do (same phrases)."""

    day: str
    learner: float
    twin: float


def _constant(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def learning_curve(
    folder: Path,
    *,
    days: int = LEARNING_DAYS,
    progress: Callable[[int, int], None] | None = None,
) -> list[CurvePoint]:
    """Per topic, a reader with the topic's phrases answers each day's email through the real
    feedback path ("more" for every shown paper of its category, "less" for the others); its
    twin never answers. Both are ranked by the send path (`choose_picks`, a real store); nDCG@10
    is measured on what each email shows."""
    from digest.editions import choose_picks
    from digest.models import Subscriber
    from digest.settings import RankingSettings, Settings

    files = sorted(folder.glob("*.jsonl"))
    if len(files) < HISTORY_DAYS + days:
        raise DigestError(f"{folder}: needs {HISTORY_DAYS + days} days of arXiv JSONL")
    categories, _ = _categories(files)
    topics = list(KEYWORD_TOPICS)
    people = {
        (role, topic): Subscriber(
            email=f"{role}-{topic.replace('.', '-')}@eval.example",
            interests=interests(*KEYWORD_TOPICS[topic]),
        )
        for role in ("learner", "twin")
        for topic in topics
    }
    start = dt.datetime(2025, 1, 1, 6, tzinfo=dt.UTC)
    points: list[CurvePoint] = []
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            database=Path(scratch) / "curve.sqlite",
            window_days=1,
            ranking=RankingSettings(popularity=0, trending=0, freshness=0, diversity=0),
        )
        with Store.open(settings.database) as store:
            for number, day in enumerate(files):
                if len(points) == days:
                    break
                moment = start + dt.timedelta(days=number)
                [result] = ingest_paths(store, [day], _constant(moment))
                if progress:
                    progress(min(number + 1, HISTORY_DAYS + len(points)), HISTORY_DAYS + days)
                if number < HISTORY_DAYS or not result.new:
                    continue  # a weekend's listing brings nothing new: no email that day
                picks = choose_picks(
                    store, settings, list(people.values()), moment + dt.timedelta(hours=1)
                )
                scores: dict[str, list[float]] = {"learner": [], "twin": []}
                for (role, topic), person in people.items():
                    relevant = sum(
                        topic in categories.get(p.arxiv_id or "", set()) for p in result.new
                    )
                    if not relevant:
                        continue
                    shown = picks[person.email]
                    hits = [topic in categories.get(p.paper.arxiv_id or "", set()) for p in shown]
                    scores[role].append(ndcg_at(hits, relevant))
                    if role == "learner":
                        for verdict, wanted in (("more", True), ("less", False)):
                            ids = [
                                p.paper_id
                                for p, hit in zip(shown, hits, strict=True)
                                if hit == wanted and p.paper_id is not None
                            ]
                            if ids:
                                store.readers.record_feedback(person.email, ids, verdict, moment)
                points.append(
                    CurvePoint(
                        day.stem,
                        float(np.mean(scores["learner"] or [0.0])),
                        float(np.mean(scores["twin"] or [0.0])),
                    )
                )
    if len(points) < days:
        raise DigestError(f"{folder}: only {len(points)} days with new papers; needs {days}")
    return points
