"""Joining: the front page with the sign-up form, the same through JSON, and the confirmation
link (GET shows one button, so a link scanner confirms nobody; POST confirms). A sign-up is
answered with the same page, after the same work, whatever the address was: new, waiting,
confirmed or refused; its mail goes out after the answer (the app's mail worker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from digest.editions import CONSENT_TEXT, SignupForm, new_challenge
from digest.errors import BadToken, Expired, SubscriberError
from digest.web.bodies import SMALL_BODY, json_body
from digest.web.preferences import offered_zones as zones
from digest.web.site import SCRIPT_POLICY, asker, log, page, site

signup_pages = Blueprint("signup", __name__)

# What the form says when it comes back without the proof of work its script solves (no
# JavaScript, a blocker, a script that failed): no mail could be sent, and why.
NO_PROOF = (
    "Your sign-up was not sent: this form needs JavaScript for a few seconds (your browser"
    " solves a small puzzle that keeps robots out; no tracking, no cookies). Allow JavaScript"
    " for this site and press Subscribe again."
)

NO_PROOF_API = (
    'no "altcha" proof of work: GET /api/challenge, solve it (altcha) and send the solution as'
    ' "altcha"'
)

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
    """Keep the sign-up and queue its confirmation (the mail worker decides, after this answer,
    whether the address gets one); raise SubscriberError for a bad address or interests. The
    same work whatever the address; a bot's request (a filled-in trap, no proof of work) is
    answered alike and mails nobody."""
    here = site()
    with here.opened(write=True) as store:
        outcome = store.sign_up(form, asker(), here.clock)
    here.mailer.wake()
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
        if site().settings.signup.proof_of_work and not given.proof and not given.trap:
            # No script ran: say so, rather than "check your inbox" for a mail never sent.
            raise SubscriberError(NO_PROOF)
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
    return page("signup_sent.html")


@signup_pages.post("/api/subscribe")
def subscribe_json() -> tuple[Response, int]:
    body = json_body(SMALL_BODY)[0] if request.is_json else None  # bounded: depth, digits
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
    if site().settings.signup.proof_of_work and not given.proof and not given.trap:
        return jsonify(error=NO_PROOF_API), 400
    try:
        _sign_up(given)
    except SubscriberError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(status="check your inbox"), 202


@contextmanager
def _link(token: str) -> Iterator[None]:
    """A confirmation link's errors as answers: 410 once it expired, 400/403 for a bad one."""
    here = site()
    try:
        yield
    except Expired as exc:
        abort(410, description=str(exc))
    except BadToken as exc:
        here.refuse(exc, token, ("confirm",))


def _gone(reason: str) -> Response:
    return page("message.html", 409, title="Sign up again", text=reason)


def _already(email: str) -> Response:
    """A used link: it says so, and leads to the reader's preferences."""
    here = site()
    preferences = f"/preferences/{here.token(email, 'preferences')}"
    return page("confirm.html", email=email, already=True, preferences=preferences)


@signup_pages.get("/confirm/<token>")
def confirm_ask(token: str) -> Response:
    """One button, and what it confirms: the address, and the profile that sign-up asked for."""
    here = site()
    with _link(token), here.opened() as store:
        signup = store.signup(token, here.clock)
    if signup is None:
        return _gone("This sign-up is no longer waiting for confirmation; sign up again.")
    if signup.confirmed_at is not None:
        return _already(signup.email)
    profile = signup.profile
    asked = {
        "interests": [str(i.get("phrase", "")) for i in profile.get("interests", [])],
        "frequency": str(profile.get("frequency", "daily")),
        "timezone": str(profile.get("timezone") or ""),
    }
    return page("confirm.html", email=signup.email, done=False, asked=asked)


@signup_pages.post("/confirm/<token>")
def confirm(token: str) -> Response:
    here = site()
    try:
        with _link(token), here.opened(write=True) as store:
            done = store.confirm(token, asker(), here.clock)
    except SubscriberError as exc:
        return _gone(str(exc))
    if done.already:
        return _already(done.email)
    if done.first_queued:
        here.mailer.wake()
    token = here.token(done.email, "preferences")
    if done.needs_welcome:  # no interests yet: the welcome page is where they are given
        return Response(status=303, headers={"Location": f"/welcome/{token}?subscribed=1"})
    return page(
        "confirm.html",
        email=done.email,
        done=True,
        mailed=done.first_queued,
        preferences=f"/preferences/{token}",
        welcome=f"/welcome/{token}",
    )
