"""Replaying real corpora day by day: each day must report exactly the ids no earlier day had.

The expected sets are computed here straight from the raw files (json + ast), independently of
digest's parsers, as corpora/README.md defines the ground truth.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from digest.diff import ingest_paths
from digest.store import Store

from .conftest import CORPORA, fixed_clock, shared_or_skip


def _expected_new(days: list[set[str]]) -> list[set[str]]:
    seen: set[str] = set()
    expected = []
    for ids in days:
        expected.append(ids - seen)
        seen |= ids
    return expected


def _arxiv_ids(path: Path) -> set[str]:
    return {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}


def _hf_ids(path: Path) -> set[str]:
    document: Any = json.loads(path.read_text())
    items = document["data"] if isinstance(document, dict) else document
    parsed = [ast.literal_eval(i) if isinstance(i, str) else i for i in items]
    return {item["paper"]["id"] for item in parsed}


def test_sixty_arxiv_days_report_exactly_the_ids_never_seen_before(store: Store) -> None:
    days = sorted(shared_or_skip(CORPORA / "arxiv-daily").glob("*.jsonl"))
    assert len(days) == 60
    expected = _expected_new([_arxiv_ids(day) for day in days])
    results = ingest_paths(store, days, fixed_clock())
    got = [{p.arxiv_id for p in r.new} for r in results]
    for day, want, have in zip(days, expected, got, strict=True):
        assert have == want, f"{day.name}: {len(have)} new reported, {len(want)} expected"
    # The corpus has identical weekend dumps, which must be recognised and report nothing.
    assert any(r.duplicate_dump for r in results)
    assert all(not r.new for r in results if r.duplicate_dump)
    assert store.counts()["papers"] == len(set().union(*expected))
    # A second replay finds nothing at all.
    assert all(not r.new for r in ingest_paths(store, days, fixed_clock()))


def test_hf_days_report_exactly_the_ids_never_seen_before(store: Store) -> None:
    days = sorted(shared_or_skip(CORPORA / "hf-daily").glob("*.json"))
    expected = _expected_new([_hf_ids(day) for day in days])
    results = ingest_paths(store, days, fixed_clock())
    assert [{p.arxiv_id for p in r.new} for r in results] == expected
    assert store.counts()["papers"] == len(set().union(*expected))


def _hf_day(folder: Path, name: str, upvotes: dict[str, int]) -> Path:
    items = [
        {"paper": {"id": pid, "title": f"Paper {pid}", "summary": "s", "upvotes": votes}}
        for pid, votes in upvotes.items()
    ]
    path = folder / name
    path.write_text(json.dumps(items))
    return path


def test_upvote_movement_is_reported_at_ingest_and_kept_in_history(
    tmp_path: Path, store: Store
) -> None:
    day1 = _hf_day(tmp_path, "1.json", {"2501.00001": 3, "2501.00002": 10, "2501.00003": 7})
    day2 = _hf_day(tmp_path, "2.json", {"2501.00002": 25, "2501.00003": 7, "2501.00004": 1})
    day3 = _hf_day(tmp_path, "3.json", {"2501.00001": 4, "2501.00002": 20})
    results = ingest_paths(store, [day1, day2, day3], fixed_clock())
    moved = [
        [(m.paper.arxiv_id, m.upvotes_before, m.upvotes_now) for m in r.moved] for r in results
    ]
    assert moved == [[], [("2501.00002", 10, 25)], [("2501.00001", 3, 4), ("2501.00002", 25, 20)]]
    assert [r.seen_again for r in results] == [0, 2, 2]
    for result in results:
        history = store.catalog.changes(result.snapshot_id)
        assert {p.paper.arxiv_id for p in history.new} == {p.arxiv_id for p in result.new}
        assert history.seen_again == result.seen_again
        # The history answers what the ingest answered at the time (biggest rise first).
        expected = sorted(result.moved, key=lambda move: -move.delta)
        assert [(m.paper_id, m.upvotes_before, m.upvotes_now) for m in history.moved] == [
            (m.paper_id, m.upvotes_before, m.upvotes_now) for m in expected
        ]
    assert store.catalog.changes().snapshot.id == results[-1].snapshot_id
    first_paper = results[2].moved[0].paper_id
    assert store.catalog.papers_by_id([first_paper])[first_paper].upvotes == 4  # the latest count
