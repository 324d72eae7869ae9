"""The view model: an Edition and its links as the fields the templates show (cards, sections,
subject, preheader, the quiet-day note), every value from a dump made printable first."""

from __future__ import annotations

import datetime as dt
import functools
import re
import textwrap
import unicodedata
import zoneinfo
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, urlsplit

from digest.models import QUIET_SENTENCE, Basis, Edition, Frequency, Paper, Pick
from digest.safe_text import web_url

BUILTIN_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SNIPPET_CHARS = 320
MAX_AUTHORS_SHOWN = 3
# A paper published more than this many days before the edition is not called new.
RECENT_DAYS = 30
# The lead and this many more get a full card; the rest are one-line titles under "Also new".
FULL_CARDS = 7
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True, slots=True)
class Links:
    """Per-recipient URLs for the footer (and the List-Unsubscribe header), and per card the
    reader's "More like this" / "Less like this" links (in the order of the picks).
    `in_browser`: the edition is shown on its archive page, whose footer links to the list of
    past editions instead of to itself."""

    browser: str
    preferences: str
    unsubscribe: str
    archive: str
    feed: str
    votes: tuple[tuple[str, str], ...] = ()
    in_browser: bool = False


class CardLink(NamedTuple):
    """A link under a card: Abstract, PDF, Code, ... (an immutable record, not a dict: the
    template's {% cache %} recognises one it has seen without comparing its contents)."""

    label: str
    href: str


class SnippetPart(NamedTuple):
    """A piece of a card's snippet; `em`: the reader's own words, shown strong."""

    text: str
    em: bool


