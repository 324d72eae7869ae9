"""The delivery ledger: who gets which papers in which edition, and how far each got."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from digest.addresses import address_hash
from digest.models import Basis, Deferral, DeliveryState, RecordedPick
from digest.store._base import SUPPRESS, Connected, iso, translating_errors


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One row of the delivery ledger: who gets which papers in which edition, and how far."""

    edition_id: str
    email: str
    message_id: str
    state: DeliveryState
    picks: tuple[RecordedPick, ...]
    error: str | None
    attempts: int
    retry_at: dt.datetime | None = None
    deferrals: int = 0
    failing_since: dt.datetime | None = None
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """Who is sending (one process, `host:pid:nonce`) and how long a claim on a ledger row
    holds before another sender may take the row over."""

    sender: str
    lease: dt.timedelta

    def until(self, now: dt.datetime) -> dt.datetime:
        return now + self.lease


_TO_SENDING = (
    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?"
    " WHERE edition_id = ? AND email = ? AND state IN ('pending', 'sending', 'deferred')"
)
# The same for a claimed row, only while this sender still holds it; the claim is renewed.
_TO_SENDING_CLAIMED = (
    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?,"
    " lease_until = ? WHERE edition_id = ? AND email = ?"
    " AND state IN ('pending', 'sending', 'deferred') AND claimed_by = ?"
)

# A claim made by an earlier run is void on SQLite: one process sends from a file at a time.
_VOID = "9999-12-31"


