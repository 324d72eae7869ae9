"""A reader's preferences: interests, exclusions, followed authors, liked papers, how often and
where they read, and the feedback to forget; every form error shown at once."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from flask import Blueprint, Response, request

from digest.feedback import record
from digest.subscribers import ProfileErrors, ProfileInput, profile_input, validated_row
from digest.web.site import page, site

preferences_page = Blueprint("preferences", __name__)


@functools.cache
def _time_zones() -> tuple[str, ...]:
    """The IANA names the preferences page offers (the system's zone database)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


@preferences_page.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> Response:
    # The unsubscribe link's token opens the preferences too: whoever may stop the mail
    # may also change it (and a client that only knows List-Unsubscribe can link here).
    here = site()
    email = here.reader(token, "preferences", also="unsubscribe")
    with here.opened(write=request.method == "POST") as store:
        person = here.subscriber_or_404(store, email)
        nav = {
            "archive": f"/archive/{here.token(email, 'view')}",
            "feed": f"{here.base}/feed/{here.token(email, 'feed')}",
            "unsubscribe": f"/unsubscribe/{here.token(email, 'unsubscribe')}",
        }

        def show(form: ProfileInput, status: int = 200, **state: Any) -> Response:
            """The page: the editable profile, then what else shapes the digest."""
            return page(
                "preferences.html",
                status,
                form=form,
                votes=store.feedback([email])[email],
                off=store.suppressed(email) is not None,
                nav=nav,
                zones=_time_zones(),
                **{"errors": (), "saved": False, **state},
            )

        if request.method == "GET":
            return show(profile_input(person))
        forget = [int(v) for v in request.form.getlist("forget") if v.isdigit()]
        given = ProfileInput(
            email=person.email,
            name=person.name,
            interests=request.form.get("interests", "").splitlines(),
            exclude=request.form.get("exclude", "").splitlines(),
            authors=request.form.get("authors", "\n".join(person.authors)).splitlines(),
            liked=request.form.get("liked", "\n".join(person.liked)).splitlines(),
            max_items=request.form.get("max_items", "").strip() or person.max_items,
            min_score=person.min_score,
            send_at=request.form.get("send_at", ""),
            timezone=request.form.get("timezone", ""),
            weekdays_only="weekdays_only" in request.form,
            frequency=request.form.get("frequency", person.frequency.value),
            weekday=request.form.get("weekday", person.weekday),
            delivery=request.form.get("delivery", person.delivery.value),
        )
        try:
            row = validated_row(given)
        except ProfileErrors as exc:
            return show(given, 400, errors=exc.messages)
        except ValueError as exc:
            return show(given, 400, errors=(str(exc),))
        store.upsert_subscribers([row], here.clock())
        if forget:
            record(store, email, forget, None, here.clock())
        return show(given, saved=True)
