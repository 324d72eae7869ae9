"""Item 1, quality: per panel, the AUC (grade 2 vs grade 0, per reader, pooled over the days) and
nDCG@10 (graded gains, per reader-day, judge-style macro) of each signal: the judge's BM25, the
model's cosine, and two hybrids (BM25 z-score + cosine z-score, standardised over the day's
papers or over the store's). And on arXiv days, the KEYWORD_TOPICS readers of digest eval.

    python -m research.quality MODEL... > research/results/quality.txt
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from research import data
from research.common import Bm25, DayEvidence, auc, mean, ndcg, panel_evidence
from research.encoders import encode
from research.topics import keyword_topics


def z(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    sd = float(ref.std())
    return (x - float(ref.mean())) / (sd if sd > 0 else 1.0)


SIGNALS: dict[str, Callable[[DayEvidence], np.ndarray]] = {
    "BM25 (judge)": lambda e: e.bm25_day,
    "cosine": lambda e: e.cos,
    "hybrid, z over day": lambda e: z(e.bm25_day, e.bm25_day) + z(e.cos, e.cos),
    "hybrid, z over store": lambda e: z(e.bm25, e.bm25_bg) + z(e.cos, e.cos_bg),
}


def panel_figures(panel: str, model: str, signal: Callable[[DayEvidence], np.ndarray]
                  ) -> tuple[float, float, dict[str, tuple[float, float]]]:
    ev = panel_evidence(panel, model)
    per: dict[str, tuple[float, float]] = {}
    for reader, days in ev.items():
        pos, neg, nd = [], [], []
        for e in days:
            s = signal(e)
            pos += list(s[e.grades == 2])
            neg += list(s[e.grades == 0])
            if e.grades.any():
                order = np.argsort(-s, kind="stable")[:10]
                nd.append(ndcg(list(e.grades[order]), list(e.grades)))
        per[reader] = (auc(pos, neg) or float("nan"), mean(nd))
    return mean([a for a, _ in per.values()]), mean([n for _, n in per.values()]), per


ARXIV_EVERY = 3  # every third arXiv day (6, 9, ...): 18 days, ~2,800 new papers


def arxiv_figures(model: str | None, topics: dict[str, tuple[str, ...]], every: int = ARXIV_EVERY,
                  hybrid: bool = False) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Macro nDCG@10 (binary, topic in categories) and AUC over topics, days after the first 5
    (digest eval's HISTORY_DAYS), every `every`-th day. model None = BM25 over the day."""
    days = [d for d in data.arxiv_days()[5:] if d.new][::every]
    per: dict[str, tuple[list[float], list[float]]] = {t: ([], []) for t in topics}
    for d in days:
        texts = [f"{x.title}. {x.title}. {x.abstract}" for x in d.new]
        index = Bm25(texts)
        vecs = encode(model, [x.text for x in d.new]) if model else None
        for t, phrases in topics.items():
            rel = np.array([t in d.categories[x.id] for x in d.new])
            if not rel.any():
                continue
            b = index.scores(" ".join(phrases))
            if vecs is None:
                s = b
            else:
                q = encode(model, list(phrases), "query")
                c = (vecs @ q.T).max(axis=1)
                s = z(b, b) + z(c, c) if hybrid else c
            order = np.argsort(-s, kind="stable")[:10]
            per[t][0].append(ndcg(list(rel[order].astype(float)), list(rel.astype(float))) or 0)
            per[t][1].append(auc(list(s[rel]), list(s[~rel])) or float("nan"))
    res = {t: (mean(n), mean(a)) for t, (n, a) in per.items()}
    return mean([n for n, _ in res.values()]), mean([a for _, a in res.values()]), res


def main() -> None:
    models = [m for m in sys.argv[1:] if not m.startswith("--")]
    panels = () if "--arxiv-only" in sys.argv else ("panel", "panel2")
    for panel in panels:
        print(f"## {panel}: mean over readers of AUC(2 vs 0) | nDCG@10 per reader-day")
        base = panel_figures(panel, models[0], SIGNALS["BM25 (judge)"])
        print(f"  BM25 (judge)                         AUC {base[0]:.3f}  nDCG@10 {base[1]:.3f}")
        for model in models:
            for name, sig in list(SIGNALS.items())[1:]:
                a, n, per = panel_figures(panel, model, sig)
                detail = " ".join(f"{r}:{x:.2f}/{y:.2f}" for r, (x, y) in per.items())
                print(f"  {model:14} {name:22} AUC {a:.3f}  nDCG@10 {n:.3f}   [{detail}]",
                      flush=True)
        print("   per reader BM25: " + " ".join(f"{r}:{x:.2f}/{y:.2f}"
                                              for r, (x, y) in base[2].items()))
    topics = keyword_topics()
    print("## arXiv, KEYWORD_TOPICS (digest eval), every 3rd day from the 6th: macro nDCG@10 | AUC")
    n, a, per = arxiv_figures(None, topics)
    print(f"  BM25 (day)                             nDCG@10 {n:.3f}  AUC {a:.3f}")
    for model in models:
        for hybrid in (False, True):
            n, a, per = arxiv_figures(model, topics, hybrid=hybrid)
            name = "hybrid, z over day" if hybrid else "cosine"
            detail = " ".join(f"{t}:{x:.2f}" for t, (x, _) in per.items())
            print(f"  {model:14} {name:22} nDCG@10 {n:.3f}  AUC {a:.3f}   [{detail}]",
                  flush=True)


if __name__ == "__main__":
    main()
