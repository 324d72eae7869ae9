"""arXiv daily listing JSONL: one object per line with id, title, summary, authors, abs, pdf."""

from __future__ import annotations

import json
from typing import Any

from digest.errors import DumpError
from digest.identity import paper_key, parse_arxiv_id
from digest.models import Paper
from digest.sources._text import clean_line, excerpt, mend_surrogates


def looks_like_arxiv_jsonl(text: str) -> bool:
    """The first line alone is a JSON object with a top-level id and title."""
    first = text.lstrip().split("\n", 1)[0]
    if not (first.startswith("{") and first.rstrip().endswith("}")):
        return False
    try:
        record = json.loads(first)
    except (ValueError, RecursionError):  # not JSON, too deep, a number past 4,300 digits
        return False
    return isinstance(record, dict) and "id" in record and "title" in record


def _paper(record: Any, where: str) -> Paper:
    if not isinstance(record, dict):
        raise DumpError(f"{where}: expected a JSON object, found {type(record).__name__}")
    title = clean_line(str(record.get("title") or ""))
    arxiv_id = parse_arxiv_id(str(record.get("id") or record.get("abs") or ""))
    if not title or not arxiv_id:
        raise DumpError(f"{where}: every record needs an arXiv 'id' and a 'title'")
    listed = record.get("authors") or []
    if not isinstance(listed, list):
        raise DumpError(f"{where}: 'authors' is {type(listed).__name__}, expected a list")
    authors = tuple(clean_line(str(a)) for a in listed if str(a).strip())
    return Paper(
        key=paper_key(title, arxiv_id),
        title=title,
        abstract=clean_line(str(record.get("summary") or "")),
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) or None,
        url=f"https://arxiv.org/abs/{arxiv_id}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
    )


def parse_arxiv_jsonl(text: str, source: str) -> list[Paper]:
    papers = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = mend_surrogates(json.loads(line), line)
        except json.JSONDecodeError as exc:
            raise DumpError(
                f"{source}: line {number}: invalid JSON ({exc.msg}): {excerpt(line)!r}"
            ) from None
        except RecursionError:
            raise DumpError(f"{source}: line {number}: JSON nested too deeply") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise DumpError(f"{source}: line {number}: invalid JSON ({exc})") from None
        papers.append(_paper(record, f"{source}: line {number}"))
    return papers
