"""Mail: messages built from rendered emails (RFC 5322, DKIM), sent over pluggable transports
by a dispatcher that records each outcome in the ledger. The editions service drives it."""

from digest.deliver.message import build_message, message_id
from digest.deliver.transports import (
    AmbiguousFailure,
    DryRunTransport,
    FileTransport,
    MaildirTransport,
    MemoryTransport,
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
    "MemoryTransport",
    "PermanentFailure",
    "SmtpTransport",
    "TemporaryFailure",
    "Transport",
    "build_message",
    "message_id",
]
