"""Bounces and complaints reported by a sending provider's webhook instead of by mail: Amazon SES
(through SNS), Postmark and SendGrid. Each request is checked first (SNS: its signature against
the certificate at an amazonaws.com URL; Postmark: the password in the environment; SendGrid:
its ECDSA signature), then its events are read into the same kinds a bounce message gets
(digest.bounces.classify), judged by the status code and the server's words where the provider
passes them on."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hmac
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from digest.bounces.classify import judge
from digest.bounces.verdicts import Kind
from digest.errors import UnsafeJSON, WebhookRefused
from digest.safe_json import loads

# SNS signs with a certificate served from here only (sns.REGION.amazonaws.com[.cn]).
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$")
MAX_CERTIFICATE = 64 * 1024
SENDGRID_TOLERANCE = dt.timedelta(minutes=10)  # a signed request older than this is a replay
# An event stamped further ahead of our clock than this is not one that happened.
FUTURE_SKEW = dt.timedelta(minutes=15)
MAX_MESSAGE = 256 * 1024  # SES's own JSON inside an SNS message (SNS caps messages at 256 KB)

Fetch = Callable[[str], bytes]


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One event a provider reported: its own id (each is recorded once), the kind, the
    recipient, the status code and words, and the Message-ID we sent, if it passes it on."""

    event_id: str
    kind: Kind
    recipient: str
    status: str = ""
    diagnostic: str = ""
    original_id: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    """When a provider's event must have happened to be taken: at most `max_age` before `now`
    and at most FUTURE_SKEW after it. A genuine request captured once cannot be replayed
    later (each event is recorded once, but a replay after the record was purged, or of an
    event the store never saw, would act)."""

    now: dt.datetime
    max_age: dt.timedelta

    def check(self, provider: str, stamp: object) -> None:
        """WebhookRefused unless `stamp` (ISO 8601; UTC when it names no zone) is fresh."""
        when = _instant(stamp)
        if when is None:
            raise WebhookRefused(f"the {provider} event carries no time (ISO 8601) to check")
        if when < self.now - self.max_age:
            raise WebhookRefused(
                f"the {provider} event of {when:%Y-%m-%d %H:%M} UTC is older than"
                f" {self.max_age.total_seconds() / 3600:g} hours ([bounces]"
                " webhook_max_age_hours): a replay?"
            )
        if when > self.now + FUTURE_SKEW:
            raise WebhookRefused(
                f"the {provider} event of {when:%Y-%m-%d %H:%M} UTC is in the future"
            )


def _instant(stamp: object) -> dt.datetime | None:
    if not isinstance(stamp, str) or len(stamp) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


# -- Amazon SES through SNS ------------------------------------------------------------------


def _string_to_sign(note: dict[str, Any]) -> bytes:
    kind = note.get("Type")
    if kind == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:  # SubscriptionConfirmation, UnsubscribeConfirmation
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    lines = [f"{k}\n{note[k]}\n" for k in keys if k in note and (k != "Subject" or note[k])]
    return "".join(lines).encode("utf-8")


def amazon_url(url: str) -> bool:
    """Whether a URL is https on an SNS host of amazonaws.com (nothing else is fetched); a
    malformed one (a port of 99999, a host of `[::1`) is not."""
    try:
        parts = urlsplit(url)
        return (
            parts.scheme == "https"
            and bool(_SNS_HOST.match(parts.hostname or ""))
            and (parts.port in (None, 443))
        )
    except ValueError:
        return False


@functools.lru_cache(maxsize=16)
def _certificate(url: str, fetch: Fetch) -> Any:
    from cryptography import x509

    data = fetch(url)
    if len(data) > MAX_CERTIFICATE:
        raise WebhookRefused("the SNS signing certificate is too large")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise WebhookRefused("the SNS signing certificate is not a PEM certificate") from None


