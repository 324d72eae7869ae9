"""Provider webhooks through the real web app: Amazon SES through SNS (signed with a
certificate fetched from an amazonaws.com URL, the subscription confirmed), Postmark (HTTP Basic
credential from the environment) and SendGrid (ECDSA-signed). The same kinds and actions as
bounce mail; a forged or replayed request changes nothing. The certificate and subscription
URLs are fetched through the app's fetch seam (no test reaches Amazon)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from digest.bounces.providers import _string_to_sign
from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.web import create_app

from .conftest import EXAMPLES, FIXED_NOW, fixed_clock, write_settings

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"


def _rsa_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(FIXED_NOW - dt.timedelta(days=1))
        .not_valid_after(FIXED_NOW + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class Site:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DIGEST_BOUNCES__POSTMARK_PASSWORD", "postmark-webhook-password-1")
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        der = self.ec_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        extra = (
            f'[bounces]\nses_topics = ["{TOPIC}"]\n'
            f'sendgrid_public_key = "{base64.b64encode(der).decode()}"\n'
        )
        self.settings_path = write_settings(tmp_path, database=tmp_path / "d.sqlite", extra=extra)
        self.settings: Settings = load_settings(self.settings_path)
        with Store.open(self.settings.database) as store:
            ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        self.rsa_key, self.pem = _rsa_certificate()
        self.fetched: list[str] = []
        self.client = create_app(self.settings, fixed_clock(), fetch=self._fetch).test_client()

    def _fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    def sns(self, note: dict[str, Any], version: str = "2") -> dict[str, Any]:
        note = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **note}
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303
        signed = self.rsa_key.sign(_string_to_sign(note), padding.PKCS1v15(), algorithm)
        return {**note, "Signature": base64.b64encode(signed).decode()}

    def suppressed(self, email: str) -> str | None:
        with Store.open(self.settings.database) as store:
            return store.readers.suppressed(email)

    def events(self, email: str) -> list[tuple[str, str]]:
        with Store.open(self.settings.database) as store:
            return [(e.kind, e.action) for e in store.bounces.events(email)]


@pytest.fixture
def site(tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(tmp_path, monkeypatch)


def _ses(kind: str, body: dict[str, Any], message_id: str) -> dict[str, Any]:
    message = {"notificationType": kind, "mail": {"messageId": "ses-1"}, **body}
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(message),
        "Timestamp": "2026-11-22T06:29:00.000Z",
    }


def test_ses_bounces_and_complaints_through_signed_sns(site: Site) -> None:
    confirm = site.sns(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "m0",
            "Token": "t",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe.",
            "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
            "Timestamp": "2026-11-22T06:25:00.000Z",
        }
    )
    assert site.client.post("/webhooks/ses", json=confirm).status_code == 200
    assert site.fetched[-1].startswith("https://sns.eu-west-1.amazonaws.com/?Action=")
    hard = {
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "Ada <ada@example.org>", "status": "5.1.1",
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        }
    }  # fmt: skip
    note = site.sns(_ses("Bounce", hard, "m1"))
    answer = site.client.post("/webhooks/ses", json=note)
    assert answer.status_code == 200 and answer.json == {"events": 1, "acted": 1}
    assert (site.suppressed("ada@example.org") or "").startswith("bounced: 5.1.1")
    # A replay of the same notification changes nothing.
    assert site.client.post("/webhooks/ses", json=note).json == {"events": 1, "acted": 0}
    assert site.events("ada@example.org") == [("hard", "suppressed")]
    # The next edition skips Ada, and nobody else.
    with Store.open(site.settings.database) as store:
        edition = send_edition(store, site.settings, MemoryTransport(), fixed_clock())
    assert list(edition.suppressed) == ["ada@example.org"]
    assert list(edition.sent) == ["grace@example.org"]
    # "Permanent" alone, for a policy block, is not a dead address.
    blocked = {
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "grace@example.org", "status": "5.7.1",
                 "diagnosticCode": "smtp; 550 5.7.1 rejected by policy"}
            ],
        }
    }  # fmt: skip
    site.client.post("/webhooks/ses", json=site.sns(_ses("Bounce", blocked, "m2"), "1"))
    assert site.events("grace@example.org") == [("soft", "counted")]
    complaint = {"complaint": {"complainedRecipients": [{"emailAddress": "grace@example.org"}]}}
    site.client.post("/webhooks/ses", json=site.sns(_ses("Complaint", complaint, "m3")))
    assert (site.suppressed("grace@example.org") or "").startswith("complained")


def test_forged_sns_messages_change_nothing(site: Site) -> None:
    body = {"bounce": {"bounceType": "Permanent", "bounceSubType": "NoEmail",
                       "bouncedRecipients": [{"emailAddress": "ada@example.org"}]}}  # fmt: skip
    good = site.sns(_ses("Bounce", body, "m9"))
    tampered = {**good, "Message": good["Message"].replace("ada@", "grace@")}
    elsewhere = site.sns(
        {**_ses("Bounce", body, "m8"), "SigningCertURL": "https://evil.example/c.pem"}
    )
    other_topic = site.sns({**_ses("Bounce", body, "m7"), "TopicArn": "arn:aws:sns:x:1:other"})
    plain_http = site.sns({**_ses("Bounce", body, "m6"),
                           "SigningCertURL": CERT_URL.replace("https", "http")})  # fmt: skip
    for forged in (tampered, elsewhere, other_topic, plain_http):
        assert site.client.post("/webhooks/ses", json=forged).status_code == 403
    assert "https://evil.example/c.pem" not in site.fetched
    assert site.client.post("/webhooks/ses", data="not json").status_code == 400
    assert site.suppressed("ada@example.org") is None
    assert site.suppressed("grace@example.org") is None
    assert site.client.get("/webhooks/ses").status_code == 405


def _basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"u:{password}".encode()).decode()}


def test_postmark_needs_its_credential_and_records_each_event_once(site: Site) -> None:
    hard = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "Email": "ada@example.org",
            "BouncedAt": "2026-11-22T06:29:54.9070259Z",
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach"
                       " does not exist"}  # fmt: skip
    assert site.client.post("/webhooks/postmark", json=hard).status_code == 403
    wrong = site.client.post("/webhooks/postmark", json=hard, headers=_basic("nope"))
    assert wrong.status_code == 403 and site.suppressed("ada@example.org") is None
    right = _basic("postmark-webhook-password-1")
    assert site.client.post("/webhooks/postmark", json=hard, headers=right).json == {
        "events": 1,
        "acted": 1,
    }
    site.client.post("/webhooks/postmark", json=hard, headers=right)  # a retry
    assert site.events("ada@example.org") == [("hard", "suppressed")]
    # Postmark calls a full mailbox a "HardBounce" sometimes; the server's words decide.
    full = {**hard, "ID": 43, "Email": "grace@example.org",
            "Details": "smtp;552 5.2.2 mailbox full"}  # fmt: skip
    site.client.post("/webhooks/postmark", json=full, headers=right)
    away = {**hard, "ID": 44, "Type": "AutoResponder", "Email": "grace@example.org"}
    site.client.post("/webhooks/postmark", json=away, headers=right)
    assert sorted(site.events("grace@example.org")) == [("auto-reply", "none"), ("soft", "counted")]


def test_sendgrid_signed_batches(site: Site) -> None:
    events = [
        {"event": "bounce", "type": "bounce", "email": "ada@example.org", "sg_event_id": "e1",
         "status": "5.1.1", "reason": "550 5.1.1 user unknown"},
        {"event": "bounce", "type": "blocked", "email": "grace@example.org", "sg_event_id": "e2",
         "status": "5.7.1", "reason": "blocked"},
        {"event": "deferred", "email": "grace@example.org", "sg_event_id": "e3"},
        {"event": "open", "email": "grace@example.org", "sg_event_id": "e4"},
    ]  # fmt: skip
    body = json.dumps(events).encode()

    def signed(stamp: dt.datetime, data: bytes = body) -> dict[str, str]:
        timestamp = str(int(stamp.timestamp()))
        signature = site.ec_key.sign(timestamp.encode() + data, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
            "Content-Type": "application/json",
        }

    forged = signed(FIXED_NOW, b"[]")
    assert site.client.post("/webhooks/sendgrid", data=body, headers=forged).status_code == 403
    stale = signed(FIXED_NOW - dt.timedelta(hours=1))
    assert site.client.post("/webhooks/sendgrid", data=body, headers=stale).status_code == 403
    answer = site.client.post("/webhooks/sendgrid", data=body, headers=signed(FIXED_NOW))
    assert answer.status_code == 200 and answer.json == {"events": 3, "acted": 2}
    assert site.client.post("/webhooks/sendgrid", data=body, headers=signed(FIXED_NOW)).json == {
        "events": 3,
        "acted": 0,
    }  # the same events again: recorded once
    assert site.events("ada@example.org") == [("hard", "suppressed")]
    assert sorted(site.events("grace@example.org")) == [("delayed", "none"), ("soft", "counted")]


def _bounce_of(email: str) -> dict[str, Any]:
    return {"bounce": {"bounceType": "Permanent", "bounceSubType": "NoEmail",
                       "bouncedRecipients": [{"emailAddress": email}]}}  # fmt: skip


def test_ses_route_is_off_until_topics_are_listed(
    tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, monkeypatch)
    settings = site.settings.model_copy(
        update={"bounces": site.settings.bounces.model_copy(update={"ses_topics": []})}
    )
    client = create_app(settings, fixed_clock(), fetch=site._fetch).test_client()
    confirm = site.sns(
        {"Type": "SubscriptionConfirmation", "MessageId": "m0", "Token": "t", "TopicArn": TOPIC,
         "Message": "You have chosen to subscribe.", "Timestamp": "2026-11-22T06:25:00.000Z",
         "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"}
    )  # fmt: skip
    note = site.sns(_ses("Bounce", _bounce_of("ada@example.org"), "m1"))
    for body in (confirm, note):
        answer = client.post("/webhooks/ses", json=body)
        assert answer.status_code == 404 and "ses_topics" in (answer.json or {})["error"]
    assert site.fetched == [] and site.suppressed("ada@example.org") is None


def test_another_accounts_topic_is_refused_before_anything_is_fetched(site: Site) -> None:
    other = "arn:aws:sns:eu-west-1:999999999999:someone-else"
    confirm = site.sns(
        {"Type": "SubscriptionConfirmation", "MessageId": "m0", "Token": "t", "TopicArn": other,
         "Message": "You have chosen to subscribe.", "Timestamp": "2026-11-22T06:25:00.000Z",
         "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"}
    )  # fmt: skip
    note = site.sns({**_ses("Bounce", _bounce_of("ada@example.org"), "m1"), "TopicArn": other})
    for body in (confirm, note):
        answer = site.client.post("/webhooks/ses", json=body)
        assert answer.status_code == 403 and "ses_topics" in (answer.json or {})["error"]
    assert site.fetched == [] and site.suppressed("ada@example.org") is None


def test_stale_or_future_events_are_refused(site: Site) -> None:
    for n, stamp in enumerate(("2020-03-01T10:00:00.000Z", "2026-11-20T06:00:00.000Z",
                               "2026-11-22T07:00:00.000Z", "", "2020")):  # fmt: skip
        note = site.sns({**_ses("Bounce", _bounce_of("ada@example.org"), f"m{n}"),
                         "Timestamp": stamp})  # fmt: skip
        answer = site.client.post("/webhooks/ses", json=note)
        assert answer.status_code == 403, stamp
    right = _basic("postmark-webhook-password-1")
    hard = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "Email": "ada@example.org",
            "Details": "smtp;550 5.1.1 no such user"}  # fmt: skip
    for when in ("2020-03-01T10:00:00Z", "2026-11-21T01:29:00-05:00", None, "yesterday"):
        body = {**hard, "BouncedAt": when}
        answer = site.client.post("/webhooks/postmark", json=body, headers=right)
        assert answer.status_code == 403 and "event" in (answer.json or {})["error"], when
    assert site.suppressed("ada@example.org") is None and site.events("ada@example.org") == []
    # Within the window ([bounces] webhook_max_age_hours, 24 by default): taken, with or
    # without a zone; a Delivery is checked by its DeliveredAt.
    late = {**hard, "BouncedAt": "2026-11-21T08:00:00"}
    assert site.client.post("/webhooks/postmark", json=late, headers=right).status_code == 200
    stale = {"RecordType": "Delivery", "ID": 7, "Recipient": "grace@example.org",
             "DeliveredAt": "2026-11-01T10:00:00Z"}  # fmt: skip
    assert site.client.post("/webhooks/postmark", json=stale, headers=right).status_code == 403
    assert site.events("ada@example.org") == [("hard", "suppressed")]


def test_deep_or_huge_json_is_400_never_500(site: Site) -> None:
    right = _basic("postmark-webhook-password-1")
    deep, huge = b"[" * 60_000, b'{"Type": ' + b"9" * 5000 + b"}"
    for path in ("/webhooks/ses", "/webhooks/postmark"):
        for body in (deep, huge, b"\xff\xfe", b'"' + b"\\" * 1000):
            answer = site.client.post(path, data=body, headers=right)
            assert answer.status_code == 400, (path, body[:20])
            error = (answer.json or {})["error"]
            assert answer.is_json and error.startswith("the body is not JSON")
    # SES's own JSON inside a signed message: as bounded as the body around it.
    for message in ("[" * 60_000, '{"n": ' + "7" * 5000 + "}"):
        note = site.sns({**_ses("Bounce", {}, "m1"), "Message": message})
        assert site.client.post("/webhooks/ses", json=note).status_code == 403


def test_malformed_amazon_urls_are_403_and_never_fetched(site: Site) -> None:
    for url in ("https://sns.eu-west-1.amazonaws.com:99999/c.pem", "https://[::1/c.pem",
                "https://sns.eu-west-1.amazonaws.com:-1/c.pem"):  # fmt: skip
        note = site.sns({**_ses("Bounce", _bounce_of("ada@example.org"), "m2"),
                         "SigningCertURL": url})  # fmt: skip
        assert site.client.post("/webhooks/ses", json=note).status_code == 403, url
    confirm = site.sns(
        {"Type": "SubscriptionConfirmation", "MessageId": "m0", "Token": "t", "TopicArn": TOPIC,
         "Message": "You have chosen to subscribe.", "Timestamp": "2026-11-22T06:25:00.000Z",
         "SubscribeURL": "https://[::1/?Action=ConfirmSubscription"}
    )  # fmt: skip
    assert site.client.post("/webhooks/ses", json=confirm).status_code == 403
    assert site.fetched == [CERT_URL]  # only the real certificate, for the confirmation
    assert site.suppressed("ada@example.org") is None


def test_non_ascii_postmark_passwords_are_compared_as_bytes(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    hard = {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "Email": "ada@example.org",
            "BouncedAt": "2026-11-22T06:29:00Z", "Details": "smtp;550 5.1.1 no user"}  # fmt: skip
    for headers in (_basic("pässwörd-ünïcode"), {"Authorization": "Basic ñ"}):
        assert site.client.post("/webhooks/postmark", json=hard, headers=headers).status_code == 403
    monkeypatch.setenv("DIGEST_BOUNCES__POSTMARK_PASSWORD", "пароль-вебхука-1")
    client = create_app(load_settings(site.settings_path), fixed_clock()).test_client()
    right = _basic("postmark-webhook-password-1")
    assert client.post("/webhooks/postmark", json=hard, headers=right).status_code == 403
    assert site.suppressed("ada@example.org") is None
    taken = client.post("/webhooks/postmark", json=hard, headers=_basic("пароль-вебхука-1"))
    assert taken.status_code == 200 and site.suppressed("ada@example.org") is not None


def test_a_sendgrid_batch_of_a_thousand_events_is_taken(site: Site) -> None:
    """~250 KB: over the pages' 64 KiB, well under the webhooks' 1 MiB."""
    events = [
        {"event": "delivered", "email": f"reader{n}@example.org", "sg_event_id": f"id-{n:06}",
         "timestamp": 1795329000, "smtp-id": f"<digest.{n}@digest.test>",
         "sg_message_id": f"msg-{n:06}.filter0001-3-5ED4-1", "category": ["digest"],
         "response": "250 2.0.0 OK  1795329000 ab12cd34ef56.123 - gsmtp"}
        for n in range(1000)
    ]  # fmt: skip
    body = json.dumps(events).encode()
    assert 200_000 < len(body) < 1024 * 1024
    timestamp = str(int(FIXED_NOW.timestamp()))
    signature = site.ec_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    answer = site.client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert answer.status_code == 200 and answer.json == {"events": 1000, "acted": 0}
    too_large = site.client.post("/webhooks/sendgrid", data=b" " * (1024 * 1024 + 1))
    assert too_large.status_code == 413 and too_large.is_json
