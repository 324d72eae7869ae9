"""Connections: one small interface over SQLite (a file, the default) and PostgreSQL (a server,
for several senders on several hosts).

The store writes its SQL once, in the common dialect of both (`?` parameters, `ON CONFLICT`,
`RETURNING`); a Python list passed as a parameter is a list of keys for `IN (SELECT value FROM
json_each(?))`. `Postgres` translates the few spellings that differ, once per statement.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from digest.errors import StoreError

SERVER_SCHEMES = ("postgresql", "postgres")
# How long a store tries to get a connection again after the server dropped its own (the
# server restarted, or an administrator ended the session), before the error is the caller's.
RECONNECT_SECONDS = 60.0


def is_server_url(database: Path | str) -> bool:
    """A `postgresql://…` URL names a server; anything else is a SQLite file's path."""
    return isinstance(database, str) and urlsplit(database).scheme in SERVER_SCHEMES


def shown_url(url: str) -> str:
    """The URL as messages show it: never a password, never the query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(ABC):
    """One connection, whichever the engine. `transaction()` is one write transaction;
    `shared=True` lets writers of disjoint rows (senders claiming their own readers) run at
    once where the engine can, where a plain one excludes every other writer as SQLite does."""

    kind: str
    name: str  # the file or the URL, as messages show it
    errors: tuple[type[Exception], ...]
    # A server that senders on several hosts share: they claim rows and never hold a file lock;
    # its schema is made on first open. False: a file one process writes at a time.
    server: bool = False
    # How a SELECT asks to pass over rows another transaction is claiming ("" where one writer
    # is alone anyway).
    skip_locked: str = ""

    @property
    def send_lock_file(self) -> Path | None:
        """The file senders take turns on (a store that is a file), else None."""
        return None

    def has_table(self, name: str) -> bool:
        """Whether the store has this table (its schema exists)."""
        found = self.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def has_column(self, table: str, column: str) -> bool:
        """Whether a table of the store has this column."""
        rows = self.execute(f"PRAGMA table_info({table})").fetchall()
        return any(row[1] == column for row in rows)

    @abstractmethod
    def continue_ids(self, table: str) -> None:
        """After rows were copied in with their ids: new rows continue after them (a server's
        sequences do not follow copied ids by themselves; a file's ids always do)."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor: ...

    @abstractmethod
    def script(self, sql: str) -> None:
        """Several statements (the schema), inside the caller's transaction."""

    @abstractmethod
    def begin(self, *, shared: bool) -> None: ...

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def error(self, exc: Exception) -> StoreError:
        """The engine's error as one line naming the store and what to do."""

    @abstractmethod
    def try_lock(self, name: str) -> bool:
        """Take a named lock for this connection's life (or until `unlock`) if it is free."""

    @abstractmethod
    def lock(self, name: str) -> None:
        """Wait for a named lock (see try_lock), however long its holder keeps it."""

    @abstractmethod
    def unlock(self, name: str) -> None:
        """Give a named lock back."""

    def lock_within(self, name: str, seconds: float) -> bool:
        """Wait at most `seconds` for a named lock; whether it is held then."""
        self.lock(name)
        return True

    def now(self, local: dt.datetime) -> dt.datetime:
        """The clock every writer of this store compares leases on: a server's own (senders on
        several hosts), or `local`, the caller's, where one machine writes (a file)."""
        return local

    @abstractmethod
    def read_only(self) -> None:
        """Refuse every write from now on."""

    def lost(self) -> bool:
        """Whether the connection is gone (the server restarted or dropped it)."""
        return False

    def reconnect(self) -> bool:
        """A new connection after `lost()`, within a bounded wait; False if none came."""
        return False


@contextmanager
def held(database: Database, name: str) -> Iterator[None]:
    """`lock(name)` for the length of a block."""
    database.lock(name)
    try:
        yield
    finally:
        database.unlock(name)
