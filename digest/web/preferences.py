"""A reader's preferences: interests, exclusions, followed authors, liked papers, how often and
where they read, and the feedback to forget; every form error shown at once."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, Response, request

from digest.editions import Pages, paper_id_of
from digest.errors import ProfileErrors
from digest.models import Subscriber
from digest.profile import ProfileInput, profile_input, time_zones, validated_row
from digest.web.site import page, site

preferences_page = Blueprint("preferences", __name__)


@functools.cache
def offered_zones() -> tuple[str, ...]:
    """The names the form suggests (Region/City, and UTC); any IANA name is accepted."""
    return tuple(sorted(z for z in time_zones() if "/" in z or z == "UTC"))


def _forgotten(values: list[str]) -> list[int]:
    """The feedback rows ticked to forget: stored paper ids (ValueError names a bad one)."""
    ids = []
    for value in values:
        paper_id = paper_id_of(value)
        if paper_id is None:
            raise ValueError(f"forget {value[:40]!r} is not a paper of your feedback")
        ids.append(paper_id)
    return ids


def _given(person: Subscriber) -> ProfileInput:
    """What the form says, over the reader's profile for what it leaves out."""
    form = request.form
    return ProfileInput(
        email=person.email,
        name=person.name,
        interests=form.get("interests", "").splitlines(),
        exclude=form.get("exclude", "").splitlines(),
        authors=form.get("authors", "\n".join(person.authors)).splitlines(),
        liked=form.get("liked", "\n".join(person.liked)).splitlines(),
        max_items=form.get("max_items", "").strip() or person.max_items,
        min_score=person.min_score,
        send_at=form.get("send_at", ""),
        timezone=form.get("timezone", ""),
        weekdays_only="weekdays_only" in form,
        frequency=form.get("frequency", person.frequency.value),
        weekday=form.get("weekday", person.weekday),
        delivery=form.get("delivery", person.delivery.value),
        quiet=form.get("quiet", person.quiet.value),
        pause_until=form.get("pause_until", person.pause_until),
    )


def _page(
    store: Pages, person: Subscriber, form: ProfileInput, status: int = 200, **state: Any
) -> Response:
    """The page: the editable profile, then what else shapes the digest."""
    here = site()
    email = person.email
    nav = {
        "archive": f"/archive/{here.token(email, 'view')}",
        "feed": f"{here.base}/feed/{here.token(email, 'feed')}",
        "unsubscribe": f"/unsubscribe/{here.token(email, 'unsubscribe')}",
        "welcome": f"/welcome/{here.token(email, 'preferences')}",
    }
    return page(
        "preferences.html",
        status,
        form=form,
        votes=store.votes(email),
        off=not store.mailed(email),
        stopped=store.stopped(email),
        nav=nav,
        zones=offered_zones(),
        **{"errors": (), "saved": False, **state},
    )


# The unsubscribe link's token opens the preferences too: whoever may stop the mail may also
# change it (and a client that only knows List-Unsubscribe can link here).


@preferences_page.get("/preferences/<token>")
def preferences(token: str) -> Response:
    here = site()
    email = here.reader(token, "preferences", also="unsubscribe")
    with here.opened() as store:
        person = here.subscriber(store, email)
        return _page(store, person, profile_input(person))


@preferences_page.post("/preferences/<token>")
def preferences_save(token: str) -> Response:
    """Every field is checked before anything is written: a bad one saves nothing."""
    here = site()
    email = here.reader(token, "preferences", also="unsubscribe")
    with here.opened(write=True) as store:
        person = here.subscriber(store, email)
        given = _given(person)
        errors: list[str] = []
        try:
            row = validated_row(given)
        except ProfileErrors as exc:
            errors += exc.messages
        except ValueError as exc:
            errors.append(str(exc))
        try:
            forget = _forgotten(request.form.getlist("forget"))
        except ValueError as exc:
            errors.append(str(exc))
        if errors:
            return _page(store, person, given, 400, errors=errors)
        store.save_profile(row, here.clock())
        if forget:
            store.record_votes(email, forget, None, here.clock())
        return _page(store, person, given, saved=True)
