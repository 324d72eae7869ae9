"""Every route of the web app, each token-taking one with every kind of valid token, fed the
same hostile set: JSON nested 60,000 deep, 5,000-digit numbers (in JSON, forms and queries),
bytes that are not UTF-8, non-ASCII credentials, odd signature headers, a deeply nested
library upload. None may answer 500: each is refused (400, 401, 403, 404, 405, 413) or
read as the harmless thing it is. The app has every optional part on (the webhooks, the
operator's pages), so no route is left out for being off."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.settings import load_settings
from digest.store import Store
from digest.web import create_app

from .conftest import EXAMPLES, fixed_clock, write_settings
from .test_web import ADMIN, Web
from .test_web_methods import _paper_id, _urls

DEEP = b"[" * 60_000
HUGE = "9" * 5000
FIELDS = ("email", "interests", "timezone", "frequency", "topic", "papers", "send_at",
          "max_items", "forget", "weekday", "delivery", "quiet", "altcha", "page", "q")  # fmt: skip


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"u:{password}".encode()).decode()


HEADERS: list[dict[str, str]] = [
    {},
    {"Authorization": _basic("pässwörd-ünïcode")},
    {"Authorization": "Basic ñ-not-base64"},
    {"Authorization": "Bearer ñ"},
    {"Authorization": f"Bearer {ADMIN}"},
    {
        "X-Twilio-Email-Event-Webhook-Signature": "ñ" * 10,
        "X-Twilio-Email-Event-Webhook-Timestamp": HUGE,
    },
]


def _bodies() -> list[dict[str, Any]]:
    """Keyword arguments for the test client: the hostile bodies."""
    form = {name: HUGE for name in FIELDS}
    return [
        {"data": DEEP, "content_type": "application/json"},
        {"data": DEEP, "content_type": "text/plain"},
        {"data": b'{"email": "a@example.org", "n": ' + HUGE.encode() + b"}",
         "content_type": "application/json"},
        {"data": b'{"Type": "Notification", "SigningCertURL":'
                 b' "https://sns.eu-west-1.amazonaws.com:99999/c.pem"}',
         "content_type": "text/plain"},
        {"data": b'{"SigningCertURL": "https://[::1/c.pem", "Type": "SubscriptionConfirmation"}',
         "content_type": "text/plain"},
        {"data": b"\xff\xfe\x00not utf-8", "content_type": "application/json"},
        {"data": form},
        {"data": {**form, "library": (io.BytesIO(DEEP), "deep.json")},
         "content_type": "multipart/form-data"},
    ]  # fmt: skip


@pytest.fixture
def app(tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Flask, Web]:
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("DIGEST_BOUNCES__POSTMARK_PASSWORD", "postmark-webhook-password-1")
    extra = (
        '[bounces]\nses_topics = ["arn:aws:sns:eu-west-1:123456789012:digest"]\n'
        'sendgrid_public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"\n'
    )
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "d.sqlite", extra=extra))
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())

    def never(url: str) -> bytes:
        raise AssertionError(f"fetched {url}")

    flask_app = create_app(
        settings, fixed_clock(), transports=lambda: [MemoryTransport()], fetch=never
    )
    return flask_app, Web("", settings, secret_env, tmp_path)


def test_no_route_answers_500_to_the_hostile_set(app: tuple[Flask, Web]) -> None:
    flask_app, web = app
    client = flask_app.test_client()
    urls = sorted(set(_urls(flask_app, web, _paper_id(web.settings.database))))
    assert len(urls) > 20 and any(u.startswith("/webhooks/") for u in urls)
    failures: list[tuple[object, ...]] = []
    for url in urls:
        for headers in HEADERS:
            for query in ("", f"?page={HUGE}", "?page=²&q=%ff"):
                answer = client.get(url + query, headers=headers)
                if answer.status_code >= 500:
                    failures.append(("GET", url + query[:12], headers, answer.status_code))
            for body in _bodies():
                answer = client.post(url, headers=headers, **body)
                if answer.status_code >= 500:
                    failures.append(("POST", url, headers, str(body)[:60], answer.status_code))
    assert failures == []
