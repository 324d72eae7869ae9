"""A reader's signed links: the email's footer and cards, the operator's help, the preview's inert
ones."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from digest.errors import SettingsError
from digest.feedback import Vote, vote_token
from digest.models import Pick
from digest.render import Links
from digest.settings import Settings
from digest.tokens import make_token

PREVIEW_PURPOSE = "preview-"


def links_for(
    settings: Settings,
    secret: str,
    edition_id: str,
    email: str,
    *,
    inert: bool = False,
    picks: Sequence[Pick] = (),
) -> Links:
    """The reader's signed links, with a "More like this" / "Less like this" pair per pick
    (signed per reader, paper and verdict). `inert` links (a preview's) are signed for a
    preview-only purpose that every reader page refuses: a preview never hands out a working
    link."""
    base = settings.sender.base_url
    prefix = PREVIEW_PURPOSE if inert else ""

    def token(purpose: str) -> str:
        return make_token(secret, email, prefix + purpose)

    def vote(paper_id: int, verdict: str) -> str:
        return f"{base}/feedback/{vote_token(secret, Vote(email, paper_id, verdict), prefix)}"

    votes = tuple(
        (vote(pick.paper_id, "more"), vote(pick.paper_id, "less"))
        for pick in picks
        if pick.paper_id is not None
    )
    view = token("view")
    return Links(
        browser=f"{base}/archive/{edition_id}/{view}",
        preferences=f"{base}/preferences/{token('preferences')}",
        unsubscribe=f"{base}/unsubscribe/{token('unsubscribe')}",
        archive=f"{base}/archive/{view}",
        feed=f"{base}/feed/{token('feed')}",
        votes=votes if len(votes) == len(picks) else (),
    )


def reader_links(settings: Settings, email: str) -> dict[str, str]:
    """A reader's own pages, signed for them: preferences, the welcome page (topics, papers
    to rate, a library), archive, feed, unsubscribe."""
    if settings.secret_key is None:
        raise SettingsError(
            "reader links are signed: set DIGEST_SECRET_KEY in the environment (the key"
            " `digest send` and `digest serve` use)"
        )
    links = links_for(settings, signing_secret(settings), "", email)
    return {
        "preferences": links.preferences,
        # The welcome page opens with the preferences token, as the preferences page links it.
        "welcome": f"{settings.sender.base_url}/welcome/{links.preferences.rsplit('/', 1)[1]}",
        "archive": links.archive,
        "feed": links.feed,
        "unsubscribe": links.unsubscribe,
    }


def signing_secret(settings: Settings, *, ephemeral: bool = False) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # A preview's links need a key to be well-formed, but it never leaves this machine.
    return secrets.token_urlsafe(32) if ephemeral else ""
