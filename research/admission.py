"""Item 2: an admission bar that transfers. Every rule admits, per reader and day, the papers
whose evidence clears a bar (at most 10, best first); its constants are chosen on one panel
(best judge F1 over a small grid) and the rule is then scored, untouched, on the other panel:
leave one panel out, both directions.

Evidence per paper and reader (research.common.DayEvidence): BM25 of the reader's phrases (with
the store's statistics) and the model's cosine (max over the reader's phrases; for a reader
with only liked papers, max over those), each standardised over the store's papers (the
background: the days before), and whether one of the phrases stands in the paper
(digest.rank.phrases.occurs, digest's honesty rule).

Rules:
- "z over day >= t": z(BM25) + w z(cos), standardised over the day's papers;
- "cos >= c": the raw cosine (an absolute threshold);
- "z over store >= t": z(BM25) + w z(cos), standardised over the store's papers;
- "percentile of store >= q": the same score's percentile among the reader's scores of the
  store's papers (the reader's own distribution, a large background of many days);
- "phrase-z >= t": per phrase, z(BM25 of that phrase) + w z(cosine to it), over the store;
  the best phrase's;
- "... + phrase": a paper in which one of the phrases stands gets `b` added first.

Figures as judge.py computes them (research.common.f1; precision and grade-2 recall macro over
readers of per-day values; BM25's best cut-off in hindsight: top-k or score >= t within the top
10 of the day-only BM25, chosen on the panel it is reported on, as the judge does).

    python -m research.admission MODEL > research/results/admission-MODEL.txt
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from research import data
from research.common import DayEvidence, f1, mean, panel_evidence

THRESHOLDS = [x / 2 for x in range(0, 41)]
MAX_ITEMS = 10


MATCHER = "exact (digest today)"  # a name in research.lexical.MATCHERS


@functools.cache
def phrase_hits(panel: str, matcher: str = "") -> dict[tuple[str, str, str], bool]:
    """(reader, day, paper id) -> one of the reader's phrases stands in the paper."""
    from research.lexical import MATCHERS

    occurs = MATCHERS[matcher or MATCHER]
    p = data.panel(panel)
    out = {}
    for day, docs in p.days:
        for d in docs:
            for name, r in p.readers.items():
                out[(name, day, d.id)] = any(occurs(ph, d.text) for ph in r.interests)
    return out


