"""The MIME pieces of a report that its readers share: the header blocks of a
delivery-status or feedback-report part, the message a part returns, and the address in a
recipient field."""

from __future__ import annotations

import re
from email import message_from_string
from email.message import Message
from email.utils import parseaddr


def fields(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = str(payload)
    return [message_from_string(block) for block in re.split(r"\n\s*\n", text) if block.strip()]


def inner(part: Message) -> Message | None:
    """The message (or headers) a message/rfc822 or text/rfc822-headers part returns."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return message_from_string(payload)
    return None


def address(field: str) -> str:
    """The address of a Final-Recipient / Original-Recipient / Original-Rcpt-To value."""
    value = field.split(";", 1)[-1].strip()
    return parseaddr(value)[1].lower() if "@" in value else ""
