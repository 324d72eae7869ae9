"""The store: one SQLite file (WAL), the only code that speaks SQL, in three parts by concern:

- `catalog`: snapshots, papers and sightings, and the diff's merge of a dump into them;
- `readers`: subscribers, their feedback, and suppressions;
- `ledger`: deliveries and the papers each reader was sent.

Storage discipline: every ingest one `BEGIN IMMEDIATE` transaction (so two processes ingesting at
once serialise instead of double counting), bulk work done in SQL against the dump's own keys
rather than by loading stored keys into Python.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from digest.errors import StoreError
from digest.store._base import Connected, _translating_errors, store_error
from digest.store.catalog import Catalog, Changes, SnapshotRow
from digest.store.ledger import DeliveryRow, Ledger
from digest.store.readers import Readers, SubscriberRow
from digest.store.schema import SCHEMA, SCHEMA_VERSION, upgrade


@_translating_errors
class Store(Catalog, Readers, Ledger, Connected):
    """A digest database file. Use `Store.open(path)` as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, read_only: bool = False, timeout: float = 30.0) -> Store:
        """Open (and create, or upgrade) a store. Opening takes no write lock unless the file
        needs creating or upgrading, so readers never wait for a long write. `read_only` opens
        for reading alone (a read-only file or folder works) and never creates anything.
        `timeout` is how long a write waits for another process's write to finish."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"database {path} is a directory; set `database` to a file path")
        if not path.parent.exists():
            raise StoreError(f"database folder {path.parent} does not exist; create it first")
        if read_only and not path.exists():
            raise StoreError(
                f"database {path} does not exist yet; `digest ingest` some dumps first"
            )
        try:
            connection = cls._connect(path, read_only, timeout)
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None
        store = cls(connection, path)
        try:
            store._migrate(read_only)
        except sqlite3.Error as exc:
            connection.close()
            raise store_error(path, exc, opening=True) from None
        except StoreError:
            connection.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, read_only: bool, timeout: float) -> sqlite3.Connection:
        if read_only:
            # mode=ro needs the WAL index beside the file; a read-only folder where nobody can
            # be writing is read as immutable.
            writable_folder = os.access(path.parent, os.W_OK)
            query = (
                "mode=ro"
                if writable_folder or path.with_name(path.name + "-shm").exists()
                else "immutable=1"
            )
            uri = f"{path.resolve().as_uri()}?{query}"
            connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        if not read_only:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache: a big store's index pages stay hot across one ingest.
        connection.execute("PRAGMA cache_size=-65536")
        return connection

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _schema_version(self) -> int | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return None if row is None else int(row["value"])

    def _migrate(self, read_only: bool = False) -> None:
        """Create or upgrade the schema; a store already at this version is only read."""
        version = self._schema_version()
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema {version}, newer than this digest"
                f" ({SCHEMA_VERSION}); upgrade digest"
            )
        if read_only:
            raise StoreError(
                f"database {self.path} has schema {version or 0}, older than this digest's"
                f" ({SCHEMA_VERSION}); run any writing command (such as `digest ingest`) once to"
                " upgrade it"
            )
        # executescript commits any open transaction, so the idempotent DDL runs on its own.
        self._db.executescript(SCHEMA)
        with self.transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row["value"]) < SCHEMA_VERSION:
                upgrade(self._db, int(row["value"]))
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS deliveries_retry ON deliveries(retry_at)"
                " WHERE state = 'deferred'"
            )

    def counts(self) -> dict[str, int]:
        tables = ("snapshots", "papers", "sightings", "deliveries", "sent_papers")
        return {
            table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in tables
        }


__all__ = [
    "SCHEMA_VERSION",
    "Changes",
    "DeliveryRow",
    "SnapshotRow",
    "Store",
    "SubscriberRow",
    "store_error",
]
