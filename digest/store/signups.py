"""Sign-ups by their own id until confirmed, the mail queue a request leaves for a worker,
attempts and refusals counted (never a row per request), and the append-only consent log of
each address."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from digest.store._base import Connected, encode_json, iso, translating_errors
from digest.store.ledger import Claim

_SIGNUP_COLUMNS = (
    "id, email, profile, requested_at, ip, user_agent, page, text_hash, mailed_at, message_id,"
    " confirmed_at"
)
_QUEUE_COLUMNS = "id, kind, email, ref, queued_at, attempts"


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _moment(text: str | None) -> dt.datetime | None:
    return None if text is None else _when(text)


@dataclass(frozen=True, slots=True)
class SignupRow:
    """One sign-up: its id (its link names it), the address as typed, what the reader asked
    for, where the request came from (as `[signup] record_ip` keeps it), and when its
    confirmation went out and when it was confirmed."""

    id: str
    email: str
    profile: dict[str, Any]
    requested_at: dt.datetime
    ip: str = ""
    user_agent: str = ""
    page: str = ""
    text_hash: str = ""
    mailed_at: dt.datetime | None = None
    message_id: str = ""
    confirmed_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> SignupRow:
        return cls(
            id=str(row[0]),
            email=str(row[1]),
            profile=dict(json.loads(row[2])),
            requested_at=_when(row[3]),
            ip=row[4],
            user_agent=row[5],
            page=row[6],
            text_hash=row[7],
            mailed_at=_moment(row[8]),
            message_id=row[9],
            confirmed_at=_moment(row[10]),
        )


@dataclass(frozen=True, slots=True)
class Queued:
    """Mail a request asked for, waiting for a worker: `kind` (a confirmation, a first
    edition), the address, what it refers to (the sign-up's id) and how often it was tried."""

    id: int
    kind: str
    email: str
    ref: str
    queued_at: dt.datetime
    attempts: int


@translating_errors
class Signups(Connected):
    """Pending sign-ups (what the reader asked for, until they confirm), the mail queue,
    counted attempts and refusals, and consent events."""

    # -- sign-ups ------------------------------------------------------------------------

    def add(self, row: SignupRow, address_key: str) -> None:
        """Keep a new sign-up (never replacing another: each has its own id and link)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO signup_requests(id, email, address_key, profile, requested_at, ip,"
                " user_agent, page, text_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.email,
                    address_key,
                    encode_json(row.profile),
                    iso(row.requested_at),
                    row.ip,
                    row.user_agent[:500],
                    row.page[:500],
                    row.text_hash,
                ),
            )

    def signup(self, signup_id: str) -> SignupRow | None:
        row = self._db.execute(
            f"SELECT {_SIGNUP_COLUMNS} FROM signup_requests WHERE id = ?",  # noqa: S608
            (signup_id,),
        ).fetchone()
        return None if row is None else SignupRow.from_row(row)

    def pending(self, email: str) -> bool:
        """Whether a sign-up of this address waits for its confirmation."""
        row = self._db.execute(
            "SELECT 1 FROM signup_requests WHERE email = ? AND confirmed_at IS NULL", (email,)
        ).fetchone()
        return row is not None

    def mailed(self, signup_id: str, at: dt.datetime, message_id: str) -> None:
        """The sign-up's confirmation went out."""
        with self.transaction() as db:
            db.execute(
                "UPDATE signup_requests SET mailed_at = ?, message_id = ? WHERE id = ?",
                (iso(at), message_id, signup_id),
            )

    def unmailed(self, signup_id: str) -> None:
        """The sign-up's confirmation did not go out after all (the relay could not take it)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE signup_requests SET mailed_at = NULL, message_id = '' WHERE id = ?",
                (signup_id,),
            )

    def drop(self, signup_id: str) -> None:
        """Forget a sign-up that gets no confirmation (its address is a reader, it is over
        the per-address limit, or its relay refused the address)."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM signup_requests WHERE id = ? AND confirmed_at IS NULL", (signup_id,)
            )

    def mailed_times(self, address_key: str, since: dt.datetime) -> list[dt.datetime]:
        """When confirmations went to this inbox (its `limit_key`) since `since`."""
        rows = self._db.execute(
            "SELECT mailed_at FROM signup_requests WHERE address_key = ? AND mailed_at >= ?",
            (address_key, iso(since)),
        )
        return [dt.datetime.fromisoformat(row[0]) for row in rows]

    def confirm(self, signup_id: str, at: dt.datetime) -> bool:
        """Mark a sign-up confirmed (False if it was already, or is gone: of two confirmations
        at once, one gets it). Its request's details are dropped (the consent log has them
        now). The address's other sign-ups still waiting are settled with it, emptied: their
        links say "already confirmed" and change nothing."""
        with self.transaction() as db:
            row = db.execute(
                "UPDATE signup_requests SET confirmed_at = ?, ip = '', user_agent = '',"
                " page = '' WHERE id = ? AND confirmed_at IS NULL RETURNING email",
                (iso(at), signup_id),
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE signup_requests SET confirmed_at = ?, profile = '{}', ip = '',"
                " user_agent = '', page = '' WHERE email = ? AND confirmed_at IS NULL",
                (iso(at), row[0]),
            )
            db.execute(
                "DELETE FROM mail_queue WHERE kind = 'confirmation' AND email = ?", (row[0],)
            )
            return True

    def requested_since(self, since: dt.datetime) -> tuple[int, int]:
        """Sign-ups requested since `since` that are kept (not turned away), and
        confirmations mailed since then."""
        row = self._db.execute(
            "SELECT (SELECT count(*) FROM signup_requests WHERE requested_at >= ?),"
            " (SELECT count(*) FROM signup_requests WHERE mailed_at >= ?)",
            (iso(since), iso(since)),
        ).fetchone()
        return int(row[0]), int(row[1])

    def purge(self, before: dt.datetime, now: dt.datetime) -> int:
        """Forget the sign-ups requested before `before` (how many were never confirmed),
        with everything they kept of the request; the counts of attempts and refusals as old,
        the spent proofs of work that expired by `now`; and the consent events an earlier
        digest wrote for sign-ups never confirmed (no reader, no confirmation)."""
        cutoff = iso(before)
        with self.transaction() as db:
            db.execute("DELETE FROM spent_proofs WHERE expires_at < ?", (iso(now),))
            db.execute("DELETE FROM signup_refusal_counts WHERE hour < ?", (cutoff,))
            db.execute("DELETE FROM signup_counts WHERE window_start < ?", (cutoff,))
            db.execute(
                "DELETE FROM consent_events WHERE at < ? AND event IN ('requested',"
                " 'confirmation sent', 'refused')"
                " AND email NOT IN (SELECT email FROM subscribers)"
                " AND email NOT IN (SELECT email FROM consent_events WHERE event = 'confirmed')",
                (cutoff,),
            )
            forgotten = db.execute(
                "DELETE FROM signup_requests WHERE requested_at < ? AND confirmed_at IS NULL",
                (cutoff,),
            ).rowcount
            db.execute("DELETE FROM signup_requests WHERE requested_at < ?", (cutoff,))
            db.execute(
                "DELETE FROM mail_queue WHERE kind = 'confirmation'"
                " AND ref NOT IN (SELECT id FROM signup_requests)"
            )
            return int(forgotten)

    # -- attempts, refusals, proofs of work ------------------------------------------------

    def attempt(self, key: str, window: dt.datetime, hour: dt.timedelta) -> tuple[int, int]:
        """Count one attempt under `key` in the window starting at `window`: the attempts
        counted before it in this window and in the one before. Windows older than those
        two are forgotten."""
        start, previous = iso(window), iso(window - hour)
        with self.transaction() as db:
            db.execute("DELETE FROM signup_counts WHERE window_start < ?", (previous,))
            counts = dict(
                db.execute(
                    "SELECT window_start, n FROM signup_counts WHERE key = ?"
                    " AND window_start IN (?, ?)",
                    (key, start, previous),
                ).fetchall()
            )
            db.execute(
                "INSERT INTO signup_counts(key, window_start, n) VALUES (?, ?, 1)"
                " ON CONFLICT (key, window_start) DO UPDATE SET n = signup_counts.n + 1",
                (key, start),
            )
        return int(counts.get(start, 0)), int(counts.get(previous, 0))

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
        """Count a sign-up turned away, in its hour (no address kept: it may not be the
        requester's; one row per hour and reason, however many requests)."""
        hour = at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO signup_refusal_counts(hour, reason, n) VALUES (?, ?, 1)"
                " ON CONFLICT (hour, reason) DO UPDATE SET n = signup_refusal_counts.n + 1",
                (iso(hour), reason),
            )

    def refusals(self, since: dt.datetime) -> dict[str, int]:
        """Sign-ups turned away since `since` (to the hour), by reason."""
        hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        rows = self._db.execute(
            "SELECT reason, sum(n) FROM signup_refusal_counts WHERE hour >= ? GROUP BY reason"
            " ORDER BY reason",
            (iso(hour),),
        )
        return {str(reason): int(n) for reason, n in rows}

    # -- the mail queue ------------------------------------------------------------------

    def enqueue(self, kind: str, email: str, ref: str, now: dt.datetime) -> bool:
        """Queue a message for the worker, once per kind, address and reference (False if it
        is queued already)."""
        key = f"{kind}:{email.casefold()}:{ref}"
        with self.transaction() as db:
            return (
                db.execute(
                    "INSERT INTO mail_queue(key, kind, email, ref, queued_at, due_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    (key, kind, email, ref, iso(now), iso(now)),
                ).rowcount
                == 1
            )

    def claim_queued(self, claim: Claim, now: dt.datetime) -> Queued | None:
        """Take the next queued message that is due and held by nobody (or by a worker whose
        lease ran out), confirmations first; None when there is none."""
        server_now = self._db.now(now)  # leases on the store's clock, as the ledger's
        with self.transaction() as db:
            row = db.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM mail_queue WHERE due_at <= ?"  # noqa: S608
                " AND (claimed_by IS NULL OR lease_until < ?)"
                " ORDER BY kind = 'confirmation' DESC, due_at, id LIMIT 1",
                (iso(now), iso(server_now)),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE mail_queue SET claimed_by = ?, lease_until = ? WHERE id = ?",
                (claim.sender, iso(claim.until(server_now)), row[0]),
            )
        return Queued(int(row[0]), str(row[1]), str(row[2]), str(row[3]), _when(row[4]), row[5])

    def sent_queued(self, queued_id: int) -> None:
        """A queued message is done with (sent, or not to be sent)."""
        with self.transaction() as db:
            db.execute("DELETE FROM mail_queue WHERE id = ?", (queued_id,))

    def requeue(self, queued_id: int, due: dt.datetime, error: str) -> None:
        """Try a queued message again at `due` (another attempt counted), held by nobody."""
        with self.transaction() as db:
            db.execute(
                "UPDATE mail_queue SET due_at = ?, error = ?, attempts = attempts + 1,"
                " claimed_by = NULL, lease_until = NULL WHERE id = ?",
                (iso(due), error[:500], queued_id),
            )

    def next_queued(self) -> dt.datetime | None:
        """When the next queued message is due (None: nothing is queued)."""
        row = self._db.execute("SELECT min(due_at) FROM mail_queue").fetchone()
        return _moment(row[0])

    # -- the consent log -----------------------------------------------------------------

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

    def count(self, event: str, since: dt.datetime) -> int:
        """How often this event happened since `since`."""
        row = self._db.execute(
            "SELECT count(*) FROM consent_events WHERE event = ? AND at >= ?",
            (event, iso(since)),
        ).fetchone()
        return int(row[0])
