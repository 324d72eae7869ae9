"""Joining: the front page with the sign-up form, the same through JSON, and the confirmation
link (GET shows one button, so a link scanner confirms nobody; POST confirms). A sign-up is
answered with the same page whatever the address was: new, waiting, confirmed or refused."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from digest.editions import (
    CONSENT_TEXT,
    BadToken,
    Expired,
    PermanentFailure,
    SignupForm,
    new_challenge,
    read_confirm_address,
)
from digest.errors import DeliveryError, SubscriberError
from digest.web.preferences import offered_zones as zones
from digest.web.site import SCRIPT_POLICY, asker, log, page, site

signup_pages = Blueprint("signup", __name__)

TRENDING_SHOWN = 5
MAX_INTERESTS = 20
MAX_FIELD_CHARS = 4000


def _front(status: int = 200, **state: Any) -> Response:
    here = site()
    with here.opened() as store:
        trending = [p.paper for p in store.trending(TRENDING_SHOWN, here.clock())]
    context = {"email": "", "interests": "", "timezone": "", "frequency": "daily", "errors": ()}
    context.update(state)
    proof = here.settings.signup.proof_of_work
    return page(
        "index.html",
        status,
        policy=SCRIPT_POLICY if proof else None,
        trending=trending,
        consent=CONSENT_TEXT,
        zones=zones(),
        proof_of_work=proof,
        **context,
    )


@signup_pages.get("/")
def front() -> Response:
    return _front()


@signup_pages.get("/api/challenge")
def challenge() -> Response:
    """A fresh proof-of-work challenge for the form's script (or an API client)."""
    here = site()
    if not here.settings.signup.proof_of_work:
        abort(404, description="This site asks no proof of work: [signup] proof_of_work = false.")
    settings = here.settings.signup
    found = new_challenge(here.secret, here.clock(), settings.proof_of_work_max_number)
    response = jsonify(found)
    response.headers["Cache-Control"] = "no-store"
    return response


def _sign_up(form: SignupForm) -> None:
    """Mail a confirmation if the address may get one; raise SubscriberError for a bad
    address or interests. A bot's request (a filled-in trap, no proof of work) is answered
    alike and mails nobody."""
    here = site()
    try:
        with here.opened(write=True) as store:
            outcome = store.sign_up(form, asker(), here.transports(), here.clock)
    except (DeliveryError, PermanentFailure) as exc:
        log.warning("sign-up: the confirmation was not sent: %s", exc)
        raise
    log.info("sign-up: %s", outcome)


@signup_pages.post("/subscribe")
def subscribe() -> Response:
    form = request.form
    email = form.get("email", "")[:MAX_FIELD_CHARS]
    text = form.get("interests", "")[:MAX_FIELD_CHARS]
    interests = [line for line in text.splitlines() if line.strip()][:MAX_INTERESTS]
    timezone = form.get("timezone", "")[:64]
    frequency = form.get("frequency", "daily")[:16]
    given = SignupForm(
        email,
        tuple(interests),
        timezone,
        frequency,
        trap=form.get("website", ""),
        proof=form.get("altcha", ""),
    )
    try:
        _sign_up(given)
    except SubscriberError as exc:
        return _front(
            400,
            email=email,
            interests=text,
            timezone=timezone,
            frequency=frequency,
            errors=[str(exc)],
        )
    except (DeliveryError, PermanentFailure):
        return page(
            "message.html",
            503,
            title="Try again later",
            text="The confirmation could not be sent just now; nothing was kept.",
        )
    return page("signup_sent.html")


@signup_pages.post("/api/subscribe")
def subscribe_json() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str):
        return jsonify(error='send {"email": "...", "interests": ["..."], "altcha": "..."}'), 400
    interests = body.get("interests", [])
    if not isinstance(interests, list) or not all(isinstance(i, str) for i in interests):
        return jsonify(error="interests must be a list of strings"), 400
    given = SignupForm(
        body["email"][:MAX_FIELD_CHARS],
        tuple(interests[:MAX_INTERESTS]),
        trap=str(body.get("website", "")),
        proof=str(body.get("altcha", "")),
    )
    try:
        _sign_up(given)
    except SubscriberError as exc:
        return jsonify(error=str(exc)), 400
    except (DeliveryError, PermanentFailure):
        return jsonify(error="the confirmation could not be sent just now; try again later"), 503
    return jsonify(status="check your inbox"), 202


def _address(token: str) -> str:
    """The address of a confirmation link; 410 once it expired, 400/403 for a bad one."""
    here = site()
    try:
        return read_confirm_address(here.settings, token, here.clock())
    except Expired as exc:
        abort(410, description=str(exc))
    except BadToken as exc:
        here.refuse(exc, token, ("confirm",))


@signup_pages.get("/confirm/<token>")
def confirm_ask(token: str) -> Response:
    return page("confirm.html", email=_address(token), done=False)


@signup_pages.post("/confirm/<token>")
def confirm(token: str) -> Response:
    here = site()
    _address(token)
    try:
        with here.opened(write=True) as store:
            email, report = store.confirm(token, asker(), here.transports(), here.clock)
    except SubscriberError as exc:
        return page("message.html", 409, title="Sign up again", text=str(exc))
    token = here.token(email, "preferences")
    return page(
        "confirm.html",
        email=email,
        done=True,
        mailed=report is not None and bool(report.sent),
        preferences=f"/preferences/{token}",
        welcome=f"/welcome/{token}",
    )
