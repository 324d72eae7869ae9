"""What came back after the relay accepted a message: every bounce, complaint, auto-reply and
receipt tied to a reader, once each (by its event key), with what was done about it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from digest.store._base import Connected, iso, translating_errors


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One event as kept: the reader, when, its kind, the server's status and words, where
    it came from (a file, a mailbox, a provider), the edition and what was done."""

    event_key: str
    email: str
    at: dt.datetime
    kind: str
    status: str = ""
    diagnostic: str = ""
    source: str = ""
    edition_id: str | None = None
    action: str = "none"
    reason: str = ""  # why it came back: user unknown, mailbox full, spam… ('' if unsaid)


_COLUMNS = "event_key, email, at, kind, status, diagnostic, source, edition_id, action, reason"


@translating_errors
class Bounces(Connected):
    """Bounce events per reader."""

    def seen(self, event_key: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM bounce_events WHERE event_key = ?", (event_key,)
        ).fetchone()
        return row is not None

    def record(self, event: BounceEvent) -> bool:
        """Keep an event; False (and nothing kept) if one with its key was kept before."""
        with self.transaction() as db:
            return (
                db.execute(
                    f"INSERT INTO bounce_events({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
                    " ON CONFLICT (event_key) DO NOTHING",
                    (
                        event.event_key,
                        event.email,
                        iso(event.at),
                        event.kind,
                        event.status[:40],
                        event.diagnostic[:500],
                        event.source[:300],
                        event.edition_id,
                        event.action,
                        event.reason[:40],
                    ),
                ).rowcount
                == 1
            )

    def soft_since(self, email: str, since: dt.datetime) -> int:
        """Soft bounces of this reader since `since`, and since their last reported delivery."""
        row = self._db.execute(
            "SELECT count(*) FROM bounce_events WHERE email = ? AND kind = 'soft' AND at >= ?"
            " AND at > coalesce((SELECT max(at) FROM bounce_events WHERE email = ?"
            " AND kind = 'delivered'), '')",
            (email, iso(since), email),
        ).fetchone()
        return int(row[0])

    def events(self, email: str, limit: int = 50) -> list[BounceEvent]:
        """A reader's events, newest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM bounce_events WHERE email = ?"  # noqa: S608
            " ORDER BY at DESC, id DESC LIMIT ?",
            (email, limit),
        )
        return [BounceEvent(r[0], r[1], dt.datetime.fromisoformat(r[2]), *r[3:]) for r in rows]

    def latest(self, emails: list[str]) -> dict[str, BounceEvent]:
        """Each of these readers' newest event that did something (suppressed, counted…)."""
        found: dict[str, BounceEvent] = {}
        for email in emails:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM bounce_events WHERE email = ? AND action != 'none'"  # noqa: S608
                " ORDER BY at DESC, id DESC LIMIT 1",
                (email,),
            ).fetchall()
            if rows:
                r = rows[0]
                found[email] = BounceEvent(r[0], r[1], dt.datetime.fromisoformat(r[2]), *r[3:])
        return found

    def edition_counts(self, edition_id: str) -> dict[str, int]:
        """An edition's events by kind (the readers each kind touched, once each)."""
        rows = self._db.execute(
            "SELECT kind, count(DISTINCT email) FROM bounce_events WHERE edition_id = ?"
            " GROUP BY kind",
            (edition_id,),
        )
        return {str(kind): int(n) for kind, n in rows}

    def edition_reasons(self, edition_id: str) -> dict[str, dict[str, int]]:
        """An edition's events by kind, then by reason (the readers each touched, once each):
        why addresses are being dropped."""
        rows = self._db.execute(
            "SELECT kind, reason, count(DISTINCT email) FROM bounce_events WHERE edition_id = ?"
            " GROUP BY kind, reason ORDER BY kind, reason",
            (edition_id,),
        )
        found: dict[str, dict[str, int]] = {}
        for kind, why, n in rows:
            found.setdefault(str(kind), {})[str(why) or "unstated"] = int(n)
        return found
