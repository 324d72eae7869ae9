"""Sign-up with double opt-in: the confirmation link (signed, single purpose, expiring), what a
sign-up records as proof of consent, the limits that keep the form from flooding an inbox, and
the confirmation message itself (plain words, no tracking)."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import ipaddress
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from digest.tokens import BadToken, make_token, read_token

CONFIRM_PURPOSE = "confirm"
# The words next to the form's button: what a reader agreed to (its hash goes in the log).
CONSENT_TEXT = (
    "Send me the trending-papers digest at this address. I can unsubscribe with one click from"
    " any email."
)
# A reader may get at most one confirmation mail per address in this long, and this many a day.
RESEND_AFTER = dt.timedelta(minutes=10)
PER_ADDRESS_DAILY = 3


class Event:
    """What the consent log records, per address."""

    REQUESTED = "requested"
    CONFIRMATION_SENT = "confirmation sent"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    SUPPRESSED = "suppressed"
    REFUSED = "refused"  # a sign-up turned away (limits, honeypot); the address is never told


class Refusal:
    """Why a sign-up was turned away (counted in `digest status`; the requester is not told)."""

    LIMITED = "limited"  # too many confirmations for the address, from the IP, or in all
    TRAP = "honeypot"  # the hidden field was filled in
    PROOF = "proof of work"  # no fresh, unused solution of the form's challenge


@dataclass(frozen=True, slots=True)
class Request:
    """Where a sign-up came from, as the consent log keeps it."""

    ip: str = ""
    user_agent: str = ""
    page: str = ""


SignupRequest = Request


@dataclass(frozen=True, slots=True)
class Form:
    """A sign-up as the form or the API sent it: the address, what the reader asked for, the
    hidden field a bot fills in (`trap`) and the solution of the proof of work (`proof`)."""

    email: str
    interests: tuple[str, ...] = ()
    timezone: str = ""
    frequency: str = ""
    trap: str = ""
    proof: str = ""


SignupForm = Form


def consent_hash(text: str = CONSENT_TEXT) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded_ip(ip: str, mode: str) -> str:
    """The address as `[signup] record_ip` keeps it: "full", "truncated" (IPv4 /24, IPv6 /48)
    or "none"; something that is no IP address is kept as nothing."""
    if mode == "none" or not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if mode == "full":
        return str(address)
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False).network_address)


def confirm_token(secret: str, email: str, now: dt.datetime) -> str:
    """A link token for confirming this address, good for `[signup] confirm_hours`."""
    return make_token(secret, f"{email}\n{int(now.timestamp())}", CONFIRM_PURPOSE)


class Expired(BadToken):
    """A confirmation link older than `[signup] confirm_hours`."""


def read_confirm_token(secret: str, token: str, now: dt.datetime, hours: float) -> str:
    """The address a confirmation link was made for; BadToken for a forged or malformed one,
    Expired for one too old."""
    payload = read_token(secret, token, CONFIRM_PURPOSE)
    email, _, issued = payload.partition("\n")
    if not email or not issued.isdigit():
        raise BadToken("the link is invalid; use the link from your email")
    age = now - dt.datetime.fromtimestamp(int(issued), dt.UTC)
    if age > dt.timedelta(hours=hours):
        raise Expired(
            "this confirmation link has expired; sign up again to get a new one", tampered=False
        )
    return email


def may_mail(sent_times: list[dt.datetime], now: dt.datetime) -> bool:
    """Whether another confirmation may go to an address that was sent these (times of the
    confirmations sent to it): at most one per RESEND_AFTER and PER_ADDRESS_DAILY a day."""
    recent = [t for t in sent_times if now - t < dt.timedelta(days=1)]
    if len(recent) >= PER_ADDRESS_DAILY:
        return False
    return not any(now - t < RESEND_AFTER for t in recent)


def confirmation(
    sender: str, email: str, link: str, name: str, now: dt.datetime, domain: str
) -> tuple[EmailMessage, str]:
    """The confirmation message (text and HTML, the same plain words, no images, no tracking)
    and its Message-ID."""
    # SMTP's policy: CRLF line ends, as the wire wants them (a bare LF makes one endless line).
    message = EmailMessage(policy=SMTP)
    message_id = make_msgid("confirm", domain=domain)
    message["From"] = sender
    message["To"] = email
    message["Subject"] = f"Confirm your subscription to {name}"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    words = (
        f"Someone, probably you, asked to get {name} at {email}.\n\n"
        f"To confirm, open this link and press the button:\n{link}\n\n"
        "If it was not you, ignore this message: nothing will be sent, and the request is"
        " forgotten in a few days."
    )
    message.set_content(words)
    page = (
        f"<p>Someone, probably you, asked to get {html.escape(name)} at {html.escape(email)}.</p>"
        f'<p><a href="{html.escape(link)}">Confirm your subscription</a></p>'
        "<p>If it was not you, ignore this message: nothing will be sent, and the request is"
        " forgotten in a few days.</p>"
    )
    message.add_alternative(page, subtype="html")
    return message, message_id
