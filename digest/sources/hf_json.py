"""Hugging Face daily-papers API JSON: a list of items, or `{"data": [...]}` wrapping one.

Some archived days hold Python-repr strings instead of objects. Those are parsed with
`ast.literal_eval`, which accepts literals only (never runs code).
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from typing import Any

from digest.errors import DumpError
from digest.identity import paper_key, parse_arxiv_id
from digest.models import Paper
from digest.sources._text import clean_line, excerpt, mend_surrogates

MAX_REPR_ITEM_CHARS = 1_000_000


def looks_like_hf(text: str) -> bool:
    head = text.lstrip()[:1]
    return head in ("[", "{")


def _as_object(item: Any, where: str) -> dict[str, Any]:
    if isinstance(item, str):
        if len(item) > MAX_REPR_ITEM_CHARS:
            raise DumpError(f"{where}: a {len(item):,}-character string item is too long to parse")
        try:
            item = mend_surrogates(ast.literal_eval(item), item)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DumpError(
                f"{where}: a string item that is neither an object nor a Python literal"
                f" ({excerpt(item)!r}); pass the API's JSON output"
            ) from None
    if not isinstance(item, dict):
        raise DumpError(f"{where}: expected an object, found {type(item).__name__}")
    return item


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _paper(item: dict[str, Any], where: str) -> Paper:
    paper = item.get("paper", item)
    if not isinstance(paper, dict):
        raise DumpError(f"{where}: 'paper' is {type(paper).__name__}, expected an object")
    title = clean_line(str(paper.get("title") or item.get("title") or ""))
    if not title:
        raise DumpError(f"{where}: the paper has no title; every item needs paper.title")
    raw_id = paper.get("id")
    arxiv_id = parse_arxiv_id(str(raw_id)) if raw_id else None
    listed = paper.get("authors") or ()
    if not isinstance(listed, list | tuple):
        raise DumpError(f"{where}: 'authors' is {type(listed).__name__}, expected a list")
    authors = tuple(
        clean_line(str(a.get("name", ""))) if isinstance(a, dict) else clean_line(str(a))
        for a in listed
    )
    authors = tuple(a for a in authors if a)
    upvotes = _count(paper.get("upvotes"))
    github = paper.get("githubRepo")
    thumbnail, project = item.get("thumbnail") or paper.get("thumbnail"), paper.get("projectPage")
    return Paper(
        key=paper_key(title, arxiv_id),
        title=title,
        abstract=clean_line(str(paper.get("summary") or item.get("summary") or "")),
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) or None,
        published=_date(paper.get("publishedAt") or item.get("publishedAt")),
        upvotes=upvotes,
        url=f"https://huggingface.co/papers/{arxiv_id}" if arxiv_id else None,
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None,
        code_url=github if isinstance(github, str) and github.startswith("https://") else None,
        thumbnail_url=thumbnail if isinstance(thumbnail, str) else None,
        project_url=project if isinstance(project, str) else None,
        comments=_count(item.get("numComments", paper.get("numComments"))),
        keywords=_keywords(paper.get("ai_keywords")),
    )


MAX_KEYWORDS = 40
MAX_KEYWORD_CHARS = 80


def _keywords(value: Any) -> tuple[str, ...]:
    """`ai_keywords` as one line each (at most MAX_KEYWORDS, each at most MAX_KEYWORD_CHARS);
    anything that is not a list of strings is no keywords, the paper kept."""
    if not isinstance(value, list):
        return ()
    found = (clean_line(k) for k in value[:MAX_KEYWORDS] if isinstance(k, str))
    return tuple(dict.fromkeys(k for k in found if k and len(k) <= MAX_KEYWORD_CHARS))


def _count(value: Any) -> int | None:
    """A count as the API writes it: an integer, or (in archived days) its digits as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


def parse_hf(text: str, source: str) -> list[Paper]:
    try:
        document = mend_surrogates(json.loads(text), text)
    except json.JSONDecodeError as exc:
        raise DumpError(
            f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DumpError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise DumpError(f"{source}: invalid JSON ({exc})") from None
    if isinstance(document, dict):
        document = document.get("data")
        if not isinstance(document, list):
            raise DumpError(f"{source}: a JSON object dump needs a 'data' list of papers")
    if not isinstance(document, list):
        raise DumpError(f"{source}: expected a JSON list of daily-papers items")
    return [
        _paper(_as_object(item, f"{source}: item {i}"), f"{source}: item {i}")
        for i, item in enumerate(document)
    ]
