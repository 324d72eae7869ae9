"""A reader's pages, opened by the signed links of their emails: past editions (list, one
edition, the Atom feed) and unsubscribing (a GET asks; a POST, or RFC 8058 one-click, acts)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort

from digest.editions import atom_feed
from digest.web.site import asker, email_page, page, site

pages = Blueprint("reader", __name__)

ARCHIVE_LIMIT = 1000  # editions listed on a reader's archive page
FEED_ENTRIES = 50  # editions in a reader's Atom feed


@pages.get("/healthz")
def health() -> Response:
    """Whether the store answers a read (never creates one: 503 while there is none)."""
    with site().opened() as store:
        store.answers()
    return Response("ok\n", mimetype="text/plain")


@pages.get("/archive/<token>")
def archive_list(token: str) -> Response:
    here = site()
    email = here.reader(token, "view")
    with here.opened() as store:
        here.subscriber(store, email)
        editions = store.past_list(email, ARCHIVE_LIMIT)
    feed = f"{here.base}/feed/{here.token(email, 'feed')}"
    return page("archive_list.html", email=email, editions=editions, token=token, feed=feed)


@pages.get("/feed/<token>")
def feed(token: str) -> Response:
    here = site()
    email = here.reader(token, "feed")
    view = here.token(email, "view")
    with here.opened() as store:
        here.subscriber(store, email)
        editions = [
            (edition, f"{here.base}/archive/{edition.edition_id}/{view}")
            for edition, _ in store.past(email, FEED_ENTRIES)
        ]
    xml = atom_feed(
        editions,
        email=email,
        self_url=f"{here.base}/feed/{token}",
        home_url=f"{here.base}/archive/{view}",
    )
    return Response(xml, mimetype="application/atom+xml")


@pages.get("/archive/<edition>/<token>")
def archive(edition: str, token: str) -> Response:
    here = site()
    email = here.reader(token, "view")
    try:
        dt.date.fromisoformat(edition)
    except ValueError:
        abort(404, description=f"No edition {edition!r}.")
    with here.opened() as store:
        here.subscriber(store, email)
        message = store.archived(edition, email, here.templates.renderer())
    if message is None:
        abort(404, description=f"The {edition} edition was not sent to this address.")
    return email_page(message.html)


@pages.get("/unsubscribe/<token>")
def unsubscribe_ask(token: str) -> Response:
    # GET (and HEAD) only ask: link scanners and prefetchers must not unsubscribe anyone.
    email = site().reader(token, "unsubscribe")
    return page("unsubscribe.html", email=email, done=False, token=token)


@pages.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Response:
    # RFC 8058 one-click (List-Unsubscribe=One-Click) and the confirmation button both land
    # here; either way the token alone authorises it: no cookie, no redirect. It works for a
    # removed reader too: whoever holds the link may always stop the mail.
    here = site()
    email = here.reader(token, "unsubscribe")
    with here.opened(write=True) as store:
        store.unsubscribe(email, here.clock(), asker())
    return page("unsubscribe.html", email=email, done=True, token=token)


@pages.post("/resubscribe/<token>")
def resubscribe(token: str) -> Response:
    # The person holding the unsubscribe link undoes their own unsubscribe; a bounce stays.
    here = site()
    email = here.reader(token, "unsubscribe")
    with here.opened(write=True) as store:
        still = store.resubscribe(email, here.clock(), asker())
    if still is not None:
        return page(
            "message.html",
            409,
            title="This address cannot be mailed",
            text=f"Mail to {email} was refused by its server ({still}); ask the sender to"
            " check the address.",
        )
    return page("resubscribed.html", email=email)
