"""Ranking against a real store: liked papers resolved from it, corpus statistics, upvote moves,
papers already sent skipped, every subscriber ranked in one call."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from digest.diff import ingest_paths
from digest.editions import choose_picks, subscribers_from
from digest.settings import load_settings
from digest.store import Store

from .conftest import FIXED_NOW, fixed_clock, write_settings

SUBSCRIBERS = """
[[subscribers]]
email = "liker@example.org"
liked = ["2501.00001", "Nonexistent paper title"]
max_items = 2

[[subscribers]]
email = "follower@example.org"
authors = ["Mira Okafor"]
interests = [{ phrase = "weather", weight = 3 }, "language models"]
max_items = 3
"""


def _day(folder: Path, name: str, items: list[tuple[str, str, str, list[str], int]]) -> Path:
    path = folder / name
    path.write_text(
        json.dumps(
            [
                {
                    "paper": {
                        "id": i,
                        "title": t,
                        "summary": s,
                        "upvotes": v,
                        "authors": [{"name": a} for a in authors],
                    }
                }
                for i, t, s, authors, v in items
            ]
        )
    )
    return path


def test_store_backed_ranking(database: Path | str, tmp_path: Path) -> None:
    settings = load_settings(write_settings(tmp_path, database=database, subscribers=SUBSCRIBERS))
    old = _day(
        tmp_path,
        "1.json",
        [
            (
                "2501.00001",
                "Graph networks for molecules",
                "message passing chemistry graphs",
                [],
                3,
            ),
        ],
    )
    new = _day(
        tmp_path,
        "2.json",
        [
            (
                "2501.00002",
                "Equivariant graph networks for molecular chemistry",
                "message passing on molecules",
                [],
                1,
            ),
            (
                "2501.00003",
                "Weather forecasting with transformers",
                "global weather",
                ["Ada Nwosu"],
                9,
            ),
            ("2501.00004", "Tiny language models", "phones", ["Mira Okafor"], 2),
            ("2501.00005", "Cooking robots", "kitchens", [], 50),
        ],
    )
    with Store.open(settings.database) as store:
        ingest_paths(store, [old], fixed_clock(FIXED_NOW - dt.timedelta(days=20)))
        ingest_paths(store, [new], fixed_clock())
        people = subscribers_from(settings)
        picks = choose_picks(store, settings, people, FIXED_NOW)
    liker = picks["liker@example.org"]
    # The liked paper is outside the window; its look-alike is the first pick, with the reason.
    assert liker[0].paper.arxiv_id == "2501.00002"
    assert liker[0].reasons[0] == "similar to papers you liked: Graph networks for molecules"
    follower = picks["follower@example.org"]
    ids = [p.paper.arxiv_id for p in follower]
    # Weather weighs 3; Mira's paper matches the other phrase and has a followed author.
    assert ids[:2] == ["2501.00003", "2501.00004"]
    assert follower[0].reasons[0] == "matches: weather"
    assert follower[1].reasons[:2] == ("matches: language models", "by Mira Okafor")
    assert "2501.00005" not in ids  # popular but matches nothing this reader asked for
    assert all(p.paper_id is not None for p in follower)
