"""The three text layouts of a trending-papers listing page, as saved from a browser.

All three start with the page's boilerplate ("Get trending papers in your email inbox!",
"Subscribe", ...) and then list each paper as a title line followed by an abstract line:

- ``page-spaced``: paragraphs separated by blank lines;
- ``page-meta``: like page-spaced, but most papers are followed by metadata lines
  (``• 3 authors``, ``·``, ``Apr 29, 2022 12`` = published date and upvotes);
- ``page-compact``: no blank lines, and the first title is glued to "Subscribe".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from digest.errors import DumpError
from digest.identity import paper_key
from digest.models import Paper
from digest.sources._text import clean_line, excerpt

BOILERPLATE = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "get trending papers in your email inbox once a day!",
        "subscribe",
        "daily papers",
        "byak and the research community",
    }
)
_MARKER = "get trending papers in your email inbox"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_MONTH_DAY = r"(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})"
_LISTING_DATE = re.compile(rf"^{_MONTH_DAY}(?:,\s*(?P<year>\d{{4}}))?$")
# Counts of up to 12 digits parse; the range check (digest.sources) refuses absurd ones.
_META_DATE = re.compile(rf"^{_MONTH_DAY}(?:,\s*(?P<year>\d{{4}}))?(?:\s+(?P<upvotes>\d{{1,12}}))?$")
_AUTHORS = re.compile(r"^•\s*(?P<count>\d{1,12})\s+authors?$")
_SEPARATOR = "·"
# A title longer than this means the title/abstract alternation has slipped.
MAX_TITLE_CHARS = 400
# Real abstracts stay under ~3,000 characters; a far longer line is not a listing.
MAX_LINE_CHARS = 50_000


def looks_like_page(text: str) -> bool:
    head = text[:2000].casefold()
    return _MARKER in head


@dataclass(slots=True)
class _Line:
    number: int
    text: str


@dataclass(slots=True)
class _Draft:
    title: _Line
    abstract: str = ""
    author_count: int | None = None
    published: dt.date | None = None
    upvotes: int | None = None


def _body_lines(text: str, source: str) -> tuple[list[_Line], bool]:
    """Drop the page boilerplate; return the content lines and whether blank lines separate them."""
    raw = text.split("\n")
    lines = [_Line(i + 1, clean_line(t)) for i, t in enumerate(raw)]
    non_empty = [line for line in lines if line.text]
    spaced = len(non_empty) < len(lines) * 0.75
    start = 0
    while start < len(non_empty):
        line = non_empty[start]
        folded = line.text.casefold()
        if folded in BOILERPLATE:
            start += 1
            continue
        if folded.startswith("subscribe") and len(line.text) > len("subscribe"):
            # page-compact glues the first title to the Subscribe button's label.
            non_empty[start] = _Line(line.number, line.text[len("subscribe") :].strip())
        break
    body = non_empty[start:]
    for line in body:
        if len(line.text) > MAX_LINE_CHARS:
            raise DumpError(
                f"{source}: line {line.number} is {len(line.text):,} characters long; a listing"
                f" line holds at most {MAX_LINE_CHARS:,} (is this a page dump?)"
            )
    if body and _LISTING_DATE.match(body[0].text) and body[0].text[:3].casefold() in _MONTHS:
        body = body[1:]  # the listing's own date ("Jun 6") sits just above the first paper
    if not body:
        raise DumpError(f"{source}: the page lists no papers after its header")
    return body, spaced


def _meta_date(match: re.Match[str]) -> tuple[dt.date | None, int | None]:
    upvotes = int(match["upvotes"]) if match["upvotes"] else None
    month = _MONTHS.get(match["month"].casefold())
    if month is None or not match["year"]:
        return None, upvotes
    try:
        return dt.date(int(match["year"]), month, int(match["day"])), upvotes
    except ValueError:
        return None, upvotes


def _drafts(body: list[_Line], source: str) -> Iterator[_Draft]:
    draft: _Draft | None = None
    expect = "title"
    after_separator = False
    for line in body:
        authors = _AUTHORS.match(line.text)
        if draft is not None and expect == "meta":
            if authors:
                draft.author_count = int(authors["count"])
                continue
            if line.text == _SEPARATOR:
                after_separator = True
                continue
            date = _META_DATE.match(line.text) if after_separator else None
            if date and date["month"].casefold() in _MONTHS:
                draft.published, draft.upvotes = _meta_date(date)
                after_separator = False
                continue
        if authors or line.text == _SEPARATOR:
            raise DumpError(
                f"{source}: line {line.number}: metadata {excerpt(line.text)!r} where a"
                f" {expect} was expected; the dump is cut or misaligned"
            )
        after_separator = False
        if expect in ("title", "meta"):
            if draft is not None:
                yield draft
            if len(line.text) > MAX_TITLE_CHARS:
                raise DumpError(
                    f"{source}: line {line.number}: expected a paper title, found"
                    f" {len(line.text):,} characters of text ({excerpt(line.text)!r});"
                    " the title/abstract lines are misaligned"
                )
            draft = _Draft(title=line)
            expect = "abstract"
        else:
            assert draft is not None
            draft.abstract = line.text
            expect = "meta"
    if draft is not None:
        if expect == "abstract":
            raise DumpError(
                f"{source}: line {draft.title.number}: the last paper"
                f" {excerpt(draft.title.text)!r} has no abstract; the dump looks truncated"
            )
        yield draft


def parse_page(text: str, source: str) -> tuple[str, list[Paper]]:
    """Parse any of the three page layouts; return the detected layout name and the papers."""
    if not looks_like_page(text):
        raise DumpError(f"{source}: not a trending-papers page dump (no page header found)")
    body, spaced = _body_lines(text, source)
    papers: list[Paper] = []
    has_meta = False
    for draft in _drafts(body, source):
        has_meta = has_meta or draft.author_count is not None or draft.published is not None
        papers.append(
            Paper(
                key=paper_key(draft.title.text),
                title=draft.title.text,
                abstract=draft.abstract,
                author_count=draft.author_count,
                published=draft.published,
                upvotes=draft.upvotes,
            )
        )
    layout = "page-meta" if has_meta else ("page-spaced" if spaced else "page-compact")
    return layout, papers
