"""A card's "More like this" / "Less like this": GET shows one button (a link scanner changes
nothing), POST records the vote and offers Undo."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from digest.editions import FEEDBACK_PURPOSE, Vote, read_vote
from digest.errors import BadToken
from digest.web.site import page, site

vote_pages = Blueprint("votes", __name__)


def _vote(token: str) -> Vote:
    try:
        return read_vote(site().secret, token, old_form=site().old_form())
    except BadToken as exc:
        site().refuse(exc, token, (FEEDBACK_PURPOSE,))


def _feedback_page(token: str, state: str) -> Response:
    """GET asks (a link scanner changes nothing); POST records; /undo forgets."""
    here = site()
    vote = _vote(token)
    with here.opened(write=state != "ask") as store:
        here.subscriber(store, vote.email)
        paper = store.paper(vote.paper_id)
        if paper is None:
            abort(404, description="That paper is no longer in the store.")
        if state == "done":
            store.record_votes(vote.email, [vote.paper_id], vote.verdict, here.clock())
        elif state == "undone":
            store.record_votes(vote.email, [vote.paper_id], None, here.clock())
    nav = {"preferences": f"/preferences/{here.token(vote.email, 'preferences')}"}
    title = paper.paper.title
    return page("feedback.html", vote=vote, state=state, title=title, token=token, nav=nav)


@vote_pages.get("/feedback/<token>")
def feedback_ask(token: str) -> Response:
    return _feedback_page(token, "ask")


@vote_pages.post("/feedback/<token>")
def feedback(token: str) -> Response:
    return _feedback_page(token, "done")


@vote_pages.post("/feedback/<token>/undo")
def feedback_undo(token: str) -> Response:
    return _feedback_page(token, "undone")
