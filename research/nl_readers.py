"""Item 4: readers written in natural language (research/nl_readers.json: sentences,
abbreviations, "not X"), on arXiv days where the categories are the ground truth (a paper is
relevant when it carries one of the reader's categories; graded 2, everything else 0).

A reader's text is cut into parts at ";", ",", ":" and parentheses; a part starting with "not"
is an exclusion, the others are the reader's phrases. Days: every third arXiv day from the 6th
(14 days with new papers); the store: the first five days' and the earlier evaluated days'
new papers, the latest STORE.

Figures: AUC and nDCG@10 of BM25 / cosine / hybrid; digest today (its Ranker, the parts as
interests and the "not" parts as exclusions; shown = what clears its bars); and the admission
rules chosen on each panel (research.admission), with and without the exclusions.

    python -m research.nl_readers MODEL > research/results/nl-readers-MODEL.txt
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import numpy as np

from research import data
from research.admission import Rule, family, judge_evidence, shown, tune
from research.common import Bm25, DayEvidence, auc, f1, mean, ndcg
from research.encoders import encode

READERS = Path(__file__).with_name("nl_readers.json")
STORE = 1500
_SPLIT = re.compile(r"[;,:()]")


def parse(text: str) -> tuple[list[str], list[str]]:
    wanted, unwanted = [], []
    for part in _SPLIT.split(text):
        part = re.sub(r"^(e\.g\.|i\.e\.|and|or)\s+", "", part.strip(), flags=re.I).strip()
        if not part:
            continue
        if re.match(r"^(not|but not|no)\s", part, re.I):
            unwanted.append(re.sub(r"^(but not|not|no)\s+", "", part, flags=re.I))
        else:
            wanted.append(part)
    return wanted, unwanted


@functools.cache
def readers() -> dict[str, dict[str, object]]:
    raw: dict[str, dict[str, object]] = json.loads(READERS.read_text(encoding="utf-8"))
    for r in raw.values():
        r["wanted"], r["unwanted"] = parse(str(r["text"]))
    return raw


def days() -> list[tuple[data.ArxivDay, list[data.Doc]]]:
    """(day, store before it) for every third day from the 6th; the store: the first five
    days and the evaluated days before (the papers embedded anyway), the latest STORE."""
    every = data.arxiv_days()
    out = []
    for i in range(5, len(every), 3):
        if not every[i].new:
            continue
        earlier = [*every[:5], *every[5:i:3]]
        before = [d for day in earlier for d in day.new][-STORE:]
        out.append((every[i], before))
    return out


def _doc2(d: data.Doc) -> str:
    return f"{d.title}. {d.title}. {d.abstract}"


@functools.cache
def evidence(model: str) -> tuple[dict[str, list[DayEvidence]], dict[tuple[str, str, str], float],
                                  dict[tuple[str, str, str], bool]]:
    """reader -> DayEvidence per day; (reader, day, id) -> cosine to the closest "not" part
    minus the closest wanted part; (reader, day, id) -> a "not" part stands in the paper."""
    from digest.rank.phrases import occurs

    out: dict[str, list[DayEvidence]] = {r: [] for r in readers()}
    margin: dict[tuple[str, str, str], float] = {}
    veto: dict[tuple[str, str, str], bool] = {}
    for day, store in days():
        docs = day.new
        vecs = encode(model, [d.text for d in docs])
        bg = encode(model, [d.text for d in store])
        day_index = Bm25([_doc2(d) for d in docs])
        store_index = Bm25([_doc2(d) for d in store] + [_doc2(d) for d in docs])
        nb = len(store)
        for name, r in readers().items():
            wanted = list(r["wanted"])  # type: ignore[call-overload]
            unwanted = list(r["unwanted"])  # type: ignore[call-overload]
            q = encode(model, wanted, "query")
            both = store_index.scores(" ".join(wanted))
            per = np.stack([store_index.scores(p) for p in wanted], axis=1)
            cats = set(r["categories"])  # type: ignore[call-overload]
            grades = np.array([2 if cats & day.categories[d.id] else 0 for d in docs])
            cos_ph, cos_ph_bg = vecs @ q.T, bg @ q.T
            out[name].append(DayEvidence(
                day.date, [d.id for d in docs], grades, day_index.scores(" ".join(wanted)),
                both[nb:], both[:nb], cos_ph.max(axis=1), cos_ph_bg.max(axis=1),
                per[nb:], per[:nb], cos_ph, cos_ph_bg))
            if unwanted:
                neg = (vecs @ encode(model, unwanted, "query").T).max(axis=1)
                for j, d in enumerate(docs):
                    margin[(name, day.date, d.id)] = float(neg[j] - cos_ph[j].max())
                    veto[(name, day.date, d.id)] = any(occurs(u, d.text) for u in unwanted)
    return out, margin, veto


def ranking_figures(model: str) -> None:
    ev, _, _ = evidence(model)
    print("## ranking: AUC (relevant vs not) | nDCG@10, macro over readers")

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / (x.std() or 1.0)

    signals = {
        "BM25 (day)": lambda e: e.bm25_day,
        "cosine, max over parts": lambda e: e.cos,
        "hybrid, z over day": lambda e: z(e.bm25_day) + z(e.cos),
    }
    for label, sig in signals.items():
        per = []
        for name, evs in ev.items():
            pos: list[float] = []
            neg: list[float] = []
            nd = []
            for e in evs:
                s = sig(e)
                pos += list(s[e.grades > 0])
                neg += list(s[e.grades == 0])
                if e.grades.any():
                    order = np.argsort(-s, kind="stable")[:10]
                    nd.append(ndcg(list(e.grades[order] / 2), list(e.grades / 2)))
            per.append((name, auc(pos, neg) or float("nan"), mean(nd)))
        detail = " ".join(f"{n}:{a:.2f}/{d:.2f}" for n, a, d in per)
        print(f"  {label:26} AUC {mean([a for _, a, _ in per]):.3f} nDCG@10 "
              f"{mean([d for _, _, d in per]):.3f}  [{detail}]", flush=True)


def digest_today(model: str) -> None:
    """digest's Ranker as it is (no embeddings): what clears its bars, and its top 10."""
    from digest.models import Paper, interests
    from digest.rank import Profile, Ranker, Weights

    ev, _, _ = evidence(model)
    by_day = {day.date: (day, store) for day, store in days()}
    names = list(readers())
    profiles = [Profile(interests(*readers()[n]["wanted"]),  # type: ignore[misc]
                        exclude=tuple(readers()[n]["unwanted"]),  # type: ignore[arg-type]
                        max_items=10) for n in names]
    plain = Weights(popularity=0, trending=0, freshness=0, diversity=0)
    picks: dict[tuple[str, str], list[str]] = {}
    full: dict[tuple[str, str], list[str]] = {}
    for date, (day, store) in by_day.items():
        papers = [Paper(key=d.id, title=d.title, abstract=d.abstract, arxiv_id=d.id)
                  for d in day.new]
        ranker = Ranker(papers, corpus=[f"{d.title}. {d.abstract}" for d in store],
                        weights=plain)
        for n, got, top in zip(names, ranker.rank(profiles), ranker.rank(
                profiles, thresholded=False), strict=True):
            picks[(n, date)] = [p.paper.key for p in got]
            full[(n, date)] = [p.paper.key for p in top]
    fig = judge_evidence(ev, lambda r, e: picks[(r, e.day)])
    base = bm25_best(ev)
    print(f"## digest today (Ranker, no embeddings), shown: {fig.line(base)}")
    nd = []
    for n, evs in ev.items():
        vals = []
        for e in evs:
            if e.grades.any():
                g = dict(zip(e.ids, (e.grades / 2).tolist(), strict=True))
                vals.append(ndcg([g[i] for i in full[(n, e.day)]], list(g.values())))
        nd.append(mean(vals))
    print(f"   digest today, top 10 whatever it scores: nDCG@10 {mean(nd):.3f}")


