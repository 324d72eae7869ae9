"""Readers: subscribers kept in the store, their feedback, and who gets no mail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from digest.addresses import address_hash
from digest.models import StoredPaper
from digest.profile import SubscriberRow
from digest.store._base import (
    ALL_ROWS,
    SUPPRESS,
    Connected,
    encode_json,
    iso,
    translating_errors,
)
from digest.store.catalog import PAPER_COLUMNS, row_to_paper


@translating_errors
class Readers(Connected):
    """Subscribers, feedback and suppressions."""

    def upsert_subscribers(self, rows: Sequence[SubscriberRow], now: dt.datetime) -> int:
        """Add or update subscribers in one transaction; returns how many were new."""
        stamp = iso(now)
        with self.transaction() as db:
            before = db.execute("SELECT count(*) FROM subscribers").fetchone()[0]
            db.executemany(
                "INSERT INTO subscribers(email, name, profile, send_at, timezone, weekdays_only,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(email) DO UPDATE SET name = excluded.name,"
                " profile = excluded.profile, send_at = excluded.send_at,"
                " timezone = excluded.timezone, weekdays_only = excluded.weekdays_only,"
                " updated_at = excluded.updated_at",
                (
                    (
                        r.email,
                        r.name,
                        encode_json(r.profile),
                        r.send_at,
                        r.timezone,
                        None if r.weekdays_only is None else int(r.weekdays_only),
                        stamp,
                        stamp,
                    )
                    for r in rows
                ),
            )
            after = db.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        return int(after - before)

    def subscriber_rows(
        self,
        email: str | None = None,
        *,
        containing: str = "",
        offset: int = 0,
        limit: int = -1,
    ) -> list[SubscriberRow]:
        """Subscribers kept in the store, by address: the one with this address, or those whose
        address contains `containing` (any case), `limit` of them from `offset` (-1: all)."""
        query = "SELECT email, name, profile, send_at, timezone, weekdays_only FROM subscribers"
        if email is not None:
            rows = self._db.execute(query + " WHERE email = ?", (email,))
        else:
            rows = self._db.execute(
                query + " WHERE instr(lower(email), ?) > 0 ORDER BY email LIMIT ? OFFSET ?",
                (containing.casefold(), ALL_ROWS if limit < 0 else limit, offset),
            )
        return [
            SubscriberRow(
                r[0], r[1], json.loads(r[2]), r[3], r[4], None if r[5] is None else bool(r[5])
            )
            for r in rows
        ]

    def count_subscribers(self, containing: str = "") -> int:
        row = self._db.execute(
            "SELECT count(*) FROM subscribers WHERE instr(lower(email), ?) > 0",
            (containing.casefold(),),
        ).fetchone()
        return int(row[0])

    def subscriber_schedules(self) -> list[tuple[str | None, str | None, bool | None]]:
        """The distinct (send_at, timezone, weekdays_only) of stored subscribers (None: unset)."""
        rows = self._db.execute("SELECT DISTINCT send_at, timezone, weekdays_only FROM subscribers")
        return [(r[0], r[1], None if r[2] is None else bool(r[2])) for r in rows]

    def stored_addresses(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses have a row in the subscribers table (casefolded)."""
        rows = self._db.execute(
            "SELECT email FROM subscribers WHERE email IN (SELECT value FROM json_each(?))",
            (list(emails),),
        )
        return {row[0].casefold() for row in rows}

    def remove_subscriber(self, email: str, now: dt.datetime) -> bool:
        """Remove a reader: their row, feedback, library, sign-ups, queued mail and consent
        log, in one transaction; their sending history stays. A hash of the address is kept,
        so it is not mailed again without new consent (a confirmed sign-up, or
        `resubscribe`)."""
        with self.transaction() as db:
            tables = ("feedback", "library", "signup_requests", "mail_queue", "consent_events")
            for table in tables:
                db.execute(f"DELETE FROM {table} WHERE email = ?", (email,))  # noqa: S608
            db.execute(
                "INSERT INTO forgotten(address_hash, forgotten_at) VALUES (?, ?)"
                " ON CONFLICT (address_hash) DO NOTHING",
                (address_hash(email), iso(now)),
            )
            return db.execute("DELETE FROM subscribers WHERE email = ?", (email,)).rowcount > 0

    def forgotten(self, email: str) -> bool:
        """Whether this address was deleted (and has not consented again since)."""
        row = self._db.execute(
            "SELECT 1 FROM forgotten WHERE address_hash = ?", (address_hash(email),)
        ).fetchone()
        return row is not None

    def record_feedback(
        self, email: str, paper_ids: Sequence[int], verdict: str, now: dt.datetime
    ) -> None:
        """ "more" or "less" like these papers, for this reader (the latest word wins)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO feedback(email, paper_id, verdict, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(email, paper_id) DO UPDATE SET verdict = excluded.verdict,"
                " created_at = excluded.created_at",
                ((email.casefold(), paper_id, verdict, iso(now)) for paper_id in paper_ids),
            )

    def forget_feedback(self, email: str, paper_ids: Sequence[int]) -> int:
        """Undo feedback on these papers; returns how many rows went."""
        with self.transaction() as db:
            return db.executemany(
                "DELETE FROM feedback WHERE email = ? AND paper_id = ?",
                ((email.casefold(), paper_id) for paper_id in paper_ids),
            ).rowcount

    def feedback(
        self, emails: Iterable[str], *, latest: int = ALL_ROWS
    ) -> dict[str, dict[str, list[StoredPaper]]]:
        """Each reader's feedback: {"more": [...], "less": [...]}, oldest first; `latest`:
        only that many of the newest of each verdict (the ranker's cap)."""
        wanted = {email.casefold(): email for email in emails}
        found: dict[str, dict[str, list[StoredPaper]]] = {
            email: {"more": [], "less": []} for email in wanted.values()
        }
        rows = self._db.execute(
            f"SELECT f.email, f.verdict, {PAPER_COLUMNS} FROM ("  # noqa: S608
            " SELECT email, verdict, paper_id, created_at, row_number() OVER (PARTITION BY"
            " email, verdict ORDER BY created_at DESC, paper_id DESC) AS newest FROM feedback"
            " WHERE email IN (SELECT value FROM json_each(?))) f"
            " JOIN papers p ON p.id = f.paper_id WHERE f.newest <= ?"
            " ORDER BY f.created_at, f.paper_id",
            (list(wanted), latest),
        )
        for row in rows:
            found[wanted[row["email"]]][row["verdict"]].append(row_to_paper(row))
        return found

    def unsubscribe(self, email: str, now: dt.datetime, reason: str = "unsubscribed") -> None:
        """Stop all mail to an address at once: suppress it, and withdraw whatever of an
        edition was planned for it but not handed to a relay yet (one transaction)."""
        stamp = iso(now)
        with self.transaction() as db:
            db.execute(
                SUPPRESS,
                (email.casefold(), reason, stamp),
            )
            db.execute(
                "UPDATE deliveries SET state = 'suppressed', updated_at = ?"
                " WHERE email = ? COLLATE NOCASE AND state IN ('pending', 'failed', 'deferred')",
                (stamp, email),
            )

    def suppressions(self) -> dict[str, str]:
        """Every suppressed address (casefolded) with the reason."""
        return {
            row[0]: row[1] for row in self._db.execute("SELECT email, reason FROM suppressions")
        }

    def suppressed(self, email: str) -> str | None:
        """Why this address gets no more mail, or None."""
        row = self._db.execute(
            "SELECT reason FROM suppressions WHERE email = ?", (email.casefold(),)
        ).fetchone()
        if row is None and self.forgotten(email):
            return "deleted"
        return None if row is None else str(row[0])

    def unsuppress(self, email: str, *, only_unsubscribed: bool = False) -> bool:
        """Mail an address again. With `only_unsubscribed`, only the reader's own unsubscribe
        is lifted, never a bounce (a relay's 5xx)."""
        with self.transaction() as db:
            deleted = db.execute(
                "DELETE FROM suppressions WHERE email = ?"
                " AND (? = 0 OR reason LIKE 'unsubscribed%')",
                (email.casefold(), int(only_unsubscribed)),
            )
            lifted = deleted.rowcount
            if not only_unsubscribed:  # a deleted address: its new consent, or the operator's
                lifted += db.execute(
                    "DELETE FROM forgotten WHERE address_hash = ?", (address_hash(email),)
                ).rowcount
            return lifted > 0
