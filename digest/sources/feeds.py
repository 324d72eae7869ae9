"""arXiv Atom and RSS feeds (export API Atom, rss.arxiv.org RSS 2.0 and Atom), via feedparser.

feedparser is lenient: it returns whatever it could read from broken XML and sets `bozo`. A dump
must be all or nothing, so a feed that is not well-formed is refused with its line number.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from typing import Any

from digest.errors import DumpError
from digest.identity import paper_key, parse_arxiv_id
from digest.models import Paper
from digest.sources._text import clean_line

_FEED_ROOT = re.compile(r"<(feed|rss|rdf:RDF)[\s>]")
_BLOCK_TAG = re.compile(r"</?(p|br|div|li|ul|ol|h\d|tr|td|blockquote)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
# rss.arxiv.org prefixes each description with "arXiv:2501.00001v1 Announce Type: new Abstract:".
_ANNOUNCE = re.compile(r"^arXiv:\S+\s+Announce Type:\s*\S+\s*(Abstract:\s*)?", re.IGNORECASE)
_HARMLESS_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")


def looks_like_feed(text: str) -> bool:
    head = text.lstrip()[:4000]
    return head.startswith("<") and _FEED_ROOT.search(head) is not None


def _text(entry: Any, field: str) -> str:
    """A field as plain text. HTML fields (already sanitised by feedparser) lose their tags;
    plain-text fields keep everything, `<` included."""
    value = str(entry.get(field) or "")
    if (entry.get(f"{field}_detail") or {}).get("type") == "text/html":
        value = html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", value)))
    return clean_line(value)


def _authors(entry: Any, is_rss: bool) -> tuple[str, ...]:
    names = [
        clean_line(str(a.get("name") or ""))
        for a in entry.get("authors") or ()
        if isinstance(a, dict)
    ]
    if is_rss and len(names) == 1 and "," in names[0]:
        # RSS carries every author in one dc:creator element, comma-separated.
        names = [part.strip() for part in names[0].split(",")]
    return tuple(name for name in names if name)


def _pdf_link(entry: Any) -> str | None:
    for link in entry.get("links") or ():
        if link.get("title") == "pdf" or link.get("type") == "application/pdf":
            return str(link.get("href"))
    return None


def _published(entry: Any) -> dt.date | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return dt.date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday) if parsed else None


def _paper(entry: Any, where: str, is_rss: bool) -> Paper:
    title = _text(entry, "title")
    if not title:
        raise DumpError(f"{where}: the entry has no title")
    arxiv_id = parse_arxiv_id(str(entry.get("id") or "")) or parse_arxiv_id(
        str(entry.get("link") or "")
    )
    abstract = _ANNOUNCE.sub("", _text(entry, "summary"))
    authors = _authors(entry, is_rss)
    return Paper(
        key=paper_key(title, arxiv_id),
        title=title,
        abstract=abstract,
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) or None,
        published=_published(entry),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else entry.get("link"),
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else _pdf_link(entry),
    )


def parse_feed(text: str, source: str) -> list[Paper]:
    import feedparser  # imported here: it costs ~0.1 s and most runs never read a feed

    # A stream, never a str: feedparser treats a str as a URL or file name to open.
    feed = feedparser.parse(
        io.BytesIO(text.encode("utf-8")),
        response_headers={"content-type": "application/xml; charset=utf-8"},
    )
    problem = feed.get("bozo_exception")
    if feed.get("bozo") and type(problem).__name__ not in _HARMLESS_BOZO:
        line = getattr(problem, "getLineNumber", lambda: None)()
        where = f" at line {line}" if line else ""
        reason = getattr(problem, "getMessage", lambda: str(problem))()
        raise DumpError(f"{source}: the feed is not well-formed XML{where} ({reason})")
    is_rss = str(feed.get("version", "")).startswith("rss")
    return [
        _paper(entry, f"{source}: entry {i + 1}", is_rss) for i, entry in enumerate(feed.entries)
    ]
