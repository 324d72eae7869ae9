"""Render stage: Edition → Email (subject, preheader, HTML part, text part).

HTML, by definition: Jinja2 (autoescaped) → MJML compiled by MRML (mjml-python) → CSS inlined by
premailer, keeping the `@media` rules for mobile and dark mode. Text: its own Jinja2 template.

Compiled once: MJML and premailer cost ~20-80 ms an email, so they run once per template instead.
Every `{{ expression }}` of the template becomes an inert token and every `{% statement %}` an
HTML comment; that marked template goes through MJML and premailer once; the tokens and comments
are turned back into Jinja, each expression wrapped in the escaping that premailer's serialiser
would have produced at that spot (text or attribute). Rendering an email is then one Jinja
render of the compiled HTML, and gives byte-for-byte what the per-recipient pipeline gives
(`Renderer.render_naive`, compared in tests/test_render_compiled.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import html as html_module
import logging
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus, urlsplit

import jinja2
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from digest.errors import RenderError
from digest.fragments import FragmentCache
from digest.models import QUIET_SENTENCE, Basis, Edition, Email, Paper, Pick
from digest.safe_text import web_url

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SNIPPET_CHARS = 320
MAX_AUTHORS_SHOWN = 3
# A paper published more than this many days before the edition is not called new.
RECENT_DAYS = 30
# The lead and this many more get a full card; the rest are one-line titles under "Also new".
FULL_CARDS = 7
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")

# cssutils logs one warning per vendor-specific property; they are expected in email CSS.
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


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
SUBJECT_FIELDS = ("count", "papers", "date", "top", "others")


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
    # "New" only when every paper is: an old paper trending again is not new.
    older = sum(not is_recent(p.paper, edition.date) for p in picks)
    papers = _plural(count, "paper" if older else "new paper")
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
        "headline": f"{papers} for you",
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
            ", ".join(i.phrase for i in edition.subscriber.interests) or "everything trending"
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
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"
_SLOTS = {
    "recipient": f"{_SLOT_OPEN}0{_SLOT_CLOSE}",
    "interests": f"{_SLOT_OPEN}1{_SLOT_CLOSE}",
    "links": {
        "browser": f"{_SLOT_OPEN}2{_SLOT_CLOSE}",
        "preferences": f"{_SLOT_OPEN}3{_SLOT_CLOSE}",
        "unsubscribe": f"{_SLOT_OPEN}4{_SLOT_CLOSE}",
        "archive": f"{_SLOT_OPEN}5{_SLOT_CLOSE}",
        "feed": f"{_SLOT_OPEN}6{_SLOT_CLOSE}",
    },
}
_FIRST_VOTE_SLOT = 7
_SLOT = re.compile(f"{_SLOT_OPEN}(\\d+){_SLOT_CLOSE}")
_NOT_YET = object()  # an edition not rendered with slots yet
MAX_SEEN = 65_536  # editions a renderer remembers having rendered once


def _slots(votes: int) -> dict[str, Any]:
    """The slot markers for a rendering whose cards carry `votes` pairs of feedback links."""
    return {
        **_SLOTS,
        "votes": [
            {
                "more": f"{_SLOT_OPEN}{_FIRST_VOTE_SLOT + 2 * n}{_SLOT_CLOSE}",
                "less": f"{_SLOT_OPEN}{_FIRST_VOTE_SLOT + 1 + 2 * n}{_SLOT_CLOSE}",
            }
            for n in range(votes)
        ],
    }


def _slot_values(fields: dict[str, Any]) -> list[str]:
    links = fields["links"]
    return [
        fields["recipient"],
        fields["interests"],
        links["browser"],
        links["preferences"],
        links["unsubscribe"],
        links["archive"],
        links["feed"],
        *(url for vote in fields["votes"] for url in (vote["more"], vote["less"])),
    ]


# Literal chunks of a shared rendering, each followed by (slot number, escaping) to fill in.
_Parts = tuple[tuple[str, int, Callable[[Any], str] | None], ...]


@dataclass(frozen=True, slots=True)
class _Shared:
    """One edition's email for everyone who gets the same papers, with the reader's own values
    left as slots: literal chunks, and between them (slot number, escaping) to fill in."""

    subject: str
    preheader: str
    html: _Parts
    html_tail: str
    text: _Parts
    text_tail: str
    # Whether each part may be encoded in pieces: not when a chunk holds a bare CR, whose line
    # ends fold across pieces.
    html_in_pieces: bool
    text_in_pieces: bool

    def fill_html(self, values: list[str]) -> tuple[str, tuple[str, ...] | None]:
        """The reader's HTML, and the same as pieces: the shared literals between the reader's
        escaped values (None when a literal holds a bare CR: it must be encoded whole)."""
        return _Shared._filled(self.html, self.html_tail, values, self.html_in_pieces)

    def fill_text(self, values: list[str]) -> tuple[str, tuple[str, ...] | None]:
        """The reader's text part, likewise."""
        return _Shared._filled(self.text, self.text_tail, values, self.text_in_pieces)

    @staticmethod
    def _filled(
        parts: _Parts, tail: str, values: list[str], in_pieces: bool
    ) -> tuple[str, tuple[str, ...] | None]:
        pieces = _Shared._pieces(parts, tail, _Shared._escaped(parts, values))
        return "".join(pieces), tuple(pieces) if in_pieces else None

    @staticmethod
    def _escaped(parts: _Parts, values: list[str]) -> list[str]:
        """Each slot's value, escaped for where it stands."""
        return [escape(values[slot]) if escape else values[slot] for _, slot, escape in parts]

    @staticmethod
    def _pieces(parts: _Parts, tail: str, escaped: list[str]) -> list[str]:
        """The literal chunks with the escaped values between them, then the tail."""
        pieces: list[str] = []
        for (chunk, _, _), value in zip(parts, escaped, strict=True):
            pieces += (chunk, value)
        pieces.append(tail)
        return pieces