@translating_errors
class Ledger(Connected):
    """Deliveries and the papers each reader was sent."""

    def claim(
        self,
        edition_id: str,
        claim: Claim,
        now: dt.datetime,
        limit: int,
        *,
        emails: Sequence[str] | None = None,
    ) -> list[DeliveryRow]:
        """Take up to `limit` of an edition's rows that are due (pending, cut short while
        sending, or deferred until now) and held by nobody: never claimed, or claimed by
        another sender whose lease ran out (it crashed). On PostgreSQL rows another sender is
        claiming at this moment are skipped (FOR UPDATE SKIP LOCKED), so any number of senders
        share an edition without waiting for each other. `emails`: only these readers.
        Leases are given and compared on the store's clock (`Store.now`), never a sender's."""
        now = self._db.now(now)
        stamp = iso(now)
        expired = stamp if self._db.server else _VOID
        only = " AND email IN (SELECT value FROM json_each(?))" if emails is not None else ""
        skip_locked = self._db.skip_locked
        params: list[Any] = [edition_id, stamp, claim.sender, expired]
        params += [*([list(emails)] if emails is not None else []), limit]
        with self.transaction(shared=True) as db:
            # Chosen first, then taken: as one UPDATE … IN (subquery), PostgreSQL may run the
            # subquery again per row and see the rows it just claimed as gone, taking more.
            chosen = [
                row[0]
                for row in db.execute(
                    "SELECT email FROM deliveries WHERE edition_id = ?"  # noqa: S608
                    " AND (state IN ('pending', 'sending')"
                    " OR (state = 'deferred' AND retry_at <= ?))"
                    " AND (claimed_by IS NULL OR (claimed_by != ? AND lease_until < ?))"
                    f"{only} ORDER BY email LIMIT ?{skip_locked}",
                    params,
                )
            ]
            if not chosen:
                return []
            rows = db.execute(
                "UPDATE deliveries SET claimed_by = ?, lease_until = ?"
                " WHERE edition_id = ? AND email IN (SELECT value FROM json_each(?)) RETURNING *",
                (claim.sender, iso(claim.until(now)), edition_id, chosen),
            ).fetchall()
        return sorted(map(_row_to_delivery, rows), key=lambda row: row.email)

    def holders(
        self, edition_id: str, claim: Claim, now: dt.datetime, emails: Iterable[str]
    ) -> dict[str, dt.datetime]:
        """Other senders holding unfinished rows of these readers in this edition, each with
        the moment its first lease runs out (a sender waits for those before it is done).
        Few rows are ever held (a claim is a few readers), so they are filtered here. The
        moments are on the store's clock (`Store.now`)."""
        if not self._db.server:
            return {}
        now = self._db.now(now)
        wanted = {email.casefold() for email in emails}
        rows = self._db.execute(
            "SELECT email, claimed_by, lease_until FROM deliveries WHERE edition_id = ?"
            " AND state IN ('pending', 'sending') AND claimed_by != ? AND lease_until >= ?",
            (edition_id, claim.sender, iso(now)),
        )
        held: dict[str, dt.datetime] = {}
        for email, holder, until in rows:
            if email.casefold() in wanted:
                moment = dt.datetime.fromisoformat(until)
                held[holder] = min(held.get(holder, moment), moment)
        return held

    def unfinished_claims(self, edition_id: str) -> dict[str, int]:
        """For each sender, how many of this edition's rows it holds unfinished (`digest
        status`: a count that stops shrinking is a sender that stopped)."""
        rows = self._db.execute(
            "SELECT claimed_by, count(*) FROM deliveries WHERE edition_id = ?"
            " AND state IN ('pending', 'sending') AND claimed_by IS NOT NULL"
            " GROUP BY claimed_by ORDER BY claimed_by",
            (edition_id,),
        )
        return {holder: int(count) for holder, count in rows}

    def release(self, edition_id: str, sender: str) -> int:
        """Give back a sender's claims on rows it did not finish (it stopped, they were not
        for it, or it died on this host), so another sender takes them at once instead of
        after the lease. Only when none of its messages is in flight: a row left `sending`
        is sent again, with the same Message-ID."""
        with self.transaction(shared=True) as db:
            return db.execute(
                "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL"
                " WHERE edition_id = ? AND claimed_by = ?"
                " AND state IN ('pending', 'sending', 'deferred')",
                (edition_id, sender),
            ).rowcount

    def relay_wait(self, relay: str, interval: float) -> float:
        """Seconds to wait before the next message to `relay`, so that every sender together
        keeps one message per `interval` seconds (PostgreSQL; the server's clock)."""
        with self.transaction(shared=True) as db:
            row = db.execute(
                "INSERT INTO relay_slots(relay, next_at)"
                " VALUES (?, extract(epoch FROM clock_timestamp()) + ?)"
                " ON CONFLICT (relay) DO UPDATE SET next_at = greatest(relay_slots.next_at,"
                " extract(epoch FROM clock_timestamp())) + ?"
                " RETURNING next_at - ? - extract(epoch FROM clock_timestamp())",
                (relay, interval, interval, interval),
            ).fetchone()
        return max(0.0, float(row[0]))

    def delivery(self, edition_id: str, email: str) -> DeliveryRow | None:
        """One ledger row; the address matches regardless of ASCII case."""
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE edition_id = ? AND email = ? COLLATE NOCASE",
            (edition_id, email),
        ).fetchone()
        return _row_to_delivery(row) if row else None

    def by_message_id(self, message_id: str) -> DeliveryRow | None:
        """The delivery that carried this Message-ID (a returned copy names it), if any."""
        row = self._db.execute(
            "SELECT * FROM deliveries WHERE message_id = ? ORDER BY edition_id DESC LIMIT 1",
            (message_id.strip(),),
        ).fetchone()
        return _row_to_delivery(row) if row else None

    def deliveries(self, edition_id: str) -> list[DeliveryRow]:
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE edition_id = ? ORDER BY email", (edition_id,)
        )
        return [_row_to_delivery(row) for row in rows]

    def plan_delivery(
        self,
        edition_id: str,
        email: str,
        message_id: str,
        picks: Sequence[RecordedPick],
        now: dt.datetime,
        *,
        dry_run: bool = False,
        send_empty: bool = False,
    ) -> DeliveryRow:
        """Record who gets which papers before anything is sent, so a resume sends the same.

        An edition without papers is `empty` (not sent) unless `send_empty`. A dry run returns
        the row it would have recorded and records nothing."""
        suppressed = self._db.execute(
            "SELECT 1 FROM suppressions WHERE email = ?"
            " UNION ALL SELECT 1 FROM forgotten WHERE address_hash = ?",
            (email.casefold(), address_hash(email)),
        ).fetchone()
        state = _initial_state(bool(picks), send_empty, suppressed is not None)
        if dry_run:
            return DeliveryRow(edition_id, email, message_id, state, tuple(picks), None, 0)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deliveries(edition_id, email, message_id, state, picks,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (edition_id, email, message_id, state, _picks_json(picks), iso(now)),
            )
        row = self.delivery(edition_id, email)
        assert row is not None
        return row

    def plan_deliveries(
        self,
        rows: Sequence[tuple[str, str, str, Sequence[RecordedPick]]],
        now: dt.datetime,
        *,
        send_empty: bool = False,
        always: Collection[str] = (),
    ) -> None:
        """plan_delivery for many readers in one transaction; rows: (edition, email, id, picks).
        `always`: readers whose edition goes out even without papers (a quiet day's note)."""
        suppressed = {row[0] for row in self._db.execute("SELECT email FROM suppressions")}
        forgotten = {row[0] for row in self._db.execute("SELECT address_hash FROM forgotten")}
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO deliveries(edition_id, email, message_id, state, picks,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    (
                        edition_id,
                        email,
                        message_id,
                        _initial_state(
                            bool(picks),
                            send_empty or email in always,
                            email.casefold() in suppressed or address_hash(email) in forgotten,
                        ),
                        _picks_json(picks),
                        iso(now),
                    )
                    for edition_id, email, message_id, picks in rows
                ),
            )

    def record_progress(
        self,
        edition_id: str,
        now: dt.datetime,
        *,
        sending: Sequence[str] = (),
        sent: Sequence[str] = (),
        failed: Sequence[tuple[str, str, bool]] = (),
        deferred: Sequence[Deferral] = (),
        published: Sequence[str] = (),
        claim: Claim | None = None,
    ) -> int:
        """Move ledger rows in one transaction: `sending` (about to be handed to the relay),
        `sent` (the relay accepted; the papers it carried are recorded as sent to that reader),
        `failed` ((email, error, suppress): a permanent failure also suppresses the address),
        `deferred` (a temporary failure: tried again at its retry_at), `published` (a
        feed-only reader's edition, in their feed: its papers count as sent to them).
        Returns how many rows moved to `sending`: 0 means the row was withdrawn meanwhile (the
        reader unsubscribed) or, with a `claim`, taken over by another sender, so its message
        must not go out; a claim held is renewed. Senders' transactions run side by side on
        PostgreSQL: each touches only the rows it claimed."""
        stamp = iso(now)
        with self.transaction(shared=claim is not None) as db:
            # Only the statements that have rows to touch: this runs once per message sent.
            moved = 0
            if sending and claim is None:
                moved = db.executemany(
                    _TO_SENDING, ((stamp, edition_id, email) for email in sending)
                ).rowcount
            elif sending and claim is not None:
                until = iso(claim.until(db.now(now)))
                moved = db.executemany(
                    _TO_SENDING_CLAIMED,
                    ((stamp, until, edition_id, email, claim.sender) for email in sending),
                ).rowcount
            for state, emails in (("sent", sent), ("published", published)):
                if not emails:
                    continue
                db.executemany(
                    "UPDATE deliveries SET state = ?, error = NULL, retry_at = NULL,"
                    " updated_at = ? WHERE edition_id = ? AND email = ?",
                    ((state, stamp, edition_id, email) for email in emails),
                )
                db.execute(
                    "INSERT INTO sent_papers(email, paper_id, edition_id)"
                    " SELECT d.email, json_extract(p.value, '$.paper_id'), d.edition_id"
                    " FROM deliveries d, json_each(d.picks) p"
                    " WHERE d.edition_id = ? AND d.email IN (SELECT value FROM json_each(?))"
                    " ON CONFLICT DO NOTHING",
                    (edition_id, list(emails)),
                )
            if failed:
                db.executemany(
                    "UPDATE deliveries SET state = 'failed', error = ?, updated_at = ?"
                    " WHERE edition_id = ? AND email = ?",
                    ((error, stamp, edition_id, email) for email, error, _ in failed),
                )
                db.executemany(
                    SUPPRESS,
                    ((email.casefold(), error, stamp) for email, error, drop in failed if drop),
                )
            if deferred:
                db.executemany(
                    "UPDATE deliveries SET state = 'deferred', error = ?, retry_at = ?,"
                    " deferrals = deferrals + 1, failing_since = ?, ambiguous = ?,"
                    " updated_at = ? WHERE edition_id = ? AND email = ?",
                    (
                        (
                            d.error,
                            iso(d.retry_at),
                            iso(d.failing_since),
                            int(d.ambiguous),
                            stamp,
                            edition_id,
                            d.email,
                        )
                        for d in deferred
                    ),
                )
        return moved

    def due_retries(self, now: dt.datetime) -> list[DeliveryRow]:
        """Deferred rows whose time to try again has come, oldest edition first."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE state = 'deferred' AND retry_at <= ?"
            " ORDER BY edition_id, email",
            (iso(now),),
        )
        return [_row_to_delivery(row) for row in rows]

    def retry_failed(self, edition_id: str, now: dt.datetime) -> int:
        """Put an edition's failed deliveries back to pending; returns how many."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE deliveries SET state = 'pending', error = NULL, updated_at = ?,"
                " retry_at = NULL, deferrals = 0, failing_since = NULL, ambiguous = 0"
                " WHERE edition_id = ? AND state = 'failed'",
                (iso(now), edition_id),
            ).rowcount

    def unfinished(self, edition_id: str) -> list[str]:
        """Addresses of an edition still `pending` or `sending` (a run was cut short)."""
        rows = self._db.execute(
            "SELECT email FROM deliveries WHERE edition_id = ? AND state IN ('pending', 'sending')",
            (edition_id,),
        )
        return [row[0] for row in rows]

    def sent_editions(self, email: str, limit: int = 1000) -> list[DeliveryRow]:
        """The editions this address got (mailed, or published to their feed), newest first."""
        rows = self._db.execute(
            "SELECT * FROM deliveries WHERE email = ? COLLATE NOCASE"
            " AND state IN ('sent', 'published') ORDER BY edition_id DESC LIMIT ?",
            (email, limit),
        )
        return [_row_to_delivery(row) for row in rows]

    def last_planned(self, emails: Iterable[str]) -> dict[str, dt.datetime]:
        """For each of these readers who had any edition planned, when their latest one last
        moved (planned, or sent): what came into the store after it is new to them."""
        rows = self._db.execute(
            "SELECT email, max(updated_at) FROM deliveries"
            " WHERE email IN (SELECT value FROM json_each(?)) GROUP BY email",
            (list(emails),),
        )
        return {email: dt.datetime.fromisoformat(moment) for email, moment in rows}

    def delivery_counts(self, edition_id: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT state, count(*) FROM deliveries WHERE edition_id = ? GROUP BY state",
            (edition_id,),
        )
        return {state: count for state, count in rows}

    def latest_mailed(self, email: str) -> str | None:
        """The newest edition a relay accepted for this reader (what a bounce is about when it
        names no edition)."""
        row = self._db.execute(
            "SELECT max(edition_id) FROM deliveries WHERE email = ? COLLATE NOCASE"
            " AND state = 'sent'",
            (email,),
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def latest_edition(self) -> str | None:
        row = self._db.execute("SELECT max(edition_id) FROM deliveries").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def sent_paper_ids(self, emails: Iterable[str]) -> dict[str, set[int]]:
        """For each address, the papers it has already been sent (in any edition)."""
        sent: dict[str, set[int]] = {email: set() for email in emails}
        rows = self._db.execute(
            "SELECT email, paper_id FROM sent_papers"
            " WHERE email IN (SELECT value FROM json_each(?))",
            (list(sent),),
        )
        for email, paper_id in rows:
            sent[email].add(paper_id)
        return sent

    def state_stamp(self, email: str) -> tuple[int, int, int]:
        """Changes whenever what a reader's next edition would hold may change: a new dump, a
        paper sent to them, an edition planned for them."""
        row = self._db.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM snapshots),"
            " (SELECT count(*) FROM sent_papers WHERE email = ?),"
            " (SELECT count(*) FROM deliveries WHERE email = ?)",
            (email, email),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])


