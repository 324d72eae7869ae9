"""A reader's private Atom feed (feedgen): their editions, newest first, one entry each, with
the same picks, evidence and reasons as the email. Served at `{base_url}/feed/<token>`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

from digest.models import QUIET_SENTENCE, Edition
from digest.render import card_fields, header_safe, printable


def _entry_html(edition: Edition) -> str:
    """The edition's picks as a small HTML document (escaped: every value comes from a dump),
    from the same card values as the email."""
    parts: list[str] = []
    if edition.quiet:
        parts.append(str(Markup("<p>{}.</p>").format(QUIET_SENTENCE)))
        if edition.picks:
            parts.append("<p>The day's most upvoted papers, not matched to your interests:</p>")
    for index, pick in enumerate(edition.picks):
        card = card_fields(pick, index, edition.date)
        lines = [Markup('<h3><a href="{}">{}</a></h3>').format(card["url"], card["title"])]
        for line in (card["authors"], card["meta"]):
            if line:
                lines.append(Markup("<p>{}</p>").format(line))
        snippet = Markup("").join(
            Markup("<strong>{}</strong>").format(part.text) if part.em else escape(part.text)
            for part in card["snippet_parts"]
        )
        if snippet:
            lines.append(Markup("<p>{}</p>").format(snippet))
        lines.append(Markup("<p>Why: {}</p>").format(card["reasons"]))
        links = Markup(" · ").join(
            Markup('<a href="{}">{}</a>').format(link.href, link.label) for link in card["links"]
        )
        lines.append(Markup("<p>{}</p>").format(links))
        parts.append(str(Markup("").join(lines)))
    # XML has no place for control characters, whatever a dump held.
    return printable("".join(parts))


def atom_feed(
    editions: Sequence[tuple[Edition, str]], *, email: str, self_url: str, home_url: str
) -> bytes:
    """Atom XML for (edition, its archive URL) pairs, newest first."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(f"Trending papers for {email}")
    feed.subtitle("Your digest's picks, edition by edition.")
    feed.author({"name": "digest"})
    feed.link(href=self_url, rel="self")
    feed.link(href=home_url, rel="alternate")
    feed.language("en")
    newest = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for edition, archive_url in editions:
        stamp = dt.datetime.combine(edition.date, dt.time(0), tzinfo=dt.UTC)
        newest = max(newest, stamp)
        entry = feed.add_entry(order="append")
        entry.id(archive_url)
        count = len(edition.picks)
        lead = f": {edition.picks[0].paper.title}" if edition.picks else ""
        papers = f"{count} paper{'s' if count != 1 else ''}"
        if edition.quiet:  # the day's most upvoted papers were not picked for this reader
            papers, lead = QUIET_SENTENCE, ""
        entry.title(header_safe(f"{papers} · {edition.date:%a %-d %b %Y}{lead}", 300))
        entry.link(href=archive_url, rel="alternate")
        entry.published(stamp)
        entry.updated(stamp)
        entry.content(_entry_html(edition), type="html")
    feed.updated(newest)
    xml: bytes = feed.atom_str(pretty=True)
    return xml