def _no_bare_cr(parts: _Parts, tail: str) -> bool:
    return not any("\r" in chunk for chunk, _, _ in parts) and "\r" not in tail


class _Unshareable(Exception):
    """A reader's value that the shared rendering cannot hold exactly (see _attribute_slot)."""


def _attribute_slot(value: Any) -> Markup:
    """A reader's value inside an attribute of the shared rendering. lxml would have chosen the
    quotes from the whole value, which a slot cannot change afterwards: a value with a double
    quote sends this email down the direct path."""
    text = _mrml_attribute(str(value))
    if '"' in text:
        raise _Unshareable
    return _attribute(text)


def _mrml_attribute(text: str) -> str:
    """MRML writes every attribute value with its backslashes doubled; the compiled paths
    reproduce that so they equal the per-recipient pipeline."""
    return text.replace("\\", "\\\\")


def _split_slots(rendered: str, html: bool) -> tuple[_Parts, str]:
    parts = []
    start = 0
    for match in _SLOT.finditer(rendered):
        escape: Callable[[Any], str] | None = None
        if html:
            escape = _attribute_slot if _inside_tag(rendered, match.start()) else _text
        parts.append((rendered[start : match.start()], int(match.group(1)), escape))
        start = match.end()
    return tuple(parts), rendered[start:]


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
_CONTENT: dict[int, str | None] = {**_CONTROL, ord(_SLOT_OPEN): None, ord(_SLOT_CLOSE): None}
_URL_SAFE = ":/?#[]@!$&()*+,;=%~-._"
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%.*?%\}", re.DOTALL)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_TOKEN = re.compile(r"<!--(zqs\d+z)-->|(zqv\d+z)")
_EXPRESSION_TOKEN = re.compile(r"(zqv\d+z)")
_ATTRIBUTE_WITH_TOKEN = re.compile(r"""(\s[\w:.-]+)=(["'])([^"']*?zqv\d+z[^"']*?)\2""")


def _single_line(text: str) -> str:
    """`text` without control characters (line breaks and tabs as spaces). Most values have
    none: isprintable() answers that in C before the slower translation."""
    return text if text.isprintable() else text.translate(_CONTROL)


def _text(value: Any) -> Markup:
    """Escape as premailer (lxml) serialises text: & < > only; quotes and non-ASCII as they are."""
    if isinstance(value, Markup):
        return value
    raw = _single_line(str(value))
    return Markup(raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))  # noqa: S704 - escaped here


