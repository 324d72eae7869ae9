"""`digest eval --library`: how well a reader's imported library ranks the day's papers.

Each reader (an arXiv topic, or a panel reader) is given a library of 20 to 50 papers of their
topic, written as a BibTeX file and read back through the import (`read_library`, as the
welcome page and `digest subscribers import-library` read it): the liked papers digest learns
from. On each later day, in the same run:
- digest: the ranking `digest send` makes for a reader whose profile is that library alone
  (`Ranker.rank`, the same bars), its top 10 and what an email shows (a quiet day shows none);
- arxiv-sanity-lite's SVM trained on the same imported library, its top 10.

arXiv days are graded by the papers' categories (the library: papers whose main category is
the topic, from the first days); panel days by the panel's grades (the library: the papers a
reader graded 2 on the other labelled days, so the day ranked never lends its own papers).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digest.diff import ingest_paths
from digest.errors import DigestError
from digest.evaluate import (
    CORPUS_LIMIT,
    HISTORY_DAYS,
    KEYWORD_TOPICS,
    K,
    _categories,
    svm_top,
)
from digest.library import read_library
from digest.models import Paper
from digest.rank import Profile, Ranker, Weights, document
from digest.sources import load_snapshot
from digest.store import Store

LIBRARY_MIN, LIBRARY_MAX = 20, 50
ARXIV_LIBRARY = 40  # papers of its topic in an arXiv reader's library
_NOON = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)  # when the eval's store ingests a day


def bibtex_of(papers: Sequence[Paper]) -> bytes:
    """The papers as a BibTeX export (bibtexparser's writer): title, authors, abstract, the
    arXiv id as `eprint`, as reference managers write them."""
    from bibtexparser.entrypoint import write_string
    from bibtexparser.library import Library
    from bibtexparser.model import Entry, Field

    library = Library()
    for number, paper in enumerate(papers):
        fields = [
            Field("title", "{" + _braced(paper.title) + "}"),
            Field("author", "{" + _braced(" and ".join(paper.authors)) + "}"),
            Field("abstract", "{" + _braced(paper.abstract) + "}"),
        ]
        if paper.arxiv_id:
            fields += [Field("eprint", paper.arxiv_id), Field("archivePrefix", "arXiv")]
        library.add(Entry("article", f"paper{number}", fields))
    return str(write_string(library)).encode("utf-8")


def _braced(text: str) -> str:
    """A field's text with its braces balanced (a stray one would end the field early)."""
    return text.replace("{", "(").replace("}", ")")


def imported(papers: Sequence[Paper]) -> tuple[Paper, ...]:
    """The papers as digest reads them back from a BibTeX export."""
    return tuple(e.as_paper() for e in read_library("library.bib", bibtex_of(papers)).entries)


@dataclass(slots=True)
class LibraryFigures:
    """One data set's figures, averaged over readers (then days): nDCG@10 of digest's top 10,
    of what its emails show, and of the SVM's top 10; precision and size of what is shown."""

    readers: int = 0
    library_sizes: list[int] = field(default_factory=list)
    top: list[float] = field(default_factory=list)
    shown: list[float] = field(default_factory=list)
    svm: list[float] = field(default_factory=list)
    shown_hits: int = 0
    shown_count: int = 0
    days: int = 0
    reader_days: int = 0

    def as_json(self) -> dict[str, float | int | list[int]]:
        return {
            "readers": self.readers,
            "library_sizes": sorted(self.library_sizes),
            "digest_top10_ndcg": _mean(self.top),
            "digest_shown_ndcg": _mean(self.shown),
            "svm_top10_ndcg": _mean(self.svm),
            "shown_precision": self.shown_hits / self.shown_count if self.shown_count else 0.0,
            "shown_per_day": self.shown_count / self.reader_days if self.reader_days else 0.0,
        }


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


@dataclass(frozen=True, slots=True)
class _Day:
    """One day to rank: its papers, the corpus before it, each reader's library and grades."""

    papers: Sequence[Paper]
    corpus: Sequence[str]
    libraries: dict[str, tuple[Paper, ...]]
    grades: dict[str, dict[str, int]]  # reader → paper key → gain (0, 1, 2)


def _score(day: _Day, figures: LibraryFigures, relevant_at: int) -> None:
    """Rank the day for every reader at once (as a send does) and add their figures; a paper
    counts as relevant for precision at gain >= relevant_at."""
    names = [n for n in day.libraries if any(day.grades[n].values())]
    if not names:
        return
    plain = Weights(popularity=0, trending=0, freshness=0, diversity=0)
    ranker = Ranker(day.papers, corpus=day.corpus, weights=plain)
    profiles = [Profile(liked=day.libraries[n], max_items=K) for n in names]
    ranked = ranker.rank(profiles, thresholded=False)
    shown = ranker.rank(profiles)
    figures.days += 1
    for name, full, kept in zip(names, ranked, shown, strict=True):
        figures.reader_days += 1
        gains = day.grades[name]
        ideal = sorted(gains.values(), reverse=True)
        figures.top.append(_ndcg([gains.get(p.paper.key, 0) for p in full], ideal))
        figures.shown.append(_ndcg([gains.get(p.paper.key, 0) for p in kept], ideal))
        svm = svm_top(day.papers, day.libraries[name])
        figures.svm.append(_ndcg([gains.get(p.key, 0) for p in svm], ideal))
        figures.shown_hits += sum(1 for p in kept if gains.get(p.paper.key, 0) >= relevant_at)
        figures.shown_count += len(kept)


def _ndcg(gains: Sequence[int], ideal: Sequence[int]) -> float:
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:K]))
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:K]))
    return dcg / best if best else 0.0


