"""Numbered migrations: a store written by an older digest is upgraded in place, in one
transaction, keeping its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from digest.models import Basis, DeliveryState, RecordedPick
from digest.store import Store
from digest.store.schema import MIGRATIONS, SCHEMA_VERSION

from .conftest import FIXED_NOW


def test_every_version_has_its_steps() -> None:
    assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))


def test_a_schema_5_store_gains_paper_details_and_the_published_state(tmp_path: Path) -> None:
    path = tmp_path / "v5.sqlite"
    with Store.open(path):
        pass
    db = sqlite3.connect(path)
    for column in ("thumbnail_url", "project_url", "comments"):
        db.execute(f"ALTER TABLE papers DROP COLUMN {column}")
    ledger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'deliveries'").fetchone()[0]
    schema_5_ledger = ledger.replace(",\n         'published'", "").replace(", 'published'", "")
    db.executescript("DROP INDEX IF EXISTS deliveries_retry; DROP TABLE deliveries;")
    db.executescript(schema_5_ledger)
    db.executescript(
        "INSERT INTO snapshots VALUES (1, 'old', 'page', 'h', '2026-11-20T00:00:00+00:00', 1, 1);"
        "INSERT INTO papers(id, title_key, title, first_snapshot_id, first_seen)"
        " VALUES (1, 'deep sets', 'Deep Sets', 1, '2026-11-20T00:00:00+00:00');"
        "INSERT INTO deliveries(edition_id, email, message_id, state, picks, updated_at)"
        " VALUES ('2026-11-21', 'a@x.org', '<m@x>', 'sent', '[{\"paper_id\": 1}]', '');"
        "UPDATE meta SET value = '5' WHERE key = 'schema_version';"
    )
    db.commit()
    assert (
        "published"
        not in db.execute("SELECT sql FROM sqlite_master WHERE name = 'deliveries'").fetchone()[0]
    )
    db.close()
    with Store.open(path) as store:
        [paper] = store.catalog.papers()
        assert paper.paper.title == "Deep Sets" and paper.paper.thumbnail_url is None
        assert store.ledger.delivery("2026-11-21", "a@x.org").state == DeliveryState.SENT  # type: ignore[union-attr]
        store.ledger.plan_delivery("2026-11-22", "a@x.org", "<n@x>", [RecordedPick(1)], FIXED_NOW)
        store.ledger.record_progress("2026-11-22", FIXED_NOW, published=["a@x.org"])
        assert store.ledger.delivery("2026-11-22", "a@x.org").state == DeliveryState.PUBLISHED  # type: ignore[union-attr]
        assert store.ledger.sent_paper_ids(["a@x.org"])["a@x.org"] == {1}


def test_picks_recorded_before_their_basis_read_it_from_their_reason(tmp_path: Path) -> None:
    path = tmp_path / "old-picks.sqlite"
    with Store.open(path):
        pass
    db = sqlite3.connect(path)
    old = (
        '[{"paper_id": 1, "score": 2.5, "reasons": ["matches: graphs, robots", "7 upvotes"]},'
        ' {"paper_id": 2, "score": 1.0, "reasons": ["similar to papers you liked: X"]},'
        ' {"paper_id": 3, "score": 0.5, "reasons": ["7 upvotes"]}]'
    )
    db.execute(
        "INSERT INTO deliveries(edition_id, email, message_id, state, picks, updated_at)"
        " VALUES ('2026-11-21', 'a@x.org', '<m@x>', 'sent', ?, '')",
        (old,),
    )
    db.commit()
    db.close()
    with Store.open(path) as store:
        row = store.ledger.delivery("2026-11-21", "a@x.org")
    assert row is not None
    assert [(p.paper_id, p.basis, p.interest) for p in row.picks] == [
        (1, Basis.INTEREST, "graphs"),
        (2, Basis.LIKED, ""),
        (3, Basis.POPULAR, ""),
    ]
    assert row.picks[0].score == 2.5 and row.picks[0].reasons[1] == "7 upvotes"
