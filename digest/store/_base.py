"""What every part of the store shares: the connection, the transaction, the error
translation (a public method never raises the engine's own error)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from digest.errors import StoreError
from digest.store.db import Database

_Class = TypeVar("_Class", bound=type)
# How many times one call of the store is run again on a new connection (a server that takes
# every connection only to drop it again is an error, not a wait).
MAX_RECONNECTS = 5


def translating_errors(cls: _Class) -> _Class:
    """Every public method of the store raises StoreError, never the engine's own error. A
    method that failed because the server dropped the connection (a restart, an administrator
    ending the session) runs again on a new connection once the server answers, as long as it
    owns its transaction: each is one transaction, rolled back with the connection it ran on."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
            db = self._db
            inside = db.in_transaction  # a caller's transaction cannot be run again here
            for attempt in itertools.count(1):
                try:
                    return method(self, *args, **kwargs)
                except (*db.errors, StoreError) as exc:
                    # (A failed BEGIN or COMMIT arrives already translated.)
                    again = not inside and attempt < MAX_RECONNECTS and db.lost()
                    if not again or not db.reconnect():
                        if isinstance(exc, StoreError):
                            raise
                        raise db.error(exc) from None
            raise AssertionError("unreachable")

        return translated

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and name != "transaction" and inspect.isfunction(member):
            setattr(cls, name, wrap(member))
    return cls


# LIMIT for "every row" in both engines (SQLite's -1 is an error in PostgreSQL).
ALL_ROWS = 2**62

# Suppress an address, or say why again (both engines' upsert).
SUPPRESS = (
    "INSERT INTO suppressions(email, reason, created_at) VALUES (?, ?, ?)"
    " ON CONFLICT(email) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at"
)

encode_json = json.JSONEncoder(ensure_ascii=False).encode


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Connected:
    """The connection a part of the store works on (Store supplies it)."""

    _db: Database
    # The file (SQLite) or the server URL without its password (PostgreSQL), for messages.
    path: Path | str

    def __init__(self, database: Database, path: Path | str) -> None:
        self._db = database
        self.path = path

    @contextmanager
    def transaction(self, *, shared: bool = False) -> Iterator[Database]:
        """One write transaction. A plain one excludes every other writer of the store (SQLite's
        BEGIN IMMEDIATE; on PostgreSQL an advisory lock); `shared` lets writers of disjoint rows
        (senders, each on the readers it claimed) commit side by side where the engine can.
        Inside a caller's transaction (`store.transaction()` around several parts' writes) it
        joins that one: everything commits together, or nothing does."""
        db = self._db
        if db.in_transaction:
            yield db
            return
        try:
            db.begin(shared=shared)
        except db.errors as exc:
            raise db.error(exc) from None
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back itself (disk full)
                with contextlib.suppress(*db.errors):
                    db.rollback()
            raise
        else:
            try:
                db.commit()
            except db.errors as exc:
                if db.in_transaction:
                    db.rollback()
                raise db.error(exc) from None