def _attribute(value: Any) -> Markup:
    """Escape as lxml serialises a double-quoted attribute value."""
    if isinstance(value, Markup):
        return value
    raw = _single_line(str(value))
    return Markup(  # noqa: S704 - escaped here
        raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def safe_url(url: str) -> str:
    """Percent-encode what an HTML serialiser would otherwise re-encode or re-quote (spaces,
    quotes, angle brackets, non-ASCII), so a URL reads the same in every output."""
    return quote(_single_line(url).strip(), safe=_URL_SAFE)


def _inside_tag(html: str, position: int) -> bool:
    return html.rfind("<", 0, position) > html.rfind(">", 0, position)


class CompiledHtml:
    """The HTML template after one MJML + premailer pass, as a Jinja template (see module doc)."""

    def __init__(self, env: jinja2.Environment, name: str) -> None:
        assert env.loader is not None
        source = _JINJA_COMMENT.sub("", env.loader.get_source(env, name)[0])
        tokens: dict[str, str] = {}

        def expression(match: re.Match[str]) -> str:
            token = f"zqv{len(tokens)}z"
            tokens[token] = match.group(1)
            return token

        def statement(match: re.Match[str]) -> str:
            token = f"zqs{len(tokens)}z"
            tokens[token] = match.group(0)
            return f"<!--{token}-->"

        marked = _STATEMENT.sub(statement, _EXPRESSION.sub(expression, source))
        html = compile_mjml(marked)
        seen: list[str] = []
        self.attributes: list[list[str]] = []  # each attribute's literal pieces

        def attribute(match: re.Match[str]) -> str:
            """A whole attribute holding expressions: lxml picks its quote character from the
            final value, so the attribute is rebuilt, quotes included, at render time."""
            attribute_name, value = match.group(1), match.group(3)
            pieces = _EXPRESSION_TOKEN.split(value)  # literal, token, literal, token, ...
            seen.extend(pieces[1::2])
            self.attributes.append(pieces[0::2])
            arguments = ", ".join(f"({tokens[t]})" for t in pieces[1::2])
            index = len(self.attributes) - 1
            return f"{attribute_name}={{{{ _attribute_value({index}, {arguments}) }}}}"

        html = _ATTRIBUTE_WITH_TOKEN.sub(attribute, html)
        # The literal pieces as text, unescaped once here rather than on every render.
        self._literals = [[html_module.unescape(p) for p in pieces] for pieces in self.attributes]

        def restore(match: re.Match[str]) -> str:
            token = match.group(1) or match.group(2)
            seen.append(token)
            if match.group(1):
                if _inside_tag(html, match.start()):
                    raise RenderError(f"template {name}: a {{% statement %}} inside a tag")
                return tokens[token]
            if _inside_tag(html, match.start()):
                raise RenderError(f"template {name}: an expression inside a tag, not in a value")
            return f"{{{{ ({tokens[token]})|_text }}}}"

        restored = _tight(_TOKEN.sub(restore, html))
        statements = [t for t in seen if t.startswith("zqs")]
        # MJML may copy an expression (the title also labels the body); never a statement.
        if set(seen) != set(tokens) or len(statements) != len(set(statements)):
            raise RenderError(f"template {name}: MJML or premailer dropped or copied a placeholder")
        # Rebuilding an attribute depends on nothing but its values: {% cache %} may hold one.
        env.pure_functions.add("_attribute_value")  # type: ignore[attr-defined]
        # Jinja drops one trailing newline (keep_trailing_newline is off); premailer ends in one.
        self.template = env.from_string(
            restored + "\n" if restored.endswith("\n") else restored,
            globals={"_attribute_value": self._attribute_value},
        )

    def _attribute_value(self, index: int, *values: Any) -> Markup:
        """Rebuild attribute `index` as lxml serialises it: & < > escaped; double quotes around
        it, unless the value holds " but no ', when lxml uses single quotes and leaves " as is."""
        literals = self._literals[index]
        joined = [literals[0]]
        for value, literal in zip(values, literals[1:], strict=True):
            joined.append(_mrml_attribute(_single_line(str(value))))
            joined.append(literal)
        raw = "".join(joined)
        escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if '"' in raw and "'" not in raw:
            return Markup(f"'{escaped}'")  # noqa: S704 - escaped here
        return Markup('"' + escaped.replace('"', "&quot;") + '"')  # noqa: S704 - escaped here


def _joined(pieces: Iterable[str]) -> tuple[tuple[str, ...] | None, str]:
    """The pieces a template wrote, and their text; no pieces when the text holds a bare CR,
    whose line end would fold across two of them."""
    kept = tuple(pieces)
    text = "".join(kept)
    return (None if "\r" in text else kept), text


class Renderer:
    """Loads and compiles the templates once; renders any number of editions."""

    def __init__(
        self,
        template_dir: Path | None = None,
        subject: str = DEFAULT_SUBJECT,
        preheader: str = DEFAULT_PREHEADER,
    ) -> None:
        self._formats = (subject, preheader)
        folders = [BUILTIN_TEMPLATES]
        if template_dir is not None:
            if not template_dir.is_dir():
                raise RenderError(
                    f"templates folder {template_dir} does not exist; fix `templates` in settings"
                )
            folders.insert(0, template_dir)
        self._html_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[FragmentCache],
        )
        # The text/plain part is never parsed as HTML, so it is not HTML-escaped.
        self._text_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            extensions=[FragmentCache],
        )
        # The compiled template escapes text with this; attributes go through _attribute_value.
        self._html_env.filters["_text"] = _text
        try:
            self._html = self._html_env.get_template(HTML_TEMPLATE)
            self._text = self._text_env.get_template(TEXT_TEMPLATE)
            self._compiled = CompiledHtml(self._html_env, HTML_TEMPLATE).template
        except jinja2.TemplateSyntaxError as exc:  # where, so that it can be fixed
            where = f"{exc.name} line {exc.lineno}: " if exc.name else ""
            raise RenderError(f"template error: {where}{exc.message}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error: {exc}") from None
        self._shared: dict[tuple[Any, ...], _Shared | None] = {}
        self._seen: set[tuple[Any, ...]] = set()  # editions rendered once, not shared yet
        self._share_verified = False
        self._share_broken = False

    def _render(self, edition: Edition, links: Links, *, naive: bool) -> Email:
        context = edition_context(edition, links, *self._formats)
        pieces: tuple[str, ...] | None = None
        text_pieces: tuple[str, ...] | None = None
        try:
            if naive:
                html = compile_mjml(self._html.render(context))
                text = self._text.render(context)
            else:  # in the pieces Jinja writes: the mail code encodes the long ones once
                pieces, html = _joined(self._compiled.generate(context))
                text_pieces, text = _joined(self._text.generate(context))
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error while rendering: {exc}") from None
        return Email(
            subject=context["subject"],
            preheader=context["preheader"],
            html=html,
            text=text,
            html_pieces=pieces,
            text_pieces=text_pieces,
        )

    def render(self, edition: Edition, links: Links) -> Email:
        """One email. The first reader who gets these papers has it rendered directly (each
        card from the template's {% cache %}); from the second on, the edition is rendered
        once with slots (see _share) and only their address, interests and signed links are
        filled in."""
        key = (edition.edition_id, edition.date, edition.picks, len(links.votes), links.in_browser)
        if self._share_broken:
            return self._render(edition, links, naive=False)
        shared = self._shared.get(key, _NOT_YET)
        if shared is _NOT_YET:
            if key not in self._seen:  # readers of different interests rarely share papers
                if len(self._seen) >= MAX_SEEN:
                    self._seen.clear()
                self._seen.add(key)
                return self._render(edition, links, naive=False)
            if len(self._shared) > 512:
                self._shared.clear()
            shared = self._shared[key] = self._share(edition, links)
        if not isinstance(shared, _Shared):  # this template cannot share: render directly
            return self._render(edition, links, naive=False)
        values = _slot_values(recipient_fields(edition, links))
        try:
            html, pieces = shared.fill_html(values)
        except _Unshareable:
            return self._render(edition, links, naive=False)
        text, text_pieces = shared.fill_text(values)
        return Email(
            subject=shared.subject,
            preheader=shared.preheader,
            html=html,
            text=text,
            html_pieces=pieces,
            text_pieces=text_pieces,
        )

    def _share(self, edition: Edition, links: Links) -> _Shared | None:
        """Render the edition once with slots for the reader's values."""
        context = edition_context(edition, links, *self._formats)
        context.update(_slots(len(context["votes"])))  # the reader's own links become slots
        try:
            html = self._compiled.render(context)
            text = self._text.render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error while rendering: {exc}") from None
        html_parts, html_tail = _split_slots(html, html=True)
        text_parts, text_tail = _split_slots(text, html=False)
        shared = _Shared(
            context["subject"],
            context["preheader"],
            html_parts,
            html_tail,
            text_parts,
            text_tail,
            _no_bare_cr(html_parts, html_tail),
            _no_bare_cr(text_parts, text_tail),
        )
        if self._share_verified:
            return shared
        # Once per template: a template that reshapes reader values (wraps, slices) cannot
        # share, and from then on every email is rendered directly.
        values = _slot_values(recipient_fields(edition, links))
        try:
            filled = shared.fill_html(values)[0]
        except _Unshareable:
            return shared  # this reader renders directly; verify with the next one
        direct = self._render(edition, links, naive=False)
        if (filled, shared.fill_text(values)[0]) != (direct.html, direct.text):
            self._share_broken = True
            return None
        self._share_verified = True
        return shared

    def render_naive(self, edition: Edition, links: Links) -> Email:
        """The same email the slow way (Jinja → MJML → premailer for this one reader): the
        reference the compiled path must equal, and the benchmark's baseline."""
        return self._render(edition, links, naive=True)


def compile_mjml(mjml_source: str) -> str:
    """MJML → HTML (MRML), then inline the CSS with premailer, keeping @media rules."""
    try:
        html = mjml2html(mjml_source)
    except Exception as exc:  # MRML raises its own untyped errors
        raise RenderError(f"MJML failed to compile: {exc}") from None
    inliner = Premailer(
        html,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
    )
    # lxml drops the doctype MRML wrote; without it browsers render the email in quirks mode.
    return _tight(str(inliner.transform(doctype="<!DOCTYPE html>")))


def _tight(html: str) -> str:
    """Drop the line breaks MRML and lxml put between tags. Where they appear depends on how
    many items a loop produced, so without this the compiled and per-recipient outputs would
    differ in whitespace; between tags a line break carries no meaning in an email."""
    return html.replace(">\n<", "><")