def arxiv_library(
    folder: Path, *, every: int = 1, progress: Callable[[int, int], None] | None = None
) -> LibraryFigures:
    """Every arXiv topic with a library of its first days' papers, on the later days."""
    days = sorted(folder.glob("*.jsonl"))
    if len(days) <= HISTORY_DAYS:
        raise DigestError(f"{folder}: needs more than {HISTORY_DAYS} days of arXiv JSONL")
    categories, primary = _categories(days)  # for grading and choosing libraries only
    figures = LibraryFigures()
    history: list[Paper] = []
    libraries: dict[str, tuple[Paper, ...]] = {}
    with (
        tempfile.TemporaryDirectory() as scratch,
        Store.open(Path(scratch) / "eval.sqlite") as store,
    ):
        for number, path in enumerate(days):
            [result] = ingest_paths(store, [path], lambda: _NOON)
            papers = list(result.new)
            if progress:
                progress(number + 1, len(days))
            if number == HISTORY_DAYS:
                for topic in KEYWORD_TOPICS:  # a topic with fewer than 20 is left out
                    own = [p for p in history if primary.get(p.arxiv_id or "") == topic]
                    if len(own) >= LIBRARY_MIN:
                        libraries[topic] = imported(own[:ARXIV_LIBRARY])
                        figures.library_sizes.append(len(libraries[topic]))
                figures.readers = len(libraries)
            if number >= HISTORY_DAYS and papers and (number - HISTORY_DAYS) % every == 0:
                grades = {
                    topic: {
                        p.key: int(topic in categories.get(p.arxiv_id or "", set())) for p in papers
                    }
                    for topic in libraries
                }
                corpus = [document(p) for p in history[-CORPUS_LIMIT:]]
                _score(_Day(papers, corpus, libraries, grades), figures, 1)
            history.extend(papers)
    return figures


def panel_library(panel: Path, corpus: Path) -> LibraryFigures:
    """Every panel reader with a library of the papers before the labelled days whose title
    holds one of their phrases (what a reader of those topics would have saved; the newest 50,
    a reader with fewer than 20 left out), on each labelled day."""
    from digest.panel import HISTORY_DAYS as PANEL_HISTORY
    from digest.panel import _id, claim_holds, panel_days

    found = panel_days(panel, corpus)
    readers, labels, days = found.readers, found.labels, found.days
    before = [p for f in found.every[: found.first] for p in _papers(f)]
    libraries: dict[str, tuple[Paper, ...]] = {}
    for name, reader in readers.items():
        own = [
            p for p in reversed(before) if any(claim_holds(x, p.title) for x in reader["interests"])
        ]
        chosen = list({_id(p): p for p in own}.values())[:LIBRARY_MAX]
        if len(chosen) >= LIBRARY_MIN:
            libraries[name] = imported(chosen)
    figures = LibraryFigures(
        readers=len(libraries), library_sizes=[len(v) for v in libraries.values()]
    )
    history = before[-PANEL_HISTORY * 60 :]
    seen = {_id(p) for p in before}
    for path in days:  # a paper listed again on a later day is ranked on its first day only
        day = [p for p in _papers(path) if _id(p) not in seen]
        seen |= {_id(p) for p in day}
        graded = labels.get(path.name[:10], {})
        grades = {
            name: {p.key: int(graded.get(_id(p), {}).get(name, 0)) for p in day}
            for name in libraries
        }
        corpus_texts = [document(p) for p in history[-CORPUS_LIMIT:]]
        _score(_Day(day, corpus_texts, libraries, grades), figures, 1)
        history.extend(day)
    return figures


def _papers(path: Path) -> list[Paper]:
    return list(load_snapshot(path).papers)
