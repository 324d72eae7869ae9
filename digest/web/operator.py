"""The operator's pages: every subscriber, and one's next edition and last one sent. Open only
with DIGEST_ADMIN_TOKEN (bearer token or HTTP Basic password); their links are signed for a
purpose every reader page refuses."""

from __future__ import annotations

import base64
import hmac
import re

from flask import Blueprint, Response, abort, request

from digest.editions import edition_date
from digest.models import Email, Subscriber
from digest.web.site import PAGE_POLICY, email_page, page, site

operator_pages = Blueprint("operator", __name__)

PREVIEW_PAGE = 100  # subscribers per preview listing page
MAX_PAGE_NUMBER = 10**6
MAX_QUERY_CHARS = 200
# The preview page's frames take the height of the email inside them (same origin).
FIT_FRAMES = """
for (const frame of document.querySelectorAll("iframe[data-fit]")) {
  const fit = () => {
    const page = frame.contentDocument && frame.contentDocument.documentElement;
    if (page) frame.style.height = page.scrollHeight + "px";
  };
  frame.addEventListener("load", fit);
  fit();
}
"""


def is_operator(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the operator's token: `Bearer TOKEN`, or HTTP
    Basic with TOKEN as the password (any user name). Compared in constant time."""
    scheme, _, value = (header or "").partition(" ")
    offered = ""
    if scheme.casefold() == "bearer":
        offered = value.strip()
    elif scheme.casefold() == "basic":
        try:
            offered = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
            return False
        offered = offered.partition(":")[2]
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def _page_number(value: str | None) -> int:
    """?page=N for a listing: a whole number from 1 (400 for anything else)."""
    if value is None or value == "":
        return 1
    if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= MAX_PAGE_NUMBER:
        abort(400, description=f"page must be a whole number from 1 to {MAX_PAGE_NUMBER:,}.")
    return int(value)


@operator_pages.before_request
def operator_only() -> None:
    """The preview is the operator's: off without DIGEST_ADMIN_TOKEN, 401 without it."""
    here = site()
    if not here.settings.web.preview or not here.admin:
        abort(404, description="The preview is switched off on this server.")
    if not is_operator(request.headers.get("Authorization"), here.admin):
        abort(401, description="The preview needs the operator's credential.")


@operator_pages.get("/preview")
def preview_list() -> Response:
    here = site()
    query = request.args.get("q", "").strip()
    if len(query) > MAX_QUERY_CHARS:
        abort(400, description=f"q is longer than {MAX_QUERY_CHARS} characters.")
    wanted = _page_number(request.args.get("page"))
    with here.opened() as store:
        shown, total, suppressed = store.readers(query, (wanted - 1) * PREVIEW_PAGE, PREVIEW_PAGE)
        pages = max(1, -(-total // PREVIEW_PAGE))
        current = min(wanted, pages)
        if current != wanted:  # past the end: show the last page
            shown, total, suppressed = store.readers(
                query, (current - 1) * PREVIEW_PAGE, PREVIEW_PAGE
            )
        came_back = store.came_back_last([p.email for p in shown])
    return page(
        "preview_list.html",
        people=shown,
        total=total,
        suppressed=suppressed,
        came_back=came_back,
        query=request.args.get("q", ""),
        current=current,
        pages=pages,
    )


def next_digest(email: str) -> tuple[Subscriber, Email]:
    """The reader's next edition, ranked once per state of the store (cached)."""
    here = site()
    with here.opened() as store:
        person = here.subscriber(store, email, missing=404)
        renderer = here.templates.renderer()
        key = (
            person,
            edition_date(here.clock(), here.settings.timezone),
            store.state(person.email),
            here.templates.stamp(),
        )
        message = here.previews.get(key, lambda: store.next_edition(person, here.clock, renderer))
        return person, message


def last_digest(email: str) -> tuple[str, Email] | None:
    """The newest edition this reader got, as it went out but with inert links."""
    here = site()
    with here.opened() as store:
        person = here.subscriber(store, email, missing=404)
        return store.last_edition(person, here.templates.renderer())


@operator_pages.get("/preview/<email>")
def preview_page(email: str) -> Response:
    person, message = next_digest(email)
    last = last_digest(email)
    response = page("preview.html", person=person, message=message, last=last)
    # The one page with a script: it fits each frame to its email's height.
    response.headers["Content-Security-Policy"] = PAGE_POLICY + "; script-src 'self'"
    return response


@operator_pages.get("/preview/<email>/email.html")
def preview_email(email: str) -> Response:
    return email_page(next_digest(email)[1].html)


@operator_pages.get("/preview/<email>/last.html")
def preview_last(email: str) -> Response:
    last = last_digest(email)
    if last is None:
        abort(404, description="Nothing has been sent to this address yet.")
    return email_page(last[1].html)


@operator_pages.get("/static/fit-frames.js")
def fit_frames() -> Response:
    return Response(FIT_FRAMES, mimetype="text/javascript")
