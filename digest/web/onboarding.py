"""The welcome page: the two minutes that make a new reader's profile (the confirmation leads
here, the preferences page links here). Topics to tick, papers to rate, papers to paste, a
library export to upload; one POST adds them all, or nothing when any part is wrong, and
queues a new reader's first edition (the mail worker sends it after the answer)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from digest.editions import Answers
from digest.errors import LibraryError, ProfileErrors
from digest.web.bodies import LIBRARY_BODY, takes_body
from digest.web.site import page, site

welcome_pages = Blueprint("welcome", __name__)

MAX_PASTED = 200
MAX_FILES = 5


def _page(email: str, status: int = 200, **state: Any) -> Response:
    here = site()
    with here.opened() as store:
        offered = store.starter(here.clock())
        votes = store.votes(email)
    rated = {p.id: verdict for verdict, papers in votes.items() for p in papers}
    return page(
        "welcome.html",
        status,
        email=email,
        topics=offered.topics,
        papers=offered.papers,
        rated=rated,
        preferences=f"/preferences/{here.token(email, 'preferences')}",
        **{"errors": (), "started": None, **state},
    )


@welcome_pages.get("/welcome/<token>")
def welcome(token: str) -> Response:
    """The page; `?subscribed=1` (a confirmation without interests comes here) says first that
    the subscription is confirmed."""
    subscribed = request.args.get("subscribed") == "1"
    return _page(site().reader(token, "preferences"), subscribed=subscribed)


def _answers() -> Answers:
    """The form as answers; ValueError names a field that is not what the page sends."""
    form = request.form
    ratings: dict[int, str] = {}
    for key, value in form.items():
        if key.startswith("rate-") and value in ("more", "less"):
            if not key[5:].isdigit():
                raise ValueError(f"{key[:40]!r} is not a paper of this page")
            ratings[int(key[5:])] = value
    pasted = form.get("papers", "").splitlines()
    if len(pasted) > MAX_PASTED:
        raise ValueError(f"paste at most {MAX_PASTED} papers; upload a library export instead")
    files = [f for f in request.files.getlist("library") if f.filename]
    if len(files) > MAX_FILES:
        raise ValueError(f"upload at most {MAX_FILES} files at once")
    return Answers(
        topics=[t.strip() for t in form.getlist("topic") if t.strip()],
        papers=pasted,
        ratings=ratings,
        files=[(f.filename or "library", f.read()) for f in files],
    )


@welcome_pages.post("/welcome/<token>")
@takes_body(LIBRARY_BODY)  # library exports (the other pages: 64 KiB)
def welcome_save(token: str) -> Response:
    here = site()
    email = here.reader(token, "preferences")
    errors: list[str] = []
    try:
        answers = _answers()
        with here.opened(write=True) as store:
            person = here.subscriber(store, email)
            started = store.start(person, answers, here.clock())
    except ProfileErrors as exc:
        errors += exc.messages
    except (ValueError, LibraryError) as exc:
        errors.append(str(exc))
    if errors:
        return _page(email, 400, errors=errors)
    if started.first_queued:
        here.mailer.wake()  # the first edition goes out after this answer
    return _page(email, started=started, mailed=started.first_queued)
