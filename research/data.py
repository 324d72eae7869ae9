"""The evaluation data for issue 31's research, read as the judge reads it.

- Panel 1 (`shared/panel`): labelled days from `corpora/hf-daily`; a day's papers are the ones
  labelled for it (those new that day). Background ("the store"): every hf-daily paper of the
  days before the first labelled day.
- Panel 2 (`shared/panel2`): its own `days/` and `history/`. Background: its history plus the
  whole hf-daily corpus (January-April 2025, all earlier than October 2025).
- arXiv (`corpora/arxiv-daily`): new papers per dump (ids minus those of earlier dumps);
  relevance = the topic is among the paper's categories (digest/evaluate.py's protocol).
"""

from __future__ import annotations

import ast
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SHARED = Path(os.environ.get("I31_SHARED", "/work/shared"))
HF = SHARED / "corpora" / "hf-daily"
ARXIV = SHARED / "corpora" / "arxiv-daily"


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    abstract: str

    @property
    def text(self) -> str:
        return f"{self.title}. {self.abstract}"


@dataclass(frozen=True)
class Reader:
    name: str
    interests: tuple[str, ...]
    liked: tuple[str, ...] = ()
    wants: str = ""


@dataclass
class Panel:
    name: str
    readers: dict[str, Reader]
    days: list[tuple[str, list[Doc]]]  # (date, the day's labelled new papers)
    labels: dict[str, dict[str, dict[str, int]]]  # day -> id -> reader -> grade
    background: list[Doc]  # the store before the days
    docs: dict[str, Doc] = field(default_factory=dict)  # every paper by id (liked lookups)

    def grade(self, day: str, pid: str, reader: str) -> int:
        return self.labels.get(day, {}).get(pid, {}).get(reader, 0)


def _json(path: Path) -> object:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def load_hf_day(path: Path) -> list[Doc]:
    data: object = _json(path)
    data = data["data"] if isinstance(data, dict) else data
    out = []
    for item in data:
        if isinstance(item, str):
            item = ast.literal_eval(item)
        p = item.get("paper", item)
        out.append(Doc(p["id"], " ".join(p["title"].split()), " ".join(p["summary"].split())))
    return out


def _unique(docs: list[Doc]) -> list[Doc]:
    return list({d.id: d for d in docs}.values())


def _readers(path: Path) -> dict[str, Reader]:
    raw = _json(path)
    assert isinstance(raw, dict)
    return {
        n: Reader(n, tuple(r.get("interests", [])), tuple(r.get("liked", [])), r.get("wants", ""))
        for n, r in raw.items()
    }


@functools.cache
def panel(name: str) -> Panel:
    root = SHARED / name
    labels = _json(root / "labels.json")
    assert isinstance(labels, dict)
    readers = _readers(root / "readers.json")
    own = sorted((root / "days").glob("*.json"))
    hf_files = sorted(HF.glob("*.json"))
    if own:
        files = own
        background = [d for f in sorted((root / "history").glob("*.json"))
                      for d in load_hf_day(f)]
        background += [d for f in hf_files for d in load_hf_day(f)]
    else:
        files = [f for f in hf_files if f.name[:10] in labels]
        first = files[0].name[:10]
        background = [d for f in hf_files if f.name[:10] < first for d in load_hf_day(f)]
    days = []
    docs: dict[str, Doc] = {}
    for f in files:
        date = f.name[:10]
        by_id = {d.id: d for d in load_hf_day(f)}
        docs.update(by_id)
        wanted = labels.get(date, {})
        days.append((date, [by_id[i] for i in wanted if i in by_id]))
    labelled = {i for d in labels.values() for i in d}
    background = [d for d in _unique(background) if d.id not in labelled]
    docs.update({d.id: d for d in background})
    return Panel(name, readers, days, labels, background, docs)


@dataclass
class ArxivDay:
    date: str
    new: list[Doc]
    categories: dict[str, set[str]]


@functools.cache
def arxiv_days() -> list[ArxivDay]:
    seen: set[str] = set()
    out = []
    for f in sorted(ARXIV.glob("*.jsonl")):
        lines = f.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        cats: dict[str, set[str]] = {}
        docs: dict[str, Doc] = {}
        for r in rows:
            pid = str(r["id"])
            cats.setdefault(pid, set()).update(r["categories"])
            docs.setdefault(pid, Doc(pid, " ".join(r["title"].split()),
                                     " ".join(r["summary"].split())))
        new = [d for i, d in docs.items() if i not in seen]
        seen |= set(docs)
        out.append(ArxivDay(f.name[:10], new, {i: cats[i] for i in docs}))
    return out
