"""Sign-up with double opt-in: the confirmation link (signed, single purpose, expiring, naming
one sign-up by its id), what a sign-up records as proof of consent, the limits that keep the
form from flooding an inbox (and the client's address behind a trusted proxy, which the
per-IP limit counts by a keyed hash), and the confirmation message itself (plain words, no
tracking)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from digest.errors import BadToken, Expired
from digest.tokens import make_token, read_token, signing_keys

CONFIRM_PURPOSE = "confirm"
# The words next to the form's button: what a reader agreed to (its hash goes in the log).
CONSENT_TEXT = (
    "Send me the trending-papers digest at this address. I can unsubscribe with one click from"
    " any email."
)
# A reader may get at most one confirmation mail per address in this long, and this many a day
# (an address counted as its inbox: `digest.addresses.limit_key`).
RESEND_AFTER = dt.timedelta(minutes=10)
PER_ADDRESS_DAILY = 3
# The per-IP and global caps count attempts in windows of this length.
CAP_WINDOW = dt.timedelta(hours=1)


class Event:
    """What the consent log records, per address."""

    REQUESTED = "requested"
    CONFIRMATION_SENT = "confirmation sent"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    SUPPRESSED = "suppressed"


class Refusal:
    """Why a sign-up was turned away (counted per hour in `digest status`, never against an
    address; the requester is not told)."""

    LIMITED = "limited"  # too many confirmations for the address, from the IP, or in all
    TRAP = "honeypot"  # the hidden field was filled in
    PROOF = "proof of work"  # no fresh, unused solution of the form's challenge
    READER = "already a reader"  # the address gets the digest already: nothing is mailed
    UNDELIVERABLE = "undeliverable"  # the relay refused the address for good


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


def confirm_token(secret: str, signup_id: str, issued: dt.datetime) -> str:
    """A link token for confirming one sign-up (by its id), good for `[signup] confirm_hours`
    after `issued` (when it was requested)."""
    return make_token(secret, f"{signup_id}\n{int(issued.timestamp())}", CONFIRM_PURPOSE)


# The id of a sign-up kept before sign-ups had ids: its link names the address instead.
LEGACY_PREFIX = "old:"


@dataclass(frozen=True, slots=True)
class Confirming:
    """What a confirmation link names: a sign-up's id, and when the link was made."""

    signup_id: str
    issued: dt.datetime

    @property
    def legacy(self) -> bool:
        """A link made before sign-ups had ids (it named the address): it confirms only the
        sign-up kept then, requested at the very second the link was made."""
        return self.signup_id.startswith(LEGACY_PREFIX)


def read_confirm_token(secret: str, token: str, now: dt.datetime, hours: float) -> Confirming:
    """The sign-up a confirmation link was made for; BadToken for a forged or malformed one,
    Expired for one too old."""
    payload = read_token(secret, token, CONFIRM_PURPOSE)
    named, _, issued = payload.partition("\n")
    if not named or not issued.isdigit() or len(issued) > 12:
        raise BadToken("the link is invalid; use the link from your email")
    made = dt.datetime.fromtimestamp(int(issued), dt.UTC)
    if now - made > dt.timedelta(hours=hours):
        raise Expired(
            "this confirmation link has expired; sign up again to get a new one", tampered=False
        )
    return Confirming(f"{LEGACY_PREFIX}{named}" if "@" in named else named, made)


def client_ip(remote: str, forwarded_for: Iterable[str], trusted: Sequence[str]) -> str:
    """The client's address as a request shows it: the peer's own, unless the peer is one of
    the `trusted` proxies (IPs or networks), in which case X-Forwarded-For (every header
    given, in order) is read from the right and the first hop that is no trusted proxy is the
    client. Everything left of that hop is the client's to make up, and is never read."""
    networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]

    def trusted_hop(hop: str) -> bool:
        address = _address(hop)
        return address is not None and any(address in network for network in networks)

    if not networks or not trusted_hop(remote):
        return remote
    hops = [hop.strip() for line in forwarded_for for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted_hop(hop):
            address = _address(hop)
            return remote if address is None else str(address)
    return str(_address(hops[0])) if hops else remote


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address as a header or a peer may spell it (`[::1]:8080`, `192.0.2.1:443`)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def rate_key(secret: str, ip: str) -> str | None:
    """What the per-IP cap counts a client by: a keyed hash (never the IP itself) of its
    address, an IPv6 client by its /64 (one host's usual share); None for no IP address."""
    address = _address(ip)
    if address is None:
        return None
    bits = 32 if address.version == 4 else 64
    network = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    key = signing_keys(secret)[0].encode()
    return hmac.new(key, b"digest sign-up ip\0" + str(network).encode(), "sha256").hexdigest()[:32]


def over_cap(counts: tuple[int, int], into_window: float, limit: int) -> bool:
    """Whether a sliding window of CAP_WINDOW holds `limit` attempts already: the attempts of
    this window, and of the one before weighted by how much of it the sliding window still
    covers (`into_window`: the share of this window gone by, 0 to 1)."""
    current, previous = counts
    return current + previous * (1.0 - into_window) >= limit


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
