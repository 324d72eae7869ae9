"""Render stage: Edition → Email (subject, preheader, HTML part, text part).

HTML: Jinja2 (autoescaped) → MJML compiled by MRML (mjml-python) → CSS inlined by premailer,
keeping the `@media` rules for mobile and dark mode. Text: its own Jinja2 template.
"""

from __future__ import annotations

import logging
import re
import textwrap
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import jinja2
from mjml import mjml2html
from premailer import Premailer

from digest.errors import RenderError
from digest.models import Edition, Email, Pick

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SNIPPET_CHARS = 320
MAX_AUTHORS_SHOWN = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")

# cssutils logs one warning per vendor-specific property; they are expected in email CSS.
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class Links:
    """Per-recipient URLs for the footer (and the List-Unsubscribe header)."""

    browser: str
    preferences: str
    unsubscribe: str


def header_safe(text: str, limit: int = 160) -> str:
    """One line of printable text, for anything that may end up in an email header."""
    printable = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    collapsed = " ".join(printable.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1].rstrip() + "…"


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


def byline(pick: Pick) -> str:
    paper = pick.paper
    parts = []
    if paper.authors:
        shown = ", ".join(paper.authors[:MAX_AUTHORS_SHOWN])
        extra = len(paper.authors) - MAX_AUTHORS_SHOWN
        parts.append(f"{shown} +{extra} more" if extra > 0 else shown)
    elif paper.author_count:
        parts.append(f"{paper.author_count} author{'s' if paper.author_count != 1 else ''}")
    if paper.published:
        parts.append(paper.published.strftime("%b %-d, %Y"))
    if paper.upvotes:
        parts.append(f"▲ {paper.upvotes}")
    return " · ".join(parts)


def paper_links(pick: Pick) -> list[dict[str, str]]:
    paper = pick.paper
    links = []
    if paper.arxiv_id:
        links.append({"label": "Abstract", "href": f"https://arxiv.org/abs/{paper.arxiv_id}"})
    if paper.pdf_url:
        links.append({"label": "PDF", "href": paper.pdf_url})
    if paper.code_url:
        links.append({"label": "Code", "href": paper.code_url})
    if not links:
        links.append({"label": "Find on arXiv", "href": paper_url(pick)})
    return links


def paper_url(pick: Pick) -> str:
    paper = pick.paper
    if paper.url:
        return paper.url
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return f"https://arxiv.org/search/?searchtype=title&query={quote_plus(paper.title)}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def edition_context(edition: Edition, links: Links) -> dict[str, Any]:
    """Everything the templates need, as plain values (pure: easy to test alone)."""
    picks = edition.picks
    count = len(picks)
    short_date = edition.date.strftime("%a %-d %b")
    top = header_safe(picks[0].paper.title, 70) if picks else ""
    subject = header_safe(
        f"{_plural(count, 'new paper')} · {short_date}" + (f": {top}" if top else "")
    )
    others = [header_safe(p.paper.title, 60) for p in picks[1:3]]
    preheader = header_safe(
        (f"Also: {'; '.join(others)}" if others else f"Picked for {edition.subscriber.email}"),
        150,
    )
    interests = ", ".join(edition.subscriber.interests) or "everything trending"
    items = []
    for number, pick in enumerate(picks, 1):
        text = snippet(pick.paper.abstract)
        items.append(
            {
                "number": number,
                "title": pick.paper.title,
                "title_wrapped": textwrap.fill(pick.paper.title, 72, subsequent_indent="   "),
                "url": paper_url(pick),
                "byline": byline(pick),
                "snippet": text,
                "snippet_wrapped": textwrap.fill(
                    text, 72, initial_indent="   ", subsequent_indent="   "
                ),
                "reasons": "; ".join(pick.reasons),
                "links": paper_links(pick),
            }
        )
    return {
        "subject": subject,
        "preheader": preheader,
        "edition_label": edition.date.strftime("%A %-d %B %Y").upper(),
        "headline": f"{_plural(count, 'new paper')} for you" if count else "Nothing new today",
        "summary": (
            f"Top pick: {picks[0].paper.title}"
            if picks
            else "No new papers matched your interests."
        ),
        "items": items,
        "recipient": edition.subscriber.email,
        "interests": interests,
        "links": {
            "browser": links.browser,
            "preferences": links.preferences,
            "unsubscribe": links.unsubscribe,
        },
    }


class Renderer:
    """Loads and compiles the templates once; renders any number of editions."""

    def __init__(self, template_dir: Path | None = None) -> None:
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
        )
        # The text/plain part is never parsed as HTML, so it is not HTML-escaped.
        self._text_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        try:
            self._html = self._html_env.get_template(HTML_TEMPLATE)
            self._text = self._text_env.get_template(TEXT_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error: {exc}") from None

    def render(self, edition: Edition, links: Links) -> Email:
        context = edition_context(edition, links)
        try:
            mjml_source = self._html.render(context)
            text = self._text.render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error while rendering: {exc}") from None
        return Email(
            subject=context["subject"],
            preheader=context["preheader"],
            html=compile_mjml(mjml_source),
            text=text,
        )


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
    return str(inliner.transform())
