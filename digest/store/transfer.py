"""Copy a whole store into another (`digest migrate --to`): a SQLite file onto a PostgreSQL
server when one machine is no longer enough. One transaction on each side: the source is read
under its write lock (nothing changes it meanwhile), the target is written all or nothing, and
every table's rows are counted on both sides before the target commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from digest.errors import StoreError
from digest.store import Store
from digest.store.db import Database

# Parents before children (foreign keys); the scheduler's jobs and the relay pace stay behind.
TABLES = (
    "snapshots",
    "papers",
    "sightings",
    "paper_vectors",
    "abbreviations",
    "subscribers",
    "feedback",
    "suppressions",
    "deliveries",
    "sent_papers",
)
_BATCH = 5000


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of `source` into an empty `target`; returns the rows per table."""
    counts: dict[str, int] = {}
    with source.transaction() as reading, target.transaction() as writing:
        present = {table: _count(writing, table) for table in TABLES}
        if any(present.values()):
            held = ", ".join(f"{n} {table}" for table, n in present.items() if n)
            raise StoreError(
                f"database {target.path} is not empty ({held}); migrate into a new database"
            )
        for table in TABLES:
            counts[table] = _copy_table(reading, writing, table)
            if (copied := _count(writing, table)) != counts[table]:
                raise StoreError(
                    f"copying {table} into {target.path} kept {copied} of {counts[table]} rows;"
                    " nothing was written"
                )
        writing.continue_ids("snapshots")  # new dumps continue after the copied ids
    return counts


def _count(db: Database, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _copy_table(reading: Database, writing: Database, table: str) -> int:
    rows = reading.execute(f"SELECT * FROM {table}")  # noqa: S608
    first = rows.fetchone()
    if first is None:
        return 0
    columns = list(first.keys())
    statement = (
        f"INSERT INTO {table}({', '.join(columns)})"  # noqa: S608
        f" VALUES ({', '.join('?' for _ in columns)})"
    )
    copied = 0
    for batch in _batches(first, rows):
        writing.executemany(statement, batch)
        copied += len(batch)
    return copied


def _batches(first: Any, cursor: Iterable[Any]) -> Iterator[list[tuple[Any, ...]]]:
    rows = iter(cursor)
    batch = [tuple(first)]
    while True:
        batch.extend(tuple(row) for row in islice(rows, _BATCH - len(batch)))
        if not batch:
            return
        yield batch
        batch = []
