from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from digest.diff import ingest_paths
from digest.errors import DumpError, StoreError
from digest.identity import paper_key
from digest.models import Paper, RecordedPick, Snapshot
from digest.store import Store

from .conftest import fixed_clock


def test_seeds_in_order_report_exact_new_counts(store: Store, seeds: list[Path]) -> None:
    results = ingest_paths(store, seeds, fixed_clock())
    assert [len(r.new) for r in results] == [59, 47, 55, 114, 59]
    assert [r.seen_again for r in results] == [0, 27, 10, 15, 28]
    assert store.counts()["papers"] == 334
    again = ingest_paths(store, seeds, fixed_clock())
    assert [len(r.new) for r in again] == [0] * 5
    assert all(r.duplicate_dump for r in again)
    assert store.counts()["snapshots"] == 5


def test_directory_ingests_in_name_order(store: Store, seeds: list[Path]) -> None:
    results = ingest_paths(store, [seeds[0].parent], fixed_clock())
    assert [Path(r.source).name for r in results] == [p.name for p in seeds]


def test_changed_dump_with_known_papers_finds_nothing_new(tmp_path: Path, store: Store) -> None:
    dump = tmp_path / "a.txt"
    dump.write_text("Get trending papers in your email inbox!\nPaper One\nAbstract one.\n")
    assert len(ingest_paths(store, [dump], fixed_clock())[0].new) == 1
    dump.write_text("Get trending papers in your email inbox!\nPAPER ONE\nAbstract, edited.\n")
    result = ingest_paths(store, [dump], fixed_clock())[0]
    assert (len(result.new), result.seen_again, result.duplicate_dump) == (0, 1, False)


def _snapshot(name: str, *papers: Paper) -> Snapshot:
    return Snapshot(source=name, format="test", content_hash=name, papers=papers)