def verify_sns(note: dict[str, Any], fetch: Fetch, topics: list[str], window: Window) -> None:
    """Check an SNS message: its topic is one of `topics` (none is trusted unlisted), its
    Timestamp falls in `window`, its signing certificate comes from an amazonaws.com URL and
    its signature (version 1: SHA1withRSA, 2: SHA256withRSA) holds. WebhookRefused
    otherwise; nothing is fetched for a message of another topic."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    url = str(note.get("SigningCertURL", ""))
    if not amazon_url(url):
        raise WebhookRefused("the SNS signing certificate is not at an amazonaws.com URL")
    if note.get("TopicArn") not in topics:
        raise WebhookRefused(
            f"SNS topic {str(note.get('TopicArn'))[:120]!r} is not one of [bounces] ses_topics"
        )
    window.check("SNS", note.get("Timestamp"))
    # SignatureVersion 1 is SHA1withRSA: SNS's default, verified as SNS signs it.
    versions = {"1": hashes.SHA1(), "2": hashes.SHA256()}  # noqa: S303
    algorithm = versions.get(str(note.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRefused("unknown SNS SignatureVersion")
    try:
        signature = base64.b64decode(str(note.get("Signature", "")), validate=True)
        key = _certificate(url, fetch).public_key()
        key.verify(signature, _string_to_sign(note), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, binascii.Error, KeyError, TypeError, AttributeError):
        raise WebhookRefused("the SNS signature does not hold") from None


def ses_events(note: dict[str, Any]) -> Iterator[ProviderEvent]:
    """The events of an SES notification (an SNS Notification whose Message is SES's JSON)."""
    try:
        body = loads(str(note["Message"]), max_chars=MAX_MESSAGE)
    except (KeyError, UnsafeJSON):
        raise WebhookRefused("the SNS message holds no SES notification") from None
    if not isinstance(body, dict):
        raise WebhookRefused("the SNS message holds no SES notification")
    kind = str(body.get("notificationType") or body.get("eventType") or "")
    mail = body.get("mail") or {}
    original = str((mail.get("commonHeaders") or {}).get("messageId") or "")
    base = str(note.get("MessageId", ""))
    if kind == "Bounce":
        bounce = body.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        subtype = str(bounce.get("bounceSubType") or "")
        for n, who in enumerate(bounce.get("bouncedRecipients") or []):
            status = str(who.get("status") or "")
            said = str(who.get("diagnosticCode") or "")
            if status or said:  # the server's own code and words decide
                verdict, code = judge(f"{status} {said}", "")
            else:  # only SES's word: its NoEmail and Suppressed mean the address is dead
                dead = subtype in ("NoEmail", "Suppressed", "OnAccountSuppressionList")
                verdict, code, said = (Kind.HARD if permanent and dead else Kind.SOFT), "", subtype
            yield ProviderEvent(
                f"ses:{base}:{n}", verdict, _email(who.get("emailAddress")), code, said, original
            )
    elif kind == "Complaint":
        complaint = body.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        verdict = Kind.UNRECOGNISED if feedback == "not-spam" else Kind.COMPLAINT
        for n, who in enumerate(complaint.get("complainedRecipients") or []):
            yield ProviderEvent(
                f"ses:{base}:{n}", verdict, _email(who.get("emailAddress")), "", feedback, original
            )
    elif kind == "Delivery":
        for n, who in enumerate((body.get("delivery") or {}).get("recipients") or []):
            yield ProviderEvent(f"ses:{base}:{n}", Kind.DELIVERED, _email(who), "", "", original)


# -- Postmark -----------------------------------------------------------------------------------

# Postmark's bounce types: what each is, before the status code and words have their say.
_POSTMARK = {
    "HardBounce": Kind.HARD,
    "BadEmailAddress": Kind.HARD,
    "ManuallyDeactivated": Kind.SOFT,
    "SoftBounce": Kind.SOFT,
    "Transient": Kind.SOFT,
    "DnsError": Kind.SOFT,
    "Blocked": Kind.SOFT,
    "SMTPApiError": Kind.SOFT,
    "ChallengeVerification": Kind.AUTO_REPLY,
    "AutoResponder": Kind.AUTO_REPLY,
    "OpenRelayTest": Kind.UNRECOGNISED,
    "Unknown": Kind.SOFT,
    "SpamNotification": Kind.SOFT,
    "SpamComplaint": Kind.COMPLAINT,
    "Subscribe": Kind.UNRECOGNISED,
    "Unsubscribe": Kind.UNRECOGNISED,
    "VirusNotification": Kind.SOFT,
    "InboundError": Kind.UNRECOGNISED,
}


def verify_postmark(authorization: str, password: str) -> None:
    """Postmark sends the webhook's HTTP Basic credentials (set in its webhook URL): the
    password must be `[bounces] postmark_password` (DIGEST_BOUNCES__POSTMARK_PASSWORD).
    Compared as UTF-8 bytes, so a password in any script is checked, never a TypeError."""
    scheme, _, value = authorization.partition(" ")
    try:
        given = base64.b64decode(value.strip(), validate=True).partition(b":")[2]
    except ValueError:  # not base64 (binascii.Error), or not ASCII
        given = b""
    expected = password.encode("utf-8")
    if scheme.lower() != "basic" or not expected or not hmac.compare_digest(given, expected):
        raise WebhookRefused("the Postmark webhook credential is missing or wrong")


# When each Postmark record that changes anything happened (Postmark's own field for it).
_POSTMARK_TIME = {"Bounce": "BouncedAt", "SpamComplaint": "BouncedAt", "Delivery": "DeliveredAt"}


def check_postmark_time(body: dict[str, Any], window: Window) -> None:
    """WebhookRefused when a bounce, complaint or delivery is not stamped within `window`
    (records digest ignores carry no events, whatever their time)."""
    field = _POSTMARK_TIME.get(str(body.get("RecordType") or ""))
    if field is not None:
        window.check("Postmark", body.get(field))


def postmark_events(body: dict[str, Any]) -> Iterator[ProviderEvent]:
    """The event of one Postmark webhook call (Bounce, SpamComplaint or Delivery)."""
    record = str(body.get("RecordType") or "")
    who = _email(body.get("Email") or body.get("Recipient"))
    event = str(body.get("ID") or body.get("MessageID") or "")
    if record == "Delivery":
        yield ProviderEvent(f"postmark:delivery:{event}", Kind.DELIVERED, who)
        return
    if record not in ("Bounce", "SpamComplaint"):
        return
    given = _POSTMARK.get(str(body.get("Type") or ""), Kind.SOFT)
    said = " ".join(str(body.get(k) or "") for k in ("Description", "Details")).strip()
    kind, code = given, ""
    if given is Kind.HARD:  # Postmark's own word, checked against the server's
        kind, code = judge(said, "")
        if kind is Kind.SOFT and not code and body.get("Type") == "BadEmailAddress":
            kind = Kind.HARD
    yield ProviderEvent(f"postmark:{record}:{event}", kind, who, code, said[:300])


# -- SendGrid -----------------------------------------------------------------------------------


def verify_sendgrid(
    public_key: str, body: bytes, signature: str, timestamp: str, now: dt.datetime
) -> None:
    """SendGrid's signed Event Webhook: an ECDSA (P-256, SHA-256) signature over the timestamp
    and the raw body, with the verification key from its mail settings (base64 DER)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if not public_key:
        raise WebhookRefused("no SendGrid verification key: set [bounces] sendgrid_public_key")
    try:
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    except (ValueError, OverflowError):
        raise WebhookRefused("the SendGrid timestamp is missing or not a number") from None
    if abs(now - sent) > SENDGRID_TOLERANCE:
        raise WebhookRefused("the SendGrid request is too old (a replay?)")
    try:
        key = load_der_public_key(base64.b64decode(public_key))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode("ascii") + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError, AssertionError):
        raise WebhookRefused("the SendGrid signature does not hold") from None


def sendgrid_events(events: list[Any]) -> Iterator[ProviderEvent]:
    """The bounces, blocks, deferrals, deliveries and spam reports of a SendGrid batch."""
    for event in events:
        if not isinstance(event, dict):
            continue
        name = str(event.get("event") or "")
        who = _email(event.get("email"))
        event_id = f"sendgrid:{event.get('sg_event_id') or ''}"
        said = str(event.get("reason") or event.get("response") or "")
        status = str(event.get("status") or "")
        if name == "bounce":
            kind, code = judge(f"{status} {said}", "")
            if event.get("type") == "blocked":
                kind = Kind.SOFT
            yield ProviderEvent(event_id, kind, who, code or status, said[:300])
        elif name == "deferred":
            yield ProviderEvent(event_id, Kind.DELAYED, who, status, said[:300])
        elif name == "delivered":
            yield ProviderEvent(event_id, Kind.DELIVERED, who)
        elif name == "spamreport":
            yield ProviderEvent(event_id, Kind.COMPLAINT, who, "", "spam report")


def _email(value: object) -> str:
    text = str(value or "").strip()
    found = re.search(r"[^\s<>\"]+@[^\s<>\"]+", text)
    return found.group(0).lower() if found else ""
