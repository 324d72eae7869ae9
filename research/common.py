"""Shared pieces: BM25 as the judge computes it, the judge's F1 / nDCG (digest.panel's), AUC,
and the per-day evidence (BM25 and cosine, raw and standardised) every script reads."""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from digest import panel as _panel
from research import data
from research.encoders import encode

logging.getLogger("bm25s").setLevel(logging.WARNING)

f1 = _panel._f1  # judge.py's F1: silent days score 1, padded ones 0
ndcg = _panel._ndcg  # judge.py's nDCG@10


@functools.cache
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


# Snowball leaves the plural of a vowel-less acronym alone ("LLMs" -> "llms", "LLM" -> "llm"):
# with I31_FOLD=1 such plurals are made singular before BM25 sees them (an experiment).
_ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z0-9]*[A-Z0-9])s\b")


def fold(text: str) -> str:
    return _ACRONYM_PLURAL.sub(r"\1", text) if os.environ.get("I31_FOLD") == "1" else text


class Bm25:
    """bm25s over Snowball stems, English stop words out (judge.py's baseline settings)."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        texts = [fold(t) for t in texts]
        self.n = len(texts)
        self.ret = bm25s.BM25()
        tokens = bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(),
                                show_progress=False)
        self.ret.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        import bm25s

        if not query.strip():
            return np.zeros(self.n)
        query = fold(query)
        q = bm25s.tokenize([query], stopwords="en", stemmer=_stemmer(), show_progress=False)
        vocab = {i: w for w, i in q.vocab.items()}
        words = [vocab[i] for i in q.ids[0] if vocab[i] in self.ret.vocab_dict]
        if not words:
            return np.zeros(self.n)
        return np.asarray(self.ret.get_scores(words), dtype=np.float64)


def auc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    """P(score of a positive > score of a negative), ties count half."""
    if not len(pos) or not len(neg):
        return None
    p = np.asarray(pos)[:, None]
    n = np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def mean(v: Sequence[float | None]) -> float:
    x = [a for a in v if a is not None and not (isinstance(a, float) and math.isnan(a))]
    return float(np.mean(x)) if x else float("nan")


@dataclass
class DayEvidence:
    """One panel day for one reader: the papers, grades, and each signal over the day and over
    the background (the store)."""

    day: str
    ids: list[str]
    grades: np.ndarray
    bm25_day: np.ndarray  # judge's BM25: index of the day's papers only
    bm25: np.ndarray  # BM25 with the store's statistics (background + day indexed)
    bm25_bg: np.ndarray  # the same over the background papers
    cos: np.ndarray  # max cosine over the reader's phrases (or liked papers)
    cos_bg: np.ndarray
    # per phrase (papers x phrases): BM25 of each phrase alone (store statistics), cosine
    bm25_ph: np.ndarray
    bm25_ph_bg: np.ndarray
    cos_ph: np.ndarray
    cos_ph_bg: np.ndarray


def expanded(phrases: Sequence[str]) -> list[str]:
    """With I31_EXPAND=1 (an experiment): each phrase and its variants through the store's
    abbreviations (research.lexical.variants: "vision-language models" + "VLM")."""
    if os.environ.get("I31_EXPAND") != "1":
        return list(phrases)
    from research.lexical import variants

    out: list[str] = []
    for ph in phrases:
        longs, shorts = variants(ph)
        out += [v for v in (*longs, *shorts) if v not in out]
    return out


def reader_query_vectors(model: str, reader: data.Reader, p: data.Panel) -> np.ndarray:
    """The reader's vectors: one per phrase; a reader with no phrases, one per liked paper."""
    if reader.interests:
        return encode(model, expanded(reader.interests), "query")
    liked = [p.docs[i].text for i in reader.liked if i in p.docs]
    return encode(model, liked, "passage")


@functools.cache
def panel_evidence(panel_name: str, model: str) -> dict[str, list[DayEvidence]]:
    """reader -> one DayEvidence per day."""
    p = data.panel(panel_name)
    bg_texts = [d.text for d in p.background]
    bg_vecs = encode(model, bg_texts, "passage")
    out: dict[str, list[DayEvidence]] = {r: [] for r in p.readers}
    qv = {r: reader_query_vectors(model, rd, p) for r, rd in p.readers.items()}
    for day, docs in p.days:
        texts = [d.text for d in docs]
        vecs = encode(model, texts, "passage")
        day_index = Bm25(texts)
        store_index = Bm25(bg_texts + texts)
        nb = len(bg_texts)
        for r, rd in p.readers.items():
            phrases = expanded(rd.interests)
            query = " ".join(phrases)
            both = store_index.scores(query)
            q = qv[r]
            per = (np.stack([store_index.scores(ph) for ph in rd.interests], axis=1)
                   if rd.interests else np.zeros((nb + len(texts), len(q))))
            cos_ph, cos_ph_bg = vecs @ q.T, bg_vecs @ q.T
            out[r].append(DayEvidence(
                day=day,
                ids=[d.id for d in docs],
                grades=np.array([p.grade(day, d.id, r) for d in docs]),
                bm25_day=day_index.scores(query),
                bm25=both[nb:],
                bm25_bg=both[:nb],
                cos=cos_ph.max(axis=1) if len(q) else np.zeros(len(docs)),
                cos_bg=cos_ph_bg.max(axis=1) if len(q) else np.zeros(nb),
                bm25_ph=per[nb:],
                bm25_ph_bg=per[:nb],
                cos_ph=cos_ph,
                cos_ph_bg=cos_ph_bg,
            ))
    return out
