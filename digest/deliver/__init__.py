"""Deliver stage: ledger-backed, exactly-once sending over pluggable transports."""

from digest.deliver.message import build_message, message_id
from digest.deliver.send import (
    SendReport,
    edition_date,
    preview,
    retry_deferred,
    send_edition,
    stop_on_signals,
    subscribers_from,
    unresolved_liked,
)
from digest.deliver.transports import (
    AmbiguousFailure,
    DryRunTransport,
    FileTransport,
    MaildirTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)

__all__ = [
    "AmbiguousFailure",
    "DryRunTransport",
    "FileTransport",
    "MaildirTransport",
    "PermanentFailure",
    "SendReport",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "build_message",
    "edition_date",
    "message_id",
    "preview",
    "retry_deferred",
    "send_edition",
    "stop_on_signals",
    "subscribers_from",
    "unresolved_liked",
]
