"""Mail: messages built from rendered emails (RFC 5322, DKIM), sent over pluggable transports
by a dispatcher that records each outcome in the ledger. The editions service drives it."""

from digest.deliver.message import build_message, message_id
from digest.deliver.transports import (
    DryRunTransport,
    FileTransport,
    MaildirTransport,
    MemoryTransport,
    SmtpTransport,
    Transport,
)
from digest.errors import AmbiguousFailure, PermanentFailure, TemporaryFailure

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
