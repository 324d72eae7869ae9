"""What a message that came back is (Kind), why (digest.bounces.patterns.Reason), and the
record of one message's reading (Verdict): shared by the readers of reports (classify), of
the messages that are no delivery report (others) and of providers' webhooks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from digest.bounces.patterns import Reason


class Kind(enum.StrEnum):
    """What a message that came back is (`kind` in `digest bounces process --json`)."""

    HARD = "hard"  # the address is dead: suppress at once
    SOFT = "soft"  # not delivered this time: counted
    DELAYED = "delayed"  # still being retried: never counts
    COMPLAINT = "complaint"  # "this is spam": unsubscribe and suppress
    AUTO_REPLY = "auto-reply"  # vacation and other answering machines: never counts
    DELIVERED = "delivered"  # a delivery or read receipt: resets the soft count
    UNRECOGNISED = "unrecognised"  # none of these: nothing happens


@dataclass(frozen=True, slots=True)
class Verdict:
    """One message's kind, the recipients it is about, the status code and the server's
    words (one line), what identifies the message that bounced (its Message-ID), and why
    it came back (`reason` beside `kind` in `digest bounces process --json`)."""

    kind: Kind
    recipients: tuple[str, ...] = ()
    status: str = ""
    diagnostic: str = ""
    original_id: str = ""
    reason: Reason = Reason.NONE
