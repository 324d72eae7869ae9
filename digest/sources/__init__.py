"""Sources: one module per dump shape, each turning bytes into a Snapshot.

`load_snapshot` sniffs the shape from the content, so no flag is needed; `format` overrides it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from digest.errors import DumpError
from digest.models import Paper, Snapshot
from digest.sources._text import decode_dump
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
    layout, papers = parsers[kind](text, source)
    unique = _dedupe(papers)
    if not unique:
        raise DumpError(f"{source}: the dump lists no papers")
    return Snapshot(
        source=source,
        format=layout,
        content_hash=hashlib.sha256(data).hexdigest(),
        papers=unique,
    )


def load_snapshot(path: Path, format: str | None = None) -> Snapshot:
    """Read and parse one dump file."""
    source = str(path)
    if path.is_dir():
        raise DumpError(f"{source}: is a directory; pass the dump files inside it")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DumpError(f"{source}: no such file") from None
    except OSError as exc:
        raise DumpError(f"{source}: cannot read it ({exc.strerror})") from None
    return parse_snapshot(data, source, format)


def fetch_snapshot(url: str, client: httpx.Client, format: str | None = None) -> Snapshot:
    """Download one dump over HTTP and parse it; the URL is its source name."""
    from digest.sources.fetch import fetch  # httpx is imported only when something is fetched

    return parse_snapshot(fetch(url, client), url, format)


__all__ = ["FORMATS", "detect_format", "fetch_snapshot", "load_snapshot", "parse_snapshot"]
