from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import pytest

from digest.errors import DumpError
from digest.sources import load_snapshot, parse_snapshot

from .conftest import DATA, EXAMPLES

# Hand-counted ground truth for ../shared/seeds, oldest first.
SEED_COUNTS = [59, 74, 65, 129, 87]
SEED_LAYOUTS = ["page-spaced", "page-spaced", "page-meta", "page-compact", "page-spaced"]


def test_seed_dumps_parse_to_hand_counted_papers(seeds: list[Path]) -> None:
    snapshots = [load_snapshot(path) for path in seeds]
    assert [len(s.papers) for s in snapshots] == SEED_COUNTS
    assert [s.format for s in snapshots] == SEED_LAYOUTS
    for snapshot in snapshots:
        for paper in snapshot.papers:
            assert paper.title and len(paper.title) < 400
            assert len(paper.abstract) > len(paper.title) / 2


def test_meta_layout_reads_authors_dates_and_upvotes(seeds: list[Path]) -> None:
    snapshot = load_snapshot(seeds[2])
    by_title = {p.title: p for p in snapshot.papers}
    first = by_title["Wide and Deep Neural Networks Achieve Optimality for Classification"]
    assert first.author_count == 3
    assert first.published == dt.date(2022, 4, 29)
    voted = by_title[
        "LoGAH: Predicting 774-Million-Parameter Transformers using Graph HyperNetworks"
        " with 1/100 Parameters"
    ]
    assert voted.upvotes == 2
    assert voted.published == dt.date(2024, 5, 25)
    # Two papers in this dump carry no metadata block at all.
    assert sum(1 for p in snapshot.papers if p.author_count is None) == 2


def test_compact_layout_unglues_first_title(seeds: list[Path]) -> None:
    snapshot = load_snapshot(seeds[3])
    assert snapshot.papers[0].title.startswith("MST-compression: Compressing")


def _page(body: str) -> bytes:
    return ("new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n" + body).encode()


def test_messy_encoding_variants_give_the_same_papers() -> None:
    body = "Café Networks  for  Graphs\n\nAn abstract about graphs.\n\nSecond Paper\n\nMore text.\n"
    clean = parse_snapshot(_page(body), "clean")
    messy_text = unicodedata.normalize("NFD", body).replace(" ", "\u00a0", 1).replace("\n", "\r\n")
    messy = parse_snapshot(_page(messy_text.replace("\r\n", "\r\n", 1)), "messy")
    assert [p.key for p in messy.papers] == [p.key for p in clean.papers]
    assert messy.papers[0].title == "Café Networks for Graphs"


def test_paper_listed_twice_in_one_dump_counts_once() -> None:
    body = "Same Paper\n\nAbstract one.\n\nOther Paper\n\nAbstract two.\n\nsame  paper!\n\nAgain.\n"
    snapshot = parse_snapshot(_page(body), "dup")
    assert [p.title for p in snapshot.papers] == ["Same Paper", "Other Paper"]


def test_examples_cover_all_three_layouts() -> None:
    formats = [load_snapshot(p).format for p in sorted((EXAMPLES / "dumps").glob("*.txt"))]
    assert formats == ["page-spaced", "page-meta", "page-compact"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("Get trending papers in your email inbox!".encode("utf-16"), "UTF-16"),
        ("Get trending papers in your email inbox!\n\nCafé\n\nx".encode("latin-1"), "UTF-8"),
        (b"just some notes\nthat are not a dump\n", "unknown dump layout"),
        (_page("A Lonely Title With No Abstract\n"), "truncated"),
        (_page("T" * 500 + "\n\nabstract\n"), "misaligned"),
        (_page(""), "no papers"),
        (b"x" * (10 * 1024 * 1024), "unknown dump layout"),
        (_page("Title\n\n" + "word " * 2_000_000), "line 9 is 9,999,999 characters long"),
        ("Get trending papers in your email inbox!\nA\nb\n".encode("utf-16-le"), "UTF-16"),
        (b'[{"paper": {"id": "2501.00001", "title": "T"}}, {"pap', "invalid JSON"),
        (b'{"id": "2501.00001", "title": "A"}\n{"id": "2501.00002", "tit', "line 2"),
        ((DATA / "arxiv-api.atom").read_bytes()[:1500], "not well-formed XML at line"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel></channel></rss>", "no papers"),
    ],
)
def test_bad_dumps_get_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(DumpError, match=message) as caught:
        parse_snapshot(data, "bad.txt")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("bad.txt")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="no such file"):
        load_snapshot(tmp_path / "nope.txt")
    with pytest.raises(DumpError, match="directory"):
        load_snapshot(tmp_path)
