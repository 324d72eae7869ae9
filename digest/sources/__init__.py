"""Sources: one module per dump shape, each turning bytes into a Snapshot.

`load_snapshot` sniffs the shape from the content, so no flag is needed; `format` overrides it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from digest.errors import DumpError
from digest.models import Paper, Snapshot
from digest.safe_text import web_url
from digest.sources._text import (
    MAX_AUTHORS,
    MAX_DUMP_BYTES,
    MAX_UPVOTES,
    count_in_range,
    decode_dump,
    read_dump,
)
from digest.sources.arxiv import looks_like_arxiv_jsonl, parse_arxiv_jsonl
from digest.sources.feeds import looks_like_feed, parse_feed
from digest.sources.hf_json import looks_like_hf, parse_hf
from digest.sources.pages import looks_like_page, parse_page

if TYPE_CHECKING:
    import httpx

FORMATS = ("page", "hf-json", "arxiv-jsonl", "arxiv-feed")


def _dedupe(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """Keep the first listing of each paper; cross-listed repeats inside one dump count once."""
    seen: set[str] = set()
    unique = []
    for paper in papers:
        if paper.key not in seen:
            seen.add(paper.key)
            unique.append(paper)
    return tuple(unique)


def detect_format(text: str) -> str | None:
    if looks_like_arxiv_jsonl(text):
        return "arxiv-jsonl"
    if looks_like_feed(text):
        return "arxiv-feed"
    if looks_like_hf(text):
        return "hf-json"
    if looks_like_page(text):
        return "page"
    return None


def parse_snapshot(data: bytes, source: str, format: str | None = None) -> Snapshot:
    """Parse raw dump bytes into a Snapshot, or raise DumpError naming what is wrong."""
    text = decode_dump(data, source)
    kind = format or detect_format(text)
    parsers: dict[str, Callable[[str, str], tuple[str, list[Paper]]]] = {
        "page": parse_page,
        "hf-json": lambda t, s: ("hf-json", parse_hf(t, s)),
        "arxiv-jsonl": lambda t, s: ("arxiv-jsonl", parse_arxiv_jsonl(t, s)),
        "arxiv-feed": lambda t, s: ("arxiv-feed", parse_feed(t, s)),
    }
    if kind is None:
        raise DumpError(
            f"{source}: unknown dump layout; expected a trending-papers page, Hugging Face"
            " daily-papers JSON, arXiv JSONL or an arXiv Atom/RSS feed (or pass --format)"
        )
    if kind not in parsers:
        raise DumpError(f"{source}: unknown format {kind!r}; choose one of {', '.join(FORMATS)}")
    try:
        layout, papers = parsers[kind](text, source)
    except DumpError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        # A shape no parser check foresaw: still this dump's one-line error, never a traceback.
        raise DumpError(f"{source}: unexpected content ({type(exc).__name__}: {exc})") from None
    except (RecursionError, MemoryError):
        raise DumpError(f"{source}: nested too deeply or too large to parse") from None
    unique = tuple(_checked(paper, f"{source}: paper {n}") for n, paper in enumerate(papers, 1))
    unique = _dedupe(unique)
    if not unique:
        raise DumpError(f"{source}: the dump lists no papers")
    return Snapshot(
        source=source,
        format=layout,
        content_hash=hashlib.sha256(data).hexdigest(),
        papers=unique,
    )


def _checked(paper: Paper, where: str) -> Paper:
    """Every parser's papers pass here: counts in range, and only http(s) links (any other
    link is dropped, the paper kept)."""
    if paper.upvotes is not None:
        count_in_range(paper.upvotes, "upvotes", where, MAX_UPVOTES)
    if paper.author_count is not None:
        count_in_range(paper.author_count, "author count", where, MAX_AUTHORS)
    if paper.comments is not None:
        count_in_range(paper.comments, "comment count", where, MAX_UPVOTES)
    checked = dataclasses.replace(
        paper,
        url=web_url(paper.url),
        pdf_url=web_url(paper.pdf_url),
        code_url=web_url(paper.code_url),
        thumbnail_url=web_url(paper.thumbnail_url),
        project_url=web_url(paper.project_url),
    )
    return paper if checked == paper else checked


def load_snapshot(path: Path, format: str | None = None) -> Snapshot:
    """Read and parse one dump file."""
    return parse_snapshot(read_dump(path), str(path), format)


def fetch_snapshot(url: str, client: httpx.Client, format: str | None = None) -> Snapshot:
    """Download one dump over HTTP and parse it; the URL is its source name."""
    from digest.sources.fetch import fetch  # httpx is imported only when something is fetched

    return parse_snapshot(fetch(url, client), url, format)


__all__ = [
    "FORMATS",
    "MAX_DUMP_BYTES",
    "detect_format",
    "fetch_snapshot",
    "load_snapshot",
    "parse_snapshot",
]