def z(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    sd = float(ref.std())
    return (x - float(ref.mean())) / (sd if sd > 0 else 1.0)


@dataclass(frozen=True)
class Rule:
    kind: str  # "day-z", "cos", "store-z", "store-pct", "phrase-z"
    w: float  # weight of the cosine against BM25
    b: float  # bonus for a phrase standing in the paper (0 = none)
    bar: float

    def __str__(self) -> str:
        extra = f", phrase bonus {self.b}" if self.b else ""
        return f"{self.kind} >= {self.bar:g} (w_cos {self.w}{extra})"


def scores(rule: Rule, e: DayEvidence, hits: np.ndarray) -> np.ndarray:
    if rule.kind == "day-z":
        s = z(e.bm25_day, e.bm25_day) + rule.w * z(e.cos, e.cos)
    elif rule.kind == "phrase-z":
        s = phrase_z(e, rule.w)
    elif rule.kind == "cos":
        s = e.cos.copy()
    else:
        s = z(e.bm25, e.bm25_bg) + rule.w * z(e.cos, e.cos_bg)
        if rule.kind == "store-pct":
            bg = np.sort(z(e.bm25_bg, e.bm25_bg) + rule.w * z(e.cos_bg, e.cos_bg))
            s = np.searchsorted(bg, s, side="left") / len(bg)
    return s + rule.b * hits


def zcols(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Column-wise z-scores of x against ref (papers x phrases)."""
    sd = ref.std(axis=0)
    return (x - ref.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def phrase_z(e: DayEvidence, w: float) -> np.ndarray:
    """Per phrase: z(BM25 of the phrase) + w z(cosine to the phrase), each over the store;
    the reader's score is the best phrase's."""
    per = zcols(e.bm25_ph, e.bm25_ph_bg) + w * zcols(e.cos_ph, e.cos_ph_bg)
    return per.max(axis=1) if per.shape[1] else np.zeros(len(e.ids))


def shown(rule: Rule, e: DayEvidence, hits: np.ndarray) -> list[str]:
    s = scores(rule, e, hits)
    order = [i for i in np.argsort(-s, kind="stable") if s[i] >= rule.bar][:MAX_ITEMS]
    return [e.ids[i] for i in order]


@dataclass
class Figures:
    f1: float
    precision: float
    recall2: float
    empty_bad: int
    editions: int
    padded: int
    reader_days: int
    per_day_shown: float

    def line(self, baseline: float) -> str:
        return (f"F1 {self.f1:.3f} = {self.f1 / baseline:.2f}x BM25 best {baseline:.3f}; "
                f"precision {self.precision:.2f}; grade-2 recall {self.recall2:.2f}; "
                f"empty with a grade-2 {self.empty_bad}/{self.editions} "
                f"({self.empty_bad / max(self.editions, 1):.0%}); padded silent days "
                f"{self.padded}/{self.reader_days} ({self.padded / max(self.reader_days, 1):.0%}); "
                f"{self.per_day_shown:.1f} shown a reader-day")


def judge(panel: str, model: str, pick: Callable[[str, DayEvidence], list[str]]) -> Figures:
    """judge.py's figures for the lists `pick` shows."""
    return judge_evidence(panel_evidence(panel, model), pick)


def judge_evidence(ev: dict[str, list[DayEvidence]],
                   pick: Callable[[str, DayEvidence], list[str]]) -> Figures:
    """judge.py's figures for the lists `pick` shows, over any reader-days."""
    allf: list[float] = []
    prec: list[float] = []
    rec2: list[float] = []
    empty_bad = editions = padded = n_shown = 0
    for reader, days in ev.items():
        rp: list[float] = []
        rr: list[float] = []
        for e in days:
            s = pick(reader, e)
            n_shown += len(s)
            g = dict(zip(e.ids, e.grades.tolist(), strict=True))
            rel = {i for i, x in g.items() if x >= 1}
            allf.append(f1(s, rel))
            if not rel:
                padded += bool(s)
                continue
            editions += 1
            two = [i for i, x in g.items() if x == 2]
            if not s and two:
                empty_bad += 1
            if s:
                rp.append(sum(g[i] >= 1 for i in s) / len(s))
            if two:
                rr.append(sum(i in s for i in two) / len(two))
        prec.append(mean(rp))
        rec2.append(mean(rr))
    return Figures(mean(allf), mean(prec), mean(rec2), empty_bad, editions, padded, len(allf),
                   n_shown / max(len(allf), 1))


def bm25_best(panel: str, model: str) -> tuple[float, str]:
    """The judge's baseline: the best of top-k (k = 1..10) and score >= t within the top 10."""
    ev = panel_evidence(panel, model)
    best = (-1.0, "")
    for k in range(1, 11):
        v = mean([f1(_top(e, k), _rel(e)) for days in ev.values() for e in days])
        best = max(best, (v, f"top-{k}"))
    for t in THRESHOLDS:
        v = mean([f1([i for i, s in _top10(e) if s >= t and s > 0], _rel(e))
                  for days in ev.values() for e in days])
        best = max(best, (v, f"score >= {t}"))
    return best


def _top10(e: DayEvidence) -> list[tuple[str, float]]:
    order = np.argsort(-e.bm25_day, kind="stable")[:10]
    return [(e.ids[i], float(e.bm25_day[i])) for i in order]


def _top(e: DayEvidence, k: int) -> list[str]:
    return [i for i, _ in _top10(e)[:k]]


def _rel(e: DayEvidence) -> set[str]:
    return {i for i, g in zip(e.ids, e.grades.tolist(), strict=True) if g >= 1}


def picker(panel: str, rule: Rule) -> Callable[[str, DayEvidence], list[str]]:
    hits = phrase_hits(panel, MATCHER)

    def pick(reader: str, e: DayEvidence) -> list[str]:
        h = np.array([hits[(reader, e.day, i)] for i in e.ids], dtype=float)
        return shown(rule, e, h)

    return pick


GRIDS: dict[str, Sequence[float]] = {
    "day-z": [x / 4 for x in range(0, 25)],
    "cos": [x / 100 for x in range(10, 90, 2)],
    "store-z": [x / 4 for x in range(0, 41)],
    "phrase-z": [x / 4 for x in range(0, 41)],
    "store-pct": [0.9, 0.95, 0.97, 0.98, 0.99, 0.993, 0.995, 0.997, 0.998, 0.999, 1.0],
}
WEIGHTS = (0.5, 1.0, 2.0)


def family(kind: str, bonus: bool) -> list[Rule]:
    if kind == "cos":
        return [Rule(kind, 1.0, 0.0, bar) for bar in GRIDS[kind]]
    bonuses: Sequence[float] = (0.0,)
    if bonus:
        bonuses = (0.02, 0.05) if kind == "store-pct" else (1.0, 2.0, 3.0, 100.0)
    return [Rule(kind, w, b, bar)
            for w, b, bar in itertools.product(WEIGHTS, bonuses, GRIDS[kind])]


def tune(panel: str, model: str, rules: list[Rule]) -> tuple[Rule, Figures]:
    scored = [(judge(panel, model, picker(panel, r)), r) for r in rules]
    fig, rule = max(scored, key=lambda x: x[0].f1)
    return rule, fig


def per_reader(panel: str, model: str, rule: Rule) -> str:
    """The rule's figures reader by reader (where empty days and padding come from)."""
    ev = panel_evidence(panel, model)
    pick = picker(panel, rule)
    rows = []
    for reader, days in ev.items():
        fig = judge_evidence({reader: days}, pick)
        rows.append(f"{reader}: F1 {fig.f1:.2f} P {fig.precision:.2f} R2 {fig.recall2:.2f} "
                    f"empty {fig.empty_bad}/{fig.editions} padded {fig.padded}")
    return "; ".join(rows)


def main() -> None:
    global MATCHER
    args = [a for a in sys.argv[1:] if not a.startswith("--matcher=")]
    for a in sys.argv[1:]:
        if a.startswith("--matcher="):
            MATCHER = a.split("=", 1)[1]
    sys.argv[1:] = args
    model = sys.argv[1]
    print(f"phrase matcher: {MATCHER}")
    panels = ("panel", "panel2")
    base = {p: bm25_best(p, model) for p in panels}
    for p in panels:
        print(f"{p}: BM25 best cut-off in hindsight F1 {base[p][0]:.3f} ({base[p][1]})")
    kinds = [k for k in sys.argv[2:]] or ["day-z", "cos", "store-z", "store-pct", "phrase-z"]
    for kind, bonus in itertools.product(kinds, (False, True)):
        if kind == "cos" and bonus:
            continue
        name = f"{kind}{' + phrase' if bonus else ''}"
        print(f"## {name} ({model})")
        for train, test in (("panel", "panel2"), ("panel2", "panel")):
            rule, fit = tune(train, model, family(kind, bonus))
            out = judge(test, model, picker(test, rule))
            print(f"  chosen on {train}: {rule}")
            print(f"    on {train} (tuned): {fit.line(base[train][0])}")
            print(f"    on {test} (held out): {out.line(base[test][0])}", flush=True)
            if "--per-reader" in os.environ.get("I31_FLAGS", ""):
                print(f"      per reader on {test}: {per_reader(test, model, rule)}")


if __name__ == "__main__":
    main()