def _initial_state(has_picks: bool, send_empty: bool, suppressed: bool) -> DeliveryState:
    """A planned delivery starts `suppressed` (address refused mail for good), `pending`, or
    `empty` (nothing new, and empty editions are not sent)."""
    if suppressed:
        return DeliveryState.SUPPRESSED
    return DeliveryState.PENDING if has_picks or send_empty else DeliveryState.EMPTY


def _moment(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _row_to_delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(
        edition_id=row["edition_id"],
        email=row["email"],
        message_id=row["message_id"],
        state=DeliveryState(row["state"]),
        picks=tuple(_pick_from_json(pick) for pick in json.loads(row["picks"])),
        error=row["error"],
        attempts=row["attempts"],
        retry_at=_moment(row["retry_at"]),
        deferrals=row["deferrals"],
        failing_since=_moment(row["failing_since"]),
        ambiguous=bool(row["ambiguous"]),
    )


def _picks_json(picks: Sequence[RecordedPick]) -> str:
    return json.dumps(
        [
            {
                "paper_id": p.paper_id,
                "score": p.score,
                "reasons": list(p.reasons),
                "evidence": p.evidence,
                "highlights": [list(span) for span in p.highlights],
                "basis": p.basis.value,
                "interest": p.interest,
                "upvote_delta": p.upvote_delta,
            }
            for p in picks
        ]
    )


# Rows recorded before picks kept their basis: it is read back from the first reason.
_OLD_REASONS = (
    ("matches: ", Basis.INTEREST),
    ("similar to papers you liked", Basis.LIKED),
    ("like a paper you asked more of", Basis.FEEDBACK),
    ("by ", Basis.AUTHOR),
)


def _pick_from_json(pick: dict[str, Any]) -> RecordedPick:
    reasons = tuple(pick.get("reasons", ()))
    basis, interest = Basis.POPULAR, ""
    if "basis" in pick:
        basis, interest = Basis(pick["basis"]), pick.get("interest", "")
    else:
        first = reasons[0] if reasons else ""
        for prefix, old in _OLD_REASONS:
            if first.startswith(prefix):
                basis = old
                interest = (
                    first.removeprefix(prefix).split(", ")[0] if old is Basis.INTEREST else ""
                )
                break
    return RecordedPick(
        paper_id=int(pick["paper_id"]),
        score=float(pick.get("score", 0.0)),
        reasons=reasons,
        evidence=pick.get("evidence", ""),
        highlights=tuple((int(a), int(b)) for a, b in pick.get("highlights", ())),
        basis=basis,
        interest=interest,
        upvote_delta=int(pick.get("upvote_delta", 0)),
    )