def test_title_then_arxiv_id_is_one_paper(store: Store) -> None:
    by_title = Paper(key=paper_key("Deep Sets"), title="Deep Sets", upvotes=3)
    by_id = Paper(
        key=paper_key("Deep Sets", "1703.06114"),
        title="Deep sets",
        arxiv_id="1703.06114",
        upvotes=10,
    )
    assert len(store.catalog.ingest(_snapshot("one", by_title), fixed_clock()()).new) == 1
    second = store.catalog.ingest(_snapshot("two", by_id), fixed_clock()())
    assert (len(second.new), second.seen_again) == (0, 1)
    # The store learned the id, so a later title-only or id-only sighting still matches.
    third = store.catalog.ingest(_snapshot("three", by_title), fixed_clock()())
    assert len(third.new) == 0
    [paper] = store.catalog.recent_papers(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert paper.paper.arxiv_id == "1703.06114"
    assert store.counts()["sightings"] == 3


def test_a_page_listed_paper_learns_its_details_from_a_richer_listing(store: Store) -> None:
    # A seed page knows a title, an author count and a date; Hugging Face knows the rest.
    page = Paper(key=paper_key("Deep Sets"), title="Deep Sets", author_count=7, abstract="")
    rich = Paper(
        key=paper_key("Deep Sets", "1703.06114"),
        title="Deep Sets",
        abstract="Permutation invariance.",
        arxiv_id="1703.06114",
        authors=("Manzil Zaheer", "Satwik Kottur"),
        author_count=2,
        url="https://huggingface.co/papers/1703.06114",
        pdf_url="https://arxiv.org/pdf/1703.06114",
        thumbnail_url="https://cdn.example.org/1703.06114.png",
        comments=4,
    )
    store.catalog.ingest(_snapshot("page", page), fixed_clock()())
    store.catalog.ingest(_snapshot("hf", rich), fixed_clock()())
    [stored] = store.catalog.recent_papers(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    learned = stored.paper
    assert learned.authors == ("Manzil Zaheer", "Satwik Kottur")
    assert learned.author_count == 7  # kept: the store's own count is not overwritten
    assert learned.abstract == "Permutation invariance."
    assert learned.url == "https://huggingface.co/papers/1703.06114"
    assert (learned.thumbnail_url, learned.comments) == (rich.thumbnail_url, 4)


def test_same_title_different_ids_are_two_papers(store: Store) -> None:
    a = Paper(key="arxiv:2401.00001", title="Survey", arxiv_id="2401.00001")
    b = Paper(key="arxiv:2402.00002", title="Survey", arxiv_id="2402.00002")
    assert len(store.catalog.ingest(_snapshot("a", a), fixed_clock()()).new) == 1
    assert len(store.catalog.ingest(_snapshot("b", b), fixed_clock()()).new) == 1


def test_bad_dump_in_a_batch_changes_nothing(
    tmp_path: Path, store: Store, seeds: list[Path]
) -> None:
    bad = tmp_path / "zz-bad.txt"
    bad.write_bytes(b"\x00\x01binary")
    with pytest.raises(DumpError):
        ingest_paths(store, [seeds[0], bad], fixed_clock())
    assert store.counts() == {
        "snapshots": 0,
        "papers": 0,
        "sightings": 0,
        "deliveries": 0,
        "sent_papers": 0,
    }


def test_failure_inside_the_transaction_rolls_back(store: Store, seeds: list[Path]) -> None:
    ingest_paths(store, seeds[:1], fixed_clock())
    before = store.counts()
    broken = _snapshot(
        "broken",
        Paper(key="title:fine", title="Fine"),
        Paper(key="title:bad", title=None),  # type: ignore[arg-type]  # NOT NULL violation
    )
    with pytest.raises((sqlite3.IntegrityError, AttributeError, TypeError)):
        store.catalog.ingest(broken, fixed_clock()())
    assert store.counts() == before


def test_sightings_keep_upvote_history(store: Store) -> None:
    for name, votes in (("d1", 3), ("d2", 17)):
        paper = Paper(key="arxiv:2401.00009", title="Votes", arxiv_id="2401.00009", upvotes=votes)
        store.catalog.ingest(_snapshot(name, paper), fixed_clock()())
    [stored] = store.catalog.recent_papers(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert stored.upvotes == 17


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"is damaged .*restore it from a backup"):
        Store.open(path)
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "missing" / "x.sqlite")


def test_ledger_records_papers_sent(store: Store) -> None:
    paper = Paper(key="title:p", title="P")
    store.catalog.ingest(_snapshot("s", paper), fixed_clock()())
    row = store.ledger.plan_delivery(
        "2026-11-22",
        "a@example.org",
        "<m@x>",
        [RecordedPick(1, 1.0, ("r",))],
        fixed_clock()(),
    )
    assert row.state == "pending"
    store.ledger.record_progress("2026-11-22", fixed_clock()(), sending=["a@example.org"])
    store.ledger.record_progress("2026-11-22", fixed_clock()(), sent=["a@example.org"])
    assert store.ledger.delivery("2026-11-22", "a@example.org").state == "sent"  # type: ignore[union-attr]
    sent = store.ledger.sent_paper_ids(["a@example.org", "b@example.org"])
    assert sent.get("a@example.org") == {1}
    assert not sent.get("b@example.org")
    assert store.ledger.delivery("2026-11-22", "a@example.org").picks == (  # type: ignore[union-attr]
        RecordedPick(1, 1.0, ("r",)),
    )


def test_one_dump_listing_a_paper_by_title_and_by_id_stores_it_once(store: Store) -> None:
    by_title = Paper(key=paper_key("Deep Sets"), title="Deep Sets")
    by_id = Paper(
        key=paper_key("Deep sets", "1703.06114"), title="Deep sets", arxiv_id="1703.06114"
    )
    result = store.catalog.ingest(_snapshot("both", by_title, by_id), fixed_clock()())
    assert (len(result.new), result.seen_again) == (1, 1)
    [paper] = store.catalog.papers()
    assert paper.paper.arxiv_id == "1703.06114"
