"""The PostgreSQL engine: psycopg 3 connections from a pool per server, for several senders on
several hosts. The store's SQL is written once; the few spellings that differ are translated
here, once per statement."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import re
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from digest.errors import StoreBusy, StoreError, StoreFull
from digest.store.db import RECONNECT_SECONDS, Cursor, Database, shown_url

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

# The spellings that differ, SQLite's on the left.
_POSTGRES_SPELLINGS = (
    (" COLLATE NOCASE", ""),  # the address columns are citext there
    ("IN (SELECT value FROM json_each(?))", "= ANY(?)"),
    ("json_each(d.picks) p", "jsonb_array_elements(d.picks::jsonb) p(value)"),
    ("json_extract(p.value, '$.paper_id')", "(p.value->>'paper_id')::bigint"),
    ("instr(", "strpos("),
)
_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=512)
def to_postgres(sql: str) -> str:
    """SQLite's spelling of a statement in PostgreSQL's (psycopg's `%s` parameters)."""
    for sqlite_form, postgres_form in _POSTGRES_SPELLINGS:
        sql = sql.replace(sqlite_form, postgres_form)
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class _Row(tuple[Any, ...]):
    """A result row read by position or by column name, as sqlite3.Row is."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[_Row]:
    index = {name: position for position, name in enumerate(names)}
    return type("Row", (_Row,), {"_index": index, "__slots__": ()})


def _row_factory(cursor: Any) -> Any:
    return _row_class(tuple(column.name for column in cursor.description or ()))


def server_error(name: str, exc: Exception) -> StoreError:
    """One line naming the server, what it said and what to do about it."""
    import psycopg

    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected):
        return StoreBusy(
            f"database {name} is busy: another digest process is writing to it; try again in a"
            " moment"
        )
    if isinstance(exc, psycopg.errors.SerializationFailure):
        return StoreBusy(f"database {name} is busy ({text}); try again in a moment")
    if isinstance(exc, psycopg.errors.DiskFull):
        return StoreFull(
            f"database {name}: the server's disk is full ({text}); nothing was half-written:"
            " free some space and run the command again"
        )
    if isinstance(exc, psycopg.OperationalError):
        return StoreError(
            f"cannot use the PostgreSQL server {name} ({text}); check `database`, that the"
            " server runs, and PGPASSWORD or ~/.pgpass for its password"
        )
    return StoreError(f"database {name}: {text}")


_WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':write'))"
_LOCK = "SELECT {}(hashtext(current_schema() || ':' || %s))"
_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, false)"
# What every connection of a Postgres is set to when it is taken from the pool (a pooled
# connection may come from a store opened otherwise).
_SESSION = (
    "SELECT set_config('lock_timeout', %s, false),"
    " set_config('default_transaction_read_only', %s, false)"
)
# The server's clock is read again after this long; in between it is the last reading plus the
# time this process measured since (every sender compares leases on the server's clock).
CLOCK_READING_SECONDS = 1.0
# A statement with a list of keys (`= ANY(%s)`) is planned for its own list every time: the
# plan psycopg's prepared statement (from its fifth run) would reuse for any list scanned a
# whole edition per claim, 15x slower than planning anew.
_LIST_PARAMETER = "= ANY(%s)"


class Postgres(Database):
    kind = "postgresql"
    server = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def has_table(self, name: str) -> bool:
        found: bool = self.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]
        return found

    def has_column(self, table: str, column: str) -> bool:
        found = self.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? AND column_name = ?",
            (table, column),
        ).fetchone()
        return found is not None

    def continue_ids(self, table: str) -> None:
        self.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608 - our table
            f" greatest((SELECT max(id) FROM {table}), 1))"
        )

    def __init__(
        self,
        pool: psycopg_pool.ConnectionPool[Any],
        url: str,
        timeout: float,
        *,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        import psycopg

        self.errors = (psycopg.Error,)
        self._status = psycopg.pq.TransactionStatus
        self._pool = pool
        self.name = shown_url(url)
        self._held: set[str] = set()
        self._timeout = timeout
        self._reconnect_seconds = reconnect_seconds
        # A write waits this long for another process's, then fails as busy.
        self._lock_timeout = f"{int(timeout * 1000)}ms"
        self._read_only = False
        self._clock: tuple[dt.datetime, float] | None = None  # (server time, monotonic then)
        self._connection: psycopg.Connection[Any] = self._take(timeout)
        self._returned = False  # the connection went back to the pool (a failed reconnect)

    def _take(self, timeout: float) -> psycopg.Connection[Any]:
        """A connection from the pool, set up for this store (a pooled one may have been used
        otherwise: read-only, or with another lock timeout)."""
        connection: psycopg.Connection[Any] = self._pool.getconn(timeout=timeout)
        try:
            connection.execute(_SESSION, (self._lock_timeout, "on" if self._read_only else "off"))
        except BaseException:
            self._pool.putconn(connection)
            raise
        return connection

    def read_only(self) -> None:
        """From now on every transaction of this connection only reads: a write is refused by
        the server itself (a page that must not change anything cannot, whatever its code)."""
        self._read_only = True
        self._connection.execute(_SESSION, (self._lock_timeout, "on"))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        query = to_postgres(sql)
        prepare = False if _LIST_PARAMETER in query else None
        return self._connection.execute(query, params or None, prepare=prepare)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        cursor = self._connection.cursor()
        cursor.executemany(to_postgres(sql), rows)
        return cursor

    def script(self, sql: str) -> None:
        self._connection.execute(sql.encode())  # bytes: several statements, no parameters

    def begin(self, *, shared: bool) -> None:
        self._connection.execute("BEGIN")
        if not shared:  # as SQLite's BEGIN IMMEDIATE: one plain writer at a time
            self._connection.execute(_WRITE_LOCK)

    @property
    def in_transaction(self) -> bool:
        status = self._connection.info.transaction_status
        return status in (self._status.INTRANS, self._status.INERROR)

    def try_lock(self, name: str) -> bool:
        row = self._connection.execute(_LOCK.format("pg_try_advisory_lock"), (name,)).fetchone()
        if row is not None and row[0]:
            self._held.add(name)
            return True
        return False

    def lock(self, name: str) -> None:
        """Waits as long as the holder needs (planning a big edition takes minutes)."""
        self._wait_for_lock(name, "0")  # lock_timeout 0: no limit

    def lock_within(self, name: str, seconds: float) -> bool:
        """Wait at most `seconds` for a named lock; whether this connection holds it then."""
        return self._wait_for_lock(name, f"{max(1, int(seconds * 1000))}ms")

    def _wait_for_lock(self, name: str, limit: str) -> bool:
        """pg_advisory_lock with `limit` as the lock_timeout of this one wait; the store's
        own timeout is set back afterwards."""
        import psycopg

        self._connection.execute(_LOCK_TIMEOUT, (limit,))
        try:
            self._connection.execute(_LOCK.format("pg_advisory_lock"), (name,))
        except psycopg.errors.LockNotAvailable:
            return False
        finally:
            self._connection.execute(_LOCK_TIMEOUT, (self._lock_timeout,))
        self._held.add(name)
        return True

    def unlock(self, name: str) -> None:
        if name in self._held:
            self._connection.execute(_LOCK.format("pg_advisory_unlock"), (name,))
            self._held.discard(name)

    def now(self, local: dt.datetime) -> dt.datetime:
        """The server's clock (UTC): one reading a second, moved on by this process's own
        monotonic clock in between. `local` is not used: senders on hosts whose clocks differ
        must compare leases on one clock."""
        taken = time.monotonic()
        if self._clock is None or taken - self._clock[1] > CLOCK_READING_SECONDS:
            row = self._connection.execute("SELECT clock_timestamp()").fetchone()
            assert row is not None
            self._clock = (row[0].astimezone(dt.UTC), time.monotonic())
        reading, at = self._clock
        return reading + dt.timedelta(seconds=time.monotonic() - at)

    def lost(self) -> bool:
        return bool(self._connection.broken or self._connection.closed)

    def reconnect(self) -> bool:
        """After the server dropped this connection: a new one, tried with growing pauses for
        up to `reconnect_seconds`. Named locks went with the old connection. False when the
        server did not come back in that time."""
        import psycopg
        import psycopg_pool

        if not self._returned:
            self._pool.putconn(self._connection)  # the pool discards a broken connection
            self._returned = True
        self._held.clear()
        deadline = time.monotonic() + self._reconnect_seconds
        pause = 0.05
        while True:
            left = deadline - time.monotonic()
            try:
                self._connection = self._take(max(0.1, min(left, self._timeout)))
            except (psycopg.Error, psycopg_pool.PoolTimeout):
                if time.monotonic() + pause >= deadline:
                    return False
                time.sleep(pause)
                pause = min(2.0, pause * 2)
                continue
            self._returned = False
            return True

    def close(self) -> None:
        if self._returned:
            return
        self._returned = True
        connection = self._connection
        if not connection.closed:
            # The pool checks a returned connection and replaces a broken one.
            with contextlib.suppress(*self.errors):
                if self.in_transaction:
                    connection.execute("ROLLBACK")
                for name in list(self._held):
                    self.unlock(name)
        self._pool.putconn(connection)

    def error(self, exc: Exception) -> StoreError:
        return server_error(self.name, exc)


_pools: dict[str, psycopg_pool.ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()


def connect(url: str, timeout: float, reconnect: float = RECONNECT_SECONDS) -> Postgres:
    """A connection from this process's pool for `url` (made on first use). The password
    comes from the environment (PGPASSWORD) or ~/.pgpass, as for every libpq program."""
    import psycopg
    import psycopg_pool

    name = shown_url(url)
    try:
        with _pools_lock:
            pool = _pools.get(url)
            if pool is None:
                # Fail now, in the server's own words, rather than after the pool's timeout.
                psycopg.connect(url, connect_timeout=max(2, int(min(timeout, 10)))).close()
                pool = psycopg_pool.ConnectionPool(
                    url,
                    min_size=1,
                    max_size=8,
                    kwargs={"autocommit": True, "row_factory": _row_factory},
                    # A connection the server dropped while it sat in the pool (a restart) is
                    # found out before it is handed over, not by the caller's first statement.
                    check=psycopg_pool.ConnectionPool.check_connection,
                    open=True,
                    name=name,
                )
                _pools[url] = pool
        return Postgres(pool, url, timeout, reconnect_seconds=reconnect)
    except psycopg.Error as exc:
        raise server_error(name, exc) from None
    except psycopg_pool.PoolTimeout:
        raise StoreBusy(
            f"database {name}: no connection came free within {timeout:g} s; try again"
        ) from None


@atexit.register
def close_pools() -> None:
    """Close every pool this process opened (tests call it between servers)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
