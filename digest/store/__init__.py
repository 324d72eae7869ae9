"""The store: a SQLite file (WAL, the default) or a PostgreSQL database (`db`, `sqlite`,
`postgres`), the only code that speaks SQL, in parts by concern:

- `catalog`: snapshots, papers and sightings, and the diff's merge of a dump into them;
- `readers`: subscribers, their feedback, and suppressions;
- `ledger`: deliveries and the papers each reader was sent;
- `signups`: sign-ups (by id) until confirmed, the mail queue a request leaves for a worker,
  counted attempts and refusals, and the consent log;
- `library`: the papers of readers' own libraries;
- `bounces`: bounces, complaints and receipts that came back after a relay accepted a message.

Storage discipline: every ingest one write transaction that excludes other writers (SQLite's
`BEGIN IMMEDIATE`, an advisory lock on PostgreSQL), so two processes ingesting at once
serialise instead of double counting; bulk work done in SQL against the dump's own keys rather
than by loading stored keys into Python.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from pathlib import Path

from digest.errors import StoreBusy, StoreError
from digest.profile import SubscriberRow
from digest.store._base import Connected, translating_errors
from digest.store.bounces import BounceEvent, Bounces
from digest.store.catalog import Catalog, Changes, SnapshotRow
from digest.store.db import RECONNECT_SECONDS, Database, is_server_url
from digest.store.ledger import Claim, DeliveryRow, Ledger
from digest.store.library import Library
from digest.store.readers import Readers
from digest.store.schema import (
    SCHEMA,
    SCHEMA_POSTGRES,
    SCHEMA_VERSION,
    SEALED_LINKS_SINCE,
    only_tables_since,
    upgrade,
)
from digest.store.signups import Queued, SignupRow, Signups
from digest.store.sqlite import Sqlite, store_error


@translating_errors
class Store(Connected):
    """A digest store: a SQLite file or a PostgreSQL database, in parts on one connection:
    `catalog` (dumps, papers, sightings), `readers` (subscribers, feedback, suppressions),
    `ledger` (deliveries), `signups` (pending sign-ups, consent), `bounces` (what came back
    after the relay accepted a message) and `library` (readers' own
    papers). Use `Store.open(path_or_url)` as a context manager."""

    def __init__(self, database: Database, location: Path | str) -> None:
        super().__init__(database, database.path if isinstance(database, Sqlite) else database.name)
        # Where it was opened from (a URL keeps its options), to open it again elsewhere.
        self.location = location
        self.catalog = Catalog(database, self.path)
        self.readers = Readers(database, self.path)
        self.ledger = Ledger(database, self.path)
        self.signups = Signups(database, self.path)
        self.library = Library(database, self.path)
        self.bounces = Bounces(database, self.path)

    @property
    def database(self) -> Database:
        return self._db

    @classmethod
    def open(
        cls,
        location: Path | str,
        *,
        read_only: bool = False,
        timeout: float = 30.0,
        reconnect: float = RECONNECT_SECONDS,
    ) -> Store:
        """Open (and create, or upgrade) a store: a file path, or a `postgresql://` URL.
        Opening takes no write lock unless the store needs creating or upgrading, so readers
        never wait for a long write. `read_only` opens for reading alone (a read-only file or
        folder works) and never creates anything. `timeout` is how long a write waits for
        another process's write to finish. `reconnect`: how long a call tries to connect
        again after a server dropped the connection (PostgreSQL)."""
        deadline = time.monotonic() + timeout
        for attempt in itertools.count():
            try:
                return cls._open_once(location, read_only, timeout, reconnect)
            except StoreBusy:
                # SQLite answers "busy" at once, without waiting, where waiting could deadlock
                # (two processes making one new file): it asks to be tried again.
                if is_server_url(location) or time.monotonic() >= deadline:
                    raise
                time.sleep(min(1.0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    @classmethod
    def _open_once(
        cls, location: Path | str, read_only: bool, timeout: float, reconnect: float
    ) -> Store:
        database: Database
        if is_server_url(location):
            from digest.store import postgres

            database = postgres.connect(str(location), timeout, reconnect)
        else:
            database = Sqlite.open(Path(location), read_only=read_only, timeout=timeout)
        store = cls(database, location)
        try:
            store._migrate(read_only)
            if read_only:  # (a server's empty database was made even to be read)
                database.read_only()
        except database.errors as exc:
            database.close()
            if isinstance(database, Sqlite):
                raise store_error(database.path, exc, opening=True) from None  # type: ignore[arg-type]
            raise database.error(exc) from None
        except StoreError:
            database.close()
            raise
        return store

    @staticmethod
    def exists(location: Path | str) -> bool:
        """Whether there is a store to read (a server is assumed to hold one)."""
        return is_server_url(location) or Path(location).exists()

    def close(self) -> None:
        self._db.close()

    def now(self, local: dt.datetime) -> dt.datetime:
        """The time on the clock every sender of this store compares claims and leases on:
        the server's (PostgreSQL: hosts' clocks may differ), else `local`."""
        return self._db.now(local)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def sealed_links_since(self) -> dt.datetime | None:
        """When this store moved to sealed link tokens (an upgrade from version 11 or older),
        or None for a store that never made an old-form link."""
        if not self._db.has_table("meta"):
            return None
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (SEALED_LINKS_SINCE,)
        ).fetchone()
        return None if row is None else dt.datetime.fromisoformat(row["value"])

    def _schema_version(self) -> int | None:
        if not self._db.has_table("meta"):
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
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
        if self._db.server and version is None:
            self._create_on_server()  # an empty server database: made, even to be read
            return
        if read_only:
            raise StoreError(
                f"database {self.path} has schema {version or 0}, older than this digest's"
                f" ({SCHEMA_VERSION}); run any writing command (such as `digest ingest`) once to"
                " upgrade it"
            )
        if self._db.server:
            if version is not None and only_tables_since(version):
                self._add_tables_on_server()
                return
            raise StoreError(
                f"database {self.path} has schema {version}, older than this digest's"
                f" ({SCHEMA_VERSION}), and no upgrade path on PostgreSQL yet"
            )
        # All under the write lock from the first statement: two processes making a new file
        # at once could otherwise deadlock in SQLite's rollback mode, one told "busy" at once.
        with self.transaction():
            if self._schema_version() == SCHEMA_VERSION:
                return  # another process made it meanwhile
            self._db.script(SCHEMA)
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

    def _create_on_server(self) -> None:
        """A PostgreSQL store is made at the current version, in one transaction, once (two
        processes starting together wait for each other)."""
        with self.transaction() as db:
            if self._schema_version() is not None:
                return
            db.script(SCHEMA_POSTGRES)
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def _add_tables_on_server(self) -> None:
        """A PostgreSQL store whose newer versions only added tables: its idempotent DDL makes
        them, in one transaction, and the version moves on."""
        with self.transaction() as db:
            version = self._schema_version()
            if version == SCHEMA_VERSION:
                return
            db.script(SCHEMA_POSTGRES)
            upgrade(db, version or 0)  # only steps both engines run (only_tables_since)
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    def counts(self) -> dict[str, int]:
        tables = ("snapshots", "papers", "sightings", "deliveries", "sent_papers")
        return {
            table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in tables
        }


__all__ = [
    "SCHEMA_VERSION",
    "BounceEvent",
    "Changes",
    "Claim",
    "DeliveryRow",
    "Queued",
    "SignupRow",
    "SnapshotRow",
    "Store",
    "SubscriberRow",
    "store_error",
]
