"""The SQLite engine: one file in WAL mode, the embedded default."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from digest.errors import StoreBusy, StoreError, StoreFull, StoreMissing
from digest.store.db import Cursor, Database


def store_error(path: Path | str, exc: sqlite3.Error, *, opening: bool = False) -> StoreError:
    """One line naming the file, what SQLite found and what to do about it."""
    text = str(exc)
    folded = text.casefold()
    if "locked" in folded or "busy" in folded:
        return StoreBusy(
            f"database {path} is busy: another digest process is writing to it; try again in a"
            " moment"
        )
    if "malformed" in folded or "not a database" in folded or "corrupt" in folded:
        return StoreError(
            f"database {path} is damaged ({text}); restore it from a backup, or rescue what is"
            f" left with `sqlite3 {path} .recover`"
        )
    if "full" in folded:
        return StoreFull(
            f"database {path}: the disk is full ({text}); nothing was half-written: free some"
            " space and run the command again"
        )
    if "readonly" in folded or "read-only" in folded:
        return StoreError(
            f"database {path} is read-only ({text}); check the permissions of the file and its"
            " folder"
        )
    if "unable to open" in folded:
        return StoreError(f"cannot open database {path} ({text}); check the path and permissions")
    if opening:
        return StoreError(f"database {path} is not a usable digest store ({text})")
    return StoreError(f"database {path}: {text}")


def _param(value: Any) -> Any:
    """A list of keys travels as JSON, for `IN (SELECT value FROM json_each(?))`."""
    return json.dumps(value) if isinstance(value, list) else value


class Sqlite(Database):
    kind = "sqlite"

    @property
    def send_lock_file(self) -> Path | None:
        return self.path.with_name(self.path.name + ".send-lock")

    def continue_ids(self, table: str) -> None:
        """SQLite's ids continue after the largest there by themselves."""

    errors = (sqlite3.Error,)

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path
        self.name = str(path)

    @classmethod
    def open(cls, path: Path, *, read_only: bool, timeout: float) -> Sqlite:
        if path.is_dir():
            raise StoreError(f"database {path} is a directory; set `database` to a file path")
        if not path.parent.exists():
            raise StoreError(f"database folder {path.parent} does not exist; create it first")
        if read_only and not path.exists():
            raise StoreMissing(
                f"database {path} does not exist yet; `digest ingest` some dumps first"
            )
        try:
            return cls(_connect(path, read_only, timeout), path)
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._connection.execute(sql, [_param(value) for value in params])

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        return self._connection.executemany(sql, rows)

    def script(self, sql: str) -> None:
        # One statement at a time: executescript would commit the caller's transaction.
        for statement in sql.split(";"):
            if statement.strip():
                self._connection.execute(statement)

    def begin(self, *, shared: bool) -> None:
        # BEGIN IMMEDIATE takes the write lock up front; SQLite has no finer one.
        self._connection.execute("BEGIN IMMEDIATE")

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def close(self) -> None:
        self._connection.close()

    # One process sends from a file at a time (the send lock beside it), so named locks,
    # which several senders on a server need, are always granted here.
    def try_lock(self, name: str) -> bool:
        return True

    def lock(self, name: str) -> None:
        return None

    def unlock(self, name: str) -> None:
        return None

    def read_only(self) -> None:
        """Nothing to do: a store meant to be read is opened read-only (mode=ro)."""

    def error(self, exc: Exception) -> StoreError:
        assert isinstance(exc, sqlite3.Error)
        return store_error(self.path, exc)


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
