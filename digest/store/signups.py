"""Sign-ups waiting for confirmation, and the append-only consent log of each address."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from digest.store._base import Connected, encode_json, iso, translating_errors


@translating_errors
class Signups(Connected):
    """Pending sign-ups (what the reader asked for, until they confirm) and consent events."""

    def request(self, email: str, profile: dict[str, Any], now: dt.datetime) -> None:
        """Keep (or replace) a sign-up until it is confirmed or purged."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO signups(email, profile, requested_at) VALUES (?, ?, ?)"
                " ON CONFLICT (email) DO UPDATE SET profile = excluded.profile,"
                " requested_at = excluded.requested_at",
                (email, encode_json(profile), iso(now)),
            )

    def take(self, email: str) -> tuple[str, dict[str, Any]] | None:
        """The pending sign-up of this address (as it was typed, and its profile), removed;
        None if there is none: of two confirmations at once, one gets it."""
        with self.transaction() as db:
            row = db.execute(
                "DELETE FROM signups WHERE email = ? RETURNING email, profile", (email,)
            ).fetchone()
        return None if row is None else (str(row[0]), dict(json.loads(row[1])))

    def pending(self, email: str) -> bool:
        row = self._db.execute("SELECT 1 FROM signups WHERE email = ?", (email,)).fetchone()
        return row is not None

    def purge(self, before: dt.datetime, now: dt.datetime) -> int:
        """Forget the sign-ups requested before `before` and never confirmed (how many), the
        refusals as old, and the spent proofs of work that expired by `now`."""
        with self.transaction() as db:
            db.execute("DELETE FROM spent_proofs WHERE expires_at < ?", (iso(now),))
            db.execute("DELETE FROM signup_refusals WHERE at < ?", (iso(before),))
            return db.execute("DELETE FROM signups WHERE requested_at < ?", (iso(before),)).rowcount

    def spend(self, signature: str, expires: dt.datetime) -> bool:
        """Record a proof of work as used: False if it was used before (a replayed form)."""
        with self.transaction() as db:
            return (
                db.execute(
                    "INSERT INTO spent_proofs(signature, expires_at) VALUES (?, ?)"
                    " ON CONFLICT (signature) DO NOTHING",
                    (signature, iso(expires)),
                ).rowcount
                == 1
            )

    def refuse(self, reason: str, at: dt.datetime) -> None:
        """Count a sign-up turned away (no address kept: it may not be the requester's)."""
        with self.transaction() as db:
            db.execute("INSERT INTO signup_refusals(at, reason) VALUES (?, ?)", (iso(at), reason))

    def refusals(self, since: dt.datetime) -> dict[str, int]:
        """Sign-ups turned away since `since`, by reason."""
        rows = self._db.execute(
            "SELECT reason, count(*) FROM signup_refusals WHERE at >= ? GROUP BY reason"
            " ORDER BY reason",
            (iso(since),),
        )
        return {str(reason): int(n) for reason, n in rows}

    def log(
        self,
        email: str,
        event: str,
        at: dt.datetime,
        *,
        ip: str = "",
        user_agent: str = "",
        page: str = "",
        text_hash: str = "",
        message_id: str = "",
    ) -> None:
        """Append one consent event (never changed or deleted but with the reader)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO consent_events(email, event, at, ip, user_agent, page, text_hash,"
                " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (email, event, iso(at), ip, user_agent[:500], page[:500], text_hash, message_id),
            )

    def carry(self, email: str, events: Sequence[dict[str, str]]) -> int:
        """Append the events of an exported consent log (a CSV import) that this address's
        log lacks (same event at the same time); how many were added."""
        have = {(e["event"], e["at"]) for e in self.events(email)}
        new = [e for e in events if (e["event"], e["at"]) not in have]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO consent_events(email, event, at, ip, user_agent, page, text_hash,"
                " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        email,
                        e["event"],
                        e["at"],
                        e["ip"],
                        e["user_agent"][:500],
                        e["page"][:500],
                        e["text_hash"],
                        e["message_id"],
                    )
                    for e in new
                ],
            )
        return len(new)

    def events(self, email: str) -> list[dict[str, str]]:
        """An address's consent log, oldest first."""
        rows = self._db.execute(
            "SELECT event, at, ip, user_agent, page, text_hash, message_id FROM consent_events"
            " WHERE email = ? ORDER BY id",
            (email,),
        )
        keys = ("event", "at", "ip", "user_agent", "page", "text_hash", "message_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def times(self, email: str, event: str, since: dt.datetime) -> list[dt.datetime]:
        """When this event happened to this address since `since`."""
        rows = self._db.execute(
            "SELECT at FROM consent_events WHERE email = ? AND event = ? AND at >= ?",
            (email, event, iso(since)),
        )
        return [dt.datetime.fromisoformat(row[0]) for row in rows]

    def count(self, event: str, since: dt.datetime, *, ip: str | None = None) -> int:
        """How often this event happened since `since` (from this IP, if given)."""
        where = " AND ip = ?" if ip is not None else ""
        params: tuple[Any, ...] = (event, iso(since), *((ip,) if ip is not None else ()))
        row = self._db.execute(
            f"SELECT count(*) FROM consent_events WHERE event = ? AND at >= ?{where}",  # noqa: S608
            params,
        ).fetchone()
        return int(row[0])
