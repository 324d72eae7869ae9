"""Email → RFC 5322 bytes: multipart/alternative (text first), with list headers (RFC 8058)."""

from __future__ import annotations

import datetime as dt
import hashlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr

from digest.errors import SettingsError
from digest.models import Email
from digest.render import header_safe


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    if "@" not in address:
        raise SettingsError(
            f"sender.from {sender!r} has no address; use a form like 'Digest <digest@example.org>'"
        )
    return address.rsplit("@", 1)[1].lower()


def sender_address(sender: str) -> str:
    sender_domain(sender)
    return parseaddr(sender)[1]


def message_id(edition_id: str, email: str, domain: str) -> str:
    """Stable per (edition, recipient): a resend after a crash carries the same Message-ID."""
    digest = hashlib.sha256(f"{edition_id}\0{email.casefold()}".encode()).hexdigest()[:20]
    return f"<digest.{edition_id}.{digest}@{domain}>"


def build_message(
    email: Email,
    *,
    sender: str,
    recipient: str,
    recipient_name: str,
    message_id: str,
    unsubscribe_url: str,
    date: dt.datetime,
) -> bytes:
    domain = sender_domain(sender)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = formataddr((header_safe(recipient_name, 80), recipient))
    msg["Subject"] = header_safe(email.subject, 200)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"Trending papers <digest.{domain}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(email.text, cte="quoted-printable")
    msg.add_alternative(email.html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()
