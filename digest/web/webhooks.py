"""Provider webhooks: bounces, complaints and deliveries that Amazon SES (through SNS), Postmark
and SendGrid report over HTTP. Each request is checked before anything is read (a forged,
stale or foreign one is 403 and changes nothing); each event is recorded once (a replay
changes nothing). Each takes bodies of up to WEBHOOK_BODY, parsed within bounds."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from digest.editions import (
    Window,
    amazon_url,
    check_postmark_time,
    postmark_events,
    sendgrid_events,
    ses_events,
    verify_postmark,
    verify_sendgrid,
    verify_sns,
)
from digest.errors import WebhookRefused
from digest.web.bodies import WEBHOOK_BODY, json_body, takes_body
from digest.web.site import site

log = logging.getLogger("digest.web")
webhook_pages = Blueprint("webhooks", __name__)


def _json() -> Any:
    body, error = json_body(WEBHOOK_BODY)
    if error:
        abort(400, description=error)
    return body


def _window() -> Window:
    here = site()
    hours = here.settings.bounces.webhook_max_age_hours
    return Window(here.clock(), dt.timedelta(hours=hours))


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
@takes_body(WEBHOOK_BODY)
def ses() -> tuple[Response, int]:
    here = site()
    topics = list(here.settings.bounces.ses_topics)
    if not topics:  # no topic is trusted unless listed: the route is off
        abort(404, description="SES webhooks are off: list your topics in [bounces] ses_topics.")
    note = _json()
    if not isinstance(note, dict):
        abort(400, description="An SNS message is a JSON object.")
    try:
        verify_sns(note, here.fetch, topics, _window())
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
@takes_body(WEBHOOK_BODY)
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
    try:
        check_postmark_time(body, _window())
    except WebhookRefused as exc:
        return _refused("postmark", exc)
    return _answer("postmark", list(postmark_events(body)))


@webhook_pages.post("/webhooks/sendgrid")
@takes_body(WEBHOOK_BODY)
def sendgrid() -> tuple[Response, int]:
    here = site()
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
