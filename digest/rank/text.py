"""Text for ranking: a paper's words as stems (for scoring) and as lemmas (for telling a reader
what matched), BM25 over the store's statistics, and the sentence that shows why a paper
matched.

Stems widen recall ("generalization" → "general"), so scores use them. What a reader is told
matched uses lemmas, the dictionary form and nothing further (simplemma: "networks" →
"network", "learning" → "learn"), so different words never collide the way stems do ("general",
"generality" and "generalization" stay three words).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from digest.models import Paper

# bm25s logs each index it builds at DEBUG level.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Words too common to carry meaning (bm25s's English list: articles, prepositions, auxiliaries).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PLURAL_ACRONYM = re.compile(r"^[A-Z0-9]{2,}s$")  # LLMs, GNNs: the dictionary does not know them
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
EVIDENCE_CHARS = 320


@functools.cache
def stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@functools.lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """A word's dictionary form, lower-cased."""
    if _PLURAL_ACRONYM.match(word):
        return word[:-1].lower()
    import simplemma

    return str(simplemma.lemmatize(word.lower(), lang="en")).lower()


def words(text: str) -> list[str]:
    """The text's words, as written."""
    return _WORD.findall(text)


def lemmas(text: str) -> list[str]:
    """The text's words as lemmas, stop words left out."""
    stop = stop_words()
    return [lemma(w) for w in _WORD.findall(text) if w.lower() not in stop]


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def acronym_singular(word: str) -> str:
    """An acronym's plural folded ("LLMs" -> "LLM", "GNNs" -> "GNN"): Snowball leaves "llms"
    and "llm" apart (research/README.md: BM25 nDCG on panel 2 0.683 -> 0.692 folded)."""
    if len(word) > 2 and word.endswith("s") and word[-2].isupper():
        return word[:-1]
    return word


def stem(word: str) -> str:
    """One word's Snowball stem."""
    return str(_stemmer().stemWord(acronym_singular(word).lower()))


def stems(text: str) -> list[str]:
    """The text's words as Snowball stems ("generalization" → "general"; an acronym's plural
    folded first), stop words left out: wide recall for scoring, never for telling a reader
    what matched."""
    stop = stop_words()
    words = [acronym_singular(w).lower() for w in _WORD.findall(text)]
    return list(_stemmer().stemWords([w for w in words if w not in stop]))


def document(paper: Paper) -> str:
    """The text a paper is ranked by; the title counts twice."""
    return f"{paper.title}. {paper.title}. {paper.abstract}"


def padded(words: Sequence[str]) -> str:
    """Lemmas as one string with a space on each side: `" a b " in padded(...)` finds a run."""
    return f" {' '.join(words)} "


def bm25s_module() -> Any:
    """bm25s, imported with its logger following the application's level: on import it sets
    its own to DEBUG, which put "DEBUG bm25s: Building index" lines in an INFO log."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class Bm25:
    """BM25 (bm25s) over Snowball stems of the store's recent papers and today's candidates
    together: document frequencies and lengths come from everything the store has seen, scores
    are read for any subset. Stems widen recall for scoring; what a reader is told matched is
    decided on lemmas (ranker). Queries are scored one distinct phrase at a time, cached."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self._index: Any = bm25s_module().BM25(k1=1.2, b=0.75)
        self.size = len(documents)
        self.empty = not any(documents)
        if not self.empty:
            # bm25s wants at least one token per document; an empty one gets a placeholder.
            self._index.index([list(d) or [""] for d in documents], show_progress=False)
        self._cache: dict[str, np.ndarray] = {}

    def scores(self, phrase: str) -> np.ndarray:
        """The phrase's BM25 score in every indexed document (float64)."""
        cached = self._cache.get(phrase)
        if cached is not None:
            return cached
        known = [] if self.empty else [t for t in stems(phrase) if t in self._index.vocab_dict]
        found = (
            np.asarray(self._index.get_scores(known), dtype=np.float64)
            if known
            else np.zeros(self.size, dtype=np.float64)
        )
        self._cache[phrase] = found
        return found


@dataclass(frozen=True, slots=True)
class Evidence:
    """The sentence that shows why a paper was picked, and which of its characters to
    emphasise (start, end) — the reader's own words as the paper writes them."""

    sentence: str
    highlights: tuple[tuple[int, int], ...] = ()


def sentences(paper: Paper) -> list[tuple[str, frozenset[str]]]:
    """The abstract's sentences, then the title, each with its lemmas."""
    found = [s for s in _SENTENCE_END.split(" ".join(paper.abstract.split())) if s]
    return [(s, frozenset(lemmas(s))) for s in [*found, paper.title]]


def evidence(
    candidates: Sequence[tuple[str, frozenset[str]]],
    wanted: frozenset[str],
    rarity: Callable[[str], float],
) -> Evidence | None:
    """Of a paper's `sentences`, the one that holds the most of `wanted` lemmas, weighted by
    rarity, with those words marked; None when no sentence holds any."""
    if not wanted:
        return None
    best: tuple[float, str] | None = None
    for sentence, words in candidates:
        found = words & wanted
        value = sum(rarity(w) for w in found)
        if found and (best is None or value > best[0]):
            best = (value, sentence)
    if best is None:
        return None
    sentence = _trimmed(best[1], wanted)
    marks = tuple(
        (m.start(), m.end()) for m in _WORD.finditer(sentence) if lemma(m.group()) in wanted
    )
    return Evidence(sentence, marks)


def _trimmed(sentence: str, wanted: frozenset[str]) -> str:
    """A long sentence cut to about EVIDENCE_CHARS around its first matched word."""
    if len(sentence) <= EVIDENCE_CHARS:
        return sentence
    first = next((m.start() for m in _WORD.finditer(sentence) if lemma(m.group()) in wanted), 0)
    start = max(0, first - EVIDENCE_CHARS // 3)
    if start:
        start = sentence.find(" ", start) + 1 or start
    end = start + EVIDENCE_CHARS
    cut = sentence[start:end]
    if end < len(sentence):
        cut = cut.rsplit(" ", 1)[0] + " …"
    return ("… " if start else "") + cut