def header_safe(text: str, limit: int = 160) -> str:
    """One line of printable text, for anything that may end up in an email header."""
    # isprintable() is False exactly when some character is of category C or Z (but " "):
    # most titles need no per-character pass.
    shown = (
        text
        if text.isprintable()
        else "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    )
    collapsed = " ".join(shown.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1].rstrip() + "…"


def _page_title(subject: str) -> str:
    """The subject as the HTML title: MRML copies the title into an aria-label and writes
    combining marks there as escape codes (\\u{301}), so accents are composed and marks that
    compose with nothing are left out."""
    composed = unicodedata.normalize("NFC", subject)
    return "".join(c for c in composed if unicodedata.category(c) not in ("Mn", "Me"))


def snippet(abstract: str, limit: int = SNIPPET_CHARS) -> str:
    """Whole sentences up to `limit` characters; a cut at a word boundary when one is too long."""
    text = " ".join(abstract.split())
    if len(text) <= limit:
        return text
    taken = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{taken} {sentence}".strip()
        if len(candidate) > limit:
            break
        taken = candidate
    if taken:
        return taken
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(",;:") + "…"


def short_name(name: str) -> str:
    """ "Ashish Vaswani" → "A. Vaswani", "Jean-Pierre Serre" → "J.-P. Serre"; a name of one word
    (or written without spaces, as many Chinese names are) stays as it is."""
    words = name.split()
    if len(words) < 2:
        return name
    initials = ["-".join(part[0] + "." for part in word.split("-") if part) for word in words[:-1]]
    return " ".join([*initials, words[-1]])


def authors_line(paper: Paper) -> str:
    """The first authors by name ("A. Vaswani, N. Shazeer, … +6"), else how many there are."""
    if paper.authors:
        if len(paper.authors) <= MAX_AUTHORS_SHOWN:
            return ", ".join(short_name(a) for a in paper.authors)
        shown = ", ".join(short_name(a) for a in paper.authors[: MAX_AUTHORS_SHOWN - 1])
        return f"{shown}, … +{len(paper.authors) - MAX_AUTHORS_SHOWN + 1}"
    if paper.author_count:
        return _plural(paper.author_count, "author")
    return ""


def is_recent(paper: Paper, today: dt.date) -> bool:
    """Published within RECENT_DAYS of the edition; a paper without a date counts as recent
    (the listing is all that is known of it)."""
    return paper.published is None or (today - paper.published).days <= RECENT_DAYS


def is_new(pick: Pick, edition: Edition) -> bool:
    """A pick counts among the edition's "new papers" when it is recent (is_recent) and was
    first seen since the start of the day before the edition (the week before, for a weekly
    reader) in the reader's time zone: the second edition of a first week does not present
    the week's older papers as new."""
    if not is_recent(pick.paper, edition.date):
        return False
    if pick.first_seen is None:
        return True
    person = edition.subscriber
    days = 7 if person.frequency is Frequency.WEEKLY else 1
    start = dt.datetime.combine(edition.date, dt.time(), zoneinfo.ZoneInfo(person.timezone))
    return pick.first_seen > start - dt.timedelta(days=days)


def date_note(paper: Paper, first_seen: dt.datetime | None, today: dt.date) -> str:
    """When the paper came out, truthfully: an old paper that a listing shows again is
    "published 2018, trending now", not new."""
    published = paper.published
    if published is not None:
        age = (today - published).days
        if age > RECENT_DAYS:
            when = str(published.year) if age > 365 else published.strftime("%b %Y")
            return f"published {when}, trending now"
        if age <= 0:
            return "published today"
        return "published yesterday" if age == 1 else f"published {published:%b %-d}"
    if first_seen is not None:
        seen = first_seen.date()
        return "first listed today" if seen >= today else f"first listed {seen:%b %-d}"
    return ""


def stats_line(paper: Paper, upvote_delta: int) -> str:
    """Upvotes and their movement, and the discussion size, once."""
    parts = []
    if paper.upvotes:
        votes = f"▲ {paper.upvotes}"
        if upvote_delta > 0:
            votes += f" (+{upvote_delta} since the last listing)"
        parts.append(votes)
    if paper.comments:
        parts.append(_plural(paper.comments, "comment"))
    return " · ".join(parts)


def paper_links(paper: Paper) -> tuple[CardLink, ...]:
    """The card's links; only http(s) ones (a store filled before ingest checked links may
    still hold others)."""
    links = []
    if paper.arxiv_id:
        links.append({"label": "Abstract", "href": f"https://arxiv.org/abs/{paper.arxiv_id}"})
    pdf_url, code_url = web_url(paper.pdf_url), web_url(paper.code_url)
    if pdf_url:
        links.append({"label": "PDF", "href": pdf_url})
    if code_url:
        links.append({"label": "Code", "href": code_url})
    project = web_url(paper.project_url)
    if project:
        links.append({"label": "Project", "href": project})
    page = web_url(paper.url)
    if page and urlsplit(page).hostname == "huggingface.co":
        links.append({"label": "Hugging Face", "href": page})
    if not links:
        links.append({"label": "Find on arXiv", "href": paper_url(paper)})
    return tuple(CardLink(link["label"], safe_url(link["href"])) for link in links)


def paper_url(paper: Paper) -> str:
    """Where the title leads: the arXiv abstract when known, else the listing's page."""
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    url = web_url(paper.url)
    if url:
        return url
    return f"https://arxiv.org/search/?searchtype=title&query={quote_plus(paper.title)}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def printable(value: str) -> str:
    """Control characters never reach a template (MJML's parser rejects them), and neither do
    the slot markers of a shared rendering (a title must never become another reader's slot)."""
    return value if value.isprintable() else value.translate(_CONTENT)


DEFAULT_SUBJECT = "{papers} · {date}: {top}"
DEFAULT_PREHEADER = "Also: {others}"


def _format(pattern: str, fields: dict[str, Any]) -> str:
    text = pattern.format(**fields)
    # An empty {top}/{others} would leave a dangling separator: "0 new papers · Sun 22 Nov: ".
    return text.rstrip(" :;·-—")


def edition_context(
    edition: Edition,
    links: Links,
    subject_format: str = DEFAULT_SUBJECT,
    preheader_format: str = DEFAULT_PREHEADER,
) -> dict[str, Any]:
    """Everything the templates need, as plain values (pure: easy to test alone)."""
    picks = tuple(_printable_pick(p) for p in edition.picks)
    count = len(picks)
    short_date = edition.date.strftime("%a %-d %b")
    top = header_safe(picks[0].paper.title, 70) if picks else ""
    others = [header_safe(p.paper.title, 60) for p in picks[1:3]]
    # "New" only when every paper is: an old paper trending again is not new, and neither is
    # one first seen days before this edition (see is_new).
    older = sum(not is_recent(p.paper, edition.date) for p in picks)
    new = sum(is_new(p, edition) for p in picks)
    papers = _counted(count, new)
    fields = {
        "count": count,
        "papers": papers,
        "date": short_date,
        "top": top,
        "others": "; ".join(others),
    }
    items = [card_fields(pick, index, edition.date) for index, pick in enumerate(picks)]
    if edition.quiet:
        return {**_quiet(edition, items, short_date), **recipient_fields(edition, links)}
    subject = header_safe(_format(subject_format, fields))
    preheader = header_safe(
        _format(preheader_format, fields) if others else "Picked for you from today's listings",
        150,
    )
    sections = _sections(items[1:FULL_CARDS])
    return {
        "subject": subject,
        "page_title": _page_title(subject),
        "preheader": preheader,
        "edition_label": edition.date.strftime("%A %-d %B %Y").upper(),
        "headline": f"{_counted(count, count)} for you"
        if new == count
        else f"{_plural(count, 'paper')} for you" + (f", {new} new" if new else ""),
        "summary": _summary(picks, edition, sections, older),
        "lead": items[0],
        "sections": sections,
        "also": items[FULL_CARDS:],
        **recipient_fields(edition, links),
    }


def _quiet(edition: Edition, items: list[dict[str, Any]], short_date: str) -> dict[str, Any]:
    """A quiet day's email: it says first that nothing matched (a reader can tell a quiet day
    from a service that stopped), then lists the day's most upvoted papers under a heading
    that says they were not matched to the reader, with no top pick."""
    subject = header_safe(f"{QUIET_SENTENCE} · {short_date}")
    summary = (
        "Today's new papers held nothing on your interests. Here are the day's most upvoted"
        " ones instead, not matched to you."
        if items
        else "Today's new papers held nothing on your interests; your subscription is working."
    )
    return {
        "subject": subject,
        "page_title": _page_title(subject),
        "preheader": header_safe(summary, 150),
        "edition_label": edition.date.strftime("%A %-d %B %Y").upper(),
        "headline": QUIET_SENTENCE,
        "summary": summary,
        "lead": None,
        "sections": _sections(items[:FULL_CARDS]),
        "also": items[FULL_CARDS:],
    }


# Section headings for picks that no interest phrase brought, and how the summary names them.
_HEADINGS = {
    Basis.INTEREST: ("Matching your interests", "your interests"),
    Basis.LIKED: ("Like the papers you liked", "papers like those you liked"),
    Basis.FEEDBACK: ("More like what you asked for", "more of what you asked for"),
    Basis.AUTHOR: ("From authors you follow", "authors you follow"),
    Basis.POPULAR: ("Trending today", "what is trending"),
    Basis.UNMATCHED: ("Most upvoted today, not matched to your interests", "what is trending"),
}


def _sections(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full cards after the lead, grouped under what brought them (an interest phrase,
    liked papers, ...), groups in the order of their best paper, papers in rank order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item["heading"], []).append(item)
    return [
        {"heading": heading, "topic": members[0]["topic"], "items": members}
        for heading, members in groups.items()
    ]


def _counted(count: int, new: int) -> str:
    """ "3 new papers" when all are new that day, "8 papers, 3 new" when some are, "2 papers"
    when none is."""
    if new == count:
        return _plural(count, "new paper")
    return _plural(count, "paper") + (f", {new} new" if new else "")


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _summary(
    picks: tuple[Pick, ...], edition: Edition, sections: list[dict[str, Any]], older: int
) -> str:
    """One line under the headline: what follows, and that little cleared the bar today or
    that `older` papers are old ones trending again."""
    if len(picks) < min(3, edition.subscriber.max_items):
        line = (
            f"A quiet day: only {_plural(len(picks), 'paper')} cleared the bar for your interests."
        )
    else:
        topics = [section["topic"] for section in sections]
        line = f"Your top pick, then {_listed(topics)}." if topics else "Your top pick."
    if older:
        line += (
            " One is an older paper trending again."
            if older == 1
            else f" {older} are older papers trending again."
        )
    return line


def _printable_pick(pick: Pick) -> Pick:
    # The evidence keeps its characters until it is cut at its highlights (evidence_parts).
    return replace(
        pick,
        paper=_printable_paper(pick.paper),
        reasons=tuple(printable(r) for r in pick.reasons),
    )


@functools.lru_cache(maxsize=50_000)
def _printable_paper(paper: Paper) -> Paper:
    """Cached: the same papers reach many readers."""
    return replace(
        paper,
        title=printable(paper.title),
        abstract=printable(paper.abstract),
        authors=tuple(printable(a) for a in paper.authors),
    )


def evidence_parts(
    evidence: str, highlights: tuple[tuple[int, int], ...], abstract: str
) -> tuple[SnippetPart, ...]:
    """The card's snippet as pieces, the reader's words marked `em`: the sentence that earned
    the pick when there is one, else the abstract's first sentences."""
    if not evidence:
        return (SnippetPart(snippet(abstract), em=False),) if abstract else ()
    parts: list[SnippetPart] = []
    done = 0
    for start, end in sorted(highlights):
        if start < done or end > len(evidence):
            continue
        if start > done:
            parts.append(SnippetPart(printable(evidence[done:start]), em=False))
        parts.append(SnippetPart(printable(evidence[start:end]), em=True))
        done = end
    if done < len(evidence):
        parts.append(SnippetPart(printable(evidence[done:]), em=False))
    return tuple(parts)


def card_fields(pick: Pick, index: int, today: dt.date) -> dict[str, Any]:
    """One card's values, for the email's templates and the Atom feed: the paper's (the same
    for every reader who gets it) and the snippet's (the same for readers matched by the same
    words) come from caches, since with readers of different interests nearly every edition is
    new but its papers are not. Callers only read these dicts."""
    return {
        **_paper_fields(pick.paper, pick.upvote_delta, pick.first_seen, today),
        **_snippet_fields(pick.evidence, pick.highlights, pick.paper.abstract),
        "index": index,  # the card's place among the picks: its pair of vote links
        "heading": pick.interest or _HEADINGS[pick.basis][0],
        "topic": pick.interest or _HEADINGS[pick.basis][1],
        "reasons": "; ".join(pick.reasons),
    }


@functools.lru_cache(maxsize=50_000)
def _paper_fields(
    paper: Paper, upvote_delta: int, first_seen: dt.datetime | None, today: dt.date
) -> dict[str, Any]:
    thumbnail = web_url(paper.thumbnail_url)
    meta = (date_note(paper, first_seen, today), stats_line(paper, upvote_delta))
    return {
        "title": paper.title,
        "title_wrapped": textwrap.fill(paper.title, 72),
        "url": safe_url(paper_url(paper)),
        "authors": authors_line(paper),
        "meta": " · ".join(part for part in meta if part),
        "links": paper_links(paper),
        "thumbnail": safe_url(thumbnail) if thumbnail else "",
    }


@functools.lru_cache(maxsize=50_000)
def _snippet_fields(
    evidence: str, highlights: tuple[tuple[int, int], ...], abstract: str
) -> dict[str, Any]:
    parts = evidence_parts(evidence, highlights, abstract)
    text = "".join(part.text for part in parts)
    return {"snippet": text, "snippet_parts": parts, "snippet_wrapped": textwrap.fill(text, 72)}


def recipient_fields(edition: Edition, links: Links) -> dict[str, Any]:
    """The values that differ between two readers who get the same papers."""
    return {
        "recipient": printable(edition.subscriber.email),
        "interests": printable(
            ", ".join(i.phrase for i in edition.subscriber.interests)
            or "the papers you read and rate (no topics yet)"
        ),
        "links": {
            "browser": safe_url(links.browser),
            "preferences": safe_url(links.preferences),
            "unsubscribe": safe_url(links.unsubscribe),
            "archive": safe_url(links.archive),
            "feed": safe_url(links.feed),
        },
        "in_browser": links.in_browser,
        # One pair per card, or none at all (a template indexes them by card).
        "votes": [{"more": safe_url(more), "less": safe_url(less)} for more, less in links.votes]
        if len(links.votes) == len(edition.picks)
        else [],
    }


# Slots are marked with two private-use code points that _printable removes from every value
# taken from a dump or a reader, so no content can pose as a slot.
SLOT_OPEN, SLOT_CLOSE = "\ue000", "\ue001"


# Values are single lines: line breaks and tabs become spaces, other control characters go.
_CONTROL: dict[int, str | None] = {
    **dict.fromkeys(range(32)),
    **dict.fromkeys((9, 10, 13), " "),
    127: None,
    # Not characters at all (and not XML): MRML refuses a template holding one.
    0xFFFE: None,
    0xFFFF: None,
}
# What content loses before it reaches a template: control characters and the slot markers.
_CONTENT: dict[int, str | None] = {**_CONTROL, ord(SLOT_OPEN): None, ord(SLOT_CLOSE): None}
_URL_SAFE = ":/?#[]@!$&()*+,;=%~-._"


def single_line(text: str) -> str:
    """`text` without control characters (line breaks and tabs as spaces). Most values have
    none: isprintable() answers that in C before the slower translation."""
    return text if text.isprintable() else text.translate(_CONTROL)


def safe_url(url: str) -> str:
    """Percent-encode what an HTML serialiser would otherwise re-encode or re-quote (spaces,
    quotes, angle brackets, non-ASCII), so a URL reads the same in every output."""
    return quote(single_line(url).strip(), safe=_URL_SAFE)
