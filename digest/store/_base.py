"""What every part of the store shares: the connection, the transaction, the error
translation (a public method never raises a raw sqlite3 error)."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from digest.errors import StoreBusy, StoreError


def store_error(path: Path, exc: sqlite3.Error, *, opening: bool = False) -> StoreError:
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
        return StoreError(
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


_Class = TypeVar("_Class", bound=type)


def _translating_errors(cls: _Class) -> _Class:
    """Every public method of the store raises StoreError, never a raw sqlite3 error."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def translated(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc) from None

        return translated

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and name != "transaction" and inspect.isfunction(member):
            setattr(cls, name, wrap(member))
    return cls


_encode_json = json.JSONEncoder(ensure_ascii=False).encode


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Connected:
    """The SQLite connection a part of the store works on (Store supplies it)."""

    _db: sqlite3.Connection
    path: Path

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back itself (disk full)
                self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise store_error(self.path, exc) from None
