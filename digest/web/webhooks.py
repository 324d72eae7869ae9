"""Provider webhooks: bounces, complaints and deliveries that Amazon SES (through SNS), Postmark
and SendGrid report over HTTP. Each request is checked before anything is read (a forged one is
403 and changes nothing); each event is recorded once (a replay changes nothing)."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from digest.editions import (
    WebhookRefused,
    amazon_url,
    postmark_events,
    sendgrid_events,
    ses_events,
    verify_postmark,
    verify_sendgrid,
    verify_sns,
)
from digest.web.site import site

log = logging.getLogger("digest.web")
webhook_pages = Blueprint("webhooks", __name__)

MAX_BODY = 1024 * 1024  # SendGrid batches up to ~1,000 events; far above that is not theirs


def _json() -> Any:
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    try:
        return json.loads(request.get_data(cache=True))
    except (json.JSONDecodeError, UnicodeDecodeError):
        abort(400, description="The body is not JSON.")


def _answer(source: str, events: list[Any]) -> tuple[Response, int]:
    here = site()
    with here.opened(write=True) as store:
        done = store.came_back(events, source, here.clock())
    acted = [d for d in done if d.action != "none"]
    log.info("webhook %s: %d event(s), %d acted on", source, len(done), len(acted))
    return jsonify(events=len(done), acted=len(acted)), 200


def _refused(source: str, error: WebhookRefused) -> tuple[Response, int]:
    log.warning("webhook %s refused: %s", source, error)
    return jsonify(error=str(error)), 403


@webhook_pages.post("/webhooks/ses")
def ses() -> tuple[Response, int]:
    here = site()
    note = _json()
    if not isinstance(note, dict):
        abort(400, description="An SNS message is a JSON object.")
    try:
        verify_sns(note, here.fetch, list(here.settings.bounces.ses_topics))
        if note.get("Type") == "SubscriptionConfirmation":
            url = str(note.get("SubscribeURL", ""))
            if not amazon_url(url):
                raise WebhookRefused("the SNS SubscribeURL is not an amazonaws.com URL")
            here.fetch(url)  # confirms the subscription
            log.info("webhook ses: subscribed to %s", str(note.get("TopicArn"))[:200])
            return jsonify(subscribed=True), 200
        if note.get("Type") != "Notification":
            return jsonify(ignored=str(note.get("Type"))[:40]), 200
        events = list(ses_events(note))
    except WebhookRefused as exc:
        return _refused("ses", exc)
    except OSError as exc:  # the certificate or confirmation URL could not be fetched
        log.warning("webhook ses: %s", exc)
        return jsonify(error="could not reach Amazon; SNS will retry"), 503
    return _answer("ses", events)


@webhook_pages.post("/webhooks/postmark")
def postmark() -> tuple[Response, int]:
    here = site()
    secret = here.settings.bounces.postmark_password
    try:
        verify_postmark(
            request.headers.get("Authorization", ""),
            secret.get_secret_value() if secret else "",
        )
    except WebhookRefused as exc:
        return _refused("postmark", exc)
    body = _json()
    if not isinstance(body, dict):
        abort(400, description="A Postmark webhook sends a JSON object.")
    return _answer("postmark", list(postmark_events(body)))


@webhook_pages.post("/webhooks/sendgrid")
def sendgrid() -> tuple[Response, int]:
    here = site()
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    raw = request.get_data(cache=True)
    try:
        verify_sendgrid(
            here.settings.bounces.sendgrid_public_key,
            raw,
            request.headers.get("X-Twilio-Email-Event-Webhook-Signature", ""),
            request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", ""),
            here.clock(),
        )
    except WebhookRefused as exc:
        return _refused("sendgrid", exc)
    body = _json()
    if not isinstance(body, list):
        abort(400, description="SendGrid sends a JSON list of events.")
    return _answer("sendgrid", list(sendgrid_events(body)))
