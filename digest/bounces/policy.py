"""What a bounce does to a reader: a hard bounce suppresses at once; a soft one is counted
and suppresses once `[bounces] soft_limit` came within `soft_days` with no delivery reported
in between; a complaint unsubscribes and suppresses; nothing else ever counts."""

from __future__ import annotations

import datetime as dt
import enum

from digest.bounces.patterns import Reason
from digest.bounces.verdicts import Kind, Verdict


class Action(enum.StrEnum):
    """What was done (`action` in `digest bounces process --json`)."""

    SUPPRESSED = "suppressed"
    COUNTED = "counted"
    UNSUBSCRIBED = "unsubscribed"
    NONE = "none"


def decide(kind: Kind, soft_count: int, soft_limit: int) -> Action:
    """The action for a reader's event; `soft_count` includes this one if it is soft."""
    if kind is Kind.HARD:
        return Action.SUPPRESSED
    if kind is Kind.COMPLAINT:
        return Action.UNSUBSCRIBED
    if kind is Kind.SOFT:
        return Action.SUPPRESSED if soft_count >= soft_limit else Action.COUNTED
    return Action.NONE


def reason(verdict: Verdict, action: Action, soft_count: int, soft_days: float) -> str:
    """Why the address is suppressed, in the words the reader and operator are shown."""
    said = verdict.diagnostic or "no reason given"
    code = f"{verdict.status} " if verdict.status else ""
    if action is Action.UNSUBSCRIBED and verdict.reason is Reason.OPT_OUT:
        return f"complained: asked their mail provider to unsubscribe them ({said})"[:300]
    if action is Action.UNSUBSCRIBED:
        return f"complained: marked a digest as spam ({said})"[:300]
    if verdict.kind is Kind.SOFT:
        return f"bounced: {soft_count} soft bounces in {soft_days:g} days: {code}{said}"[:300]
    return f"bounced: {code}{said}"[:300]


def told(kind: str, status: str, action: str, at: dt.datetime, why: str = "") -> str:
    """What the reader is told on their preferences page about why mail stopped (`why`: the
    event's reason, where it was kept)."""
    day = f"{at:%-d %B %Y}"
    if action == Action.UNSUBSCRIBED and why == Reason.OPT_OUT:
        return f"We stopped mailing you on {day}: you asked your mail provider to unsubscribe you."
    if action == Action.UNSUBSCRIBED:
        return f"We stopped mailing you on {day}: a digest was reported as spam from your inbox."
    if kind == Kind.SOFT:
        return (
            f"We stopped mailing you on {day}: your mail server turned the digest away several"
            " times in a row (a full mailbox, or a filter)."
        )
    said = {
        "5.1.2": "the domain does not exist",
        "5.1.6": "the address has moved",
        "5.2.1": "the mailbox is disabled",
        Reason.HOST_UNKNOWN: "the domain does not exist",
        Reason.DISABLED: "the mailbox is disabled or has moved",
    }
    found = said.get(status) or said.get(why, "the mailbox does not exist")
    return f"We stopped mailing you on {day}: your mail server said {found}."