def bm25_best(ev: dict[str, list[DayEvidence]]) -> float:
    best = 0.0
    for k in range(1, 11):
        best = max(best, mean([f1([e.ids[i] for i in np.argsort(-e.bm25_day, kind="stable")[:k]],
                                  _rel(e)) for evs in ev.values() for e in evs]))
    for t in [x / 2 for x in range(0, 41)]:
        best = max(best, mean([f1([e.ids[i] for i in np.argsort(-e.bm25_day, kind="stable")[:10]
                                   if e.bm25_day[i] >= t and e.bm25_day[i] > 0], _rel(e))
                               for evs in ev.values() for e in evs]))
    return best


def _rel(e: DayEvidence) -> set[str]:
    return {i for i, g in zip(e.ids, e.grades.tolist(), strict=True) if g > 0}


def admission_figures(model: str, rules: dict[str, Rule]) -> None:
    from digest.rank.phrases import occurs

    ev, margin, veto = evidence(model)
    docs = {d.id: d for day, _ in days() for d in day.new}
    base = bm25_best(ev)
    hits = {(n, e.day, i): any(occurs(p, docs[i].text)
                               for p in readers()[n]["wanted"])  # type: ignore[attr-defined]
            for n, evs in ev.items() for e in evs for i in e.ids}
    for label, rule in rules.items():
        for excl in ("none", "lexical", "lexical + meaning"):
            def pick(r: str, e: DayEvidence, rule: Rule = rule, excl: str = excl) -> list[str]:
                h = np.array([hits[(r, e.day, i)] for i in e.ids], dtype=float)
                keep = shown(rule, e, h)
                if excl != "none":
                    keep = [i for i in keep if not veto.get((r, e.day, i), False)]
                if excl == "lexical + meaning":
                    keep = [i for i in keep if margin.get((r, e.day, i), -1.0) <= 0]
                return keep

            fig = judge_evidence(ev, pick)
            print(f"  {label}; exclusions {excl}: {fig.line(base)}", flush=True)


def main() -> None:
    model = sys.argv[1]
    for n, r in readers().items():
        print(f"  {n}: wanted {r['wanted']} not {r['unwanted']} -> {r['categories']}")
    ranking_figures(model)
    digest_today(model)
    rules = {}
    for kind in sys.argv[2:] or ["store-z"]:
        for panel in ("panel", "panel2"):
            rule, _ = tune(panel, model, family(kind, True))
            rules[f"{rule} (chosen on {panel})"] = rule
    print("## admission rules (constants chosen on a panel, never on these readers)")
    admission_figures(model, rules)


if __name__ == "__main__":
    main()
