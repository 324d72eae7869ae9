"""Writers: papers → dump text in each format the parsers read (`digest export`).

Every writer is the inverse of its parser for the fields that format carries, which the
round-trip property tests check: parse(write(papers)) gives the same papers back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

from digest.errors import DumpError
from digest.models import Paper

PAGE_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n"
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def write_arxiv_jsonl(papers: Sequence[Paper]) -> str:
    lines = []
    for paper in papers:
        if not paper.arxiv_id:
            raise DumpError(f"arXiv JSONL needs an arXiv id; {paper.title!r} has none")
        record = {
            "id": paper.arxiv_id,
            "title": paper.title,
            "summary": paper.abstract,
            "authors": list(paper.authors),
            "abs": f"https://arxiv.org/abs/{paper.arxiv_id}",
            "pdf": f"https://arxiv.org/pdf/{paper.arxiv_id}",
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def write_hf_json(papers: Sequence[Paper]) -> str:
    items = []
    for paper in papers:
        item: dict[str, object] = {
            "title": paper.title,
            "summary": paper.abstract,
            "authors": [{"name": name} for name in paper.authors],
        }
        if paper.arxiv_id:
            item["id"] = paper.arxiv_id
        if paper.published:
            item["publishedAt"] = f"{paper.published.isoformat()}T00:00:00.000Z"
        if paper.upvotes is not None:
            item["upvotes"] = paper.upvotes
        if paper.code_url:
            item["githubRepo"] = paper.code_url
        if paper.project_url:
            item["projectPage"] = paper.project_url
        if paper.keywords:
            item["ai_keywords"] = list(paper.keywords)
        outer: dict[str, object] = {"paper": item, "title": paper.title}
        if paper.thumbnail_url:
            outer["thumbnail"] = paper.thumbnail_url
        if paper.comments is not None:
            outer["numComments"] = paper.comments
        items.append(outer)
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def write_feed(papers: Sequence[Paper]) -> str:
    """An Atom feed shaped like arXiv's export API."""
    entries = []
    for paper in papers:
        identity = f"http://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else paper.url or ""
        parts = [
            "  <entry>",
            f"    <id>{escape(identity)}</id>",
            f"    <title>{escape(paper.title)}</title>",
            f"    <summary>{escape(paper.abstract)}</summary>",
        ]
        if paper.published:
            parts.append(f"    <published>{paper.published.isoformat()}T00:00:00Z</published>")
        parts += [f"    <author><name>{escape(name)}</name></author>" for name in paper.authors]
        if paper.arxiv_id:
            parts.append(f'    <link href={quoteattr(identity)} rel="alternate"/>')
        parts.append("  </entry>")
        entries.append("\n".join(parts))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        "  <title>digest export</title>\n" + "\n".join(entries) + "\n</feed>\n"
    )


def write_page(papers: Sequence[Paper]) -> str:
    """The page-meta layout: title, abstract, then author count, `·` and `Mon D, YYYY votes`."""
    blocks = [PAGE_HEADER]
    for paper in papers:
        if not paper.abstract:
            raise DumpError(
                f"a page dump needs an abstract for every paper; {paper.title!r} has none"
            )
        lines = [paper.title, "", paper.abstract]
        if paper.author_count:
            noun = "author" if paper.author_count == 1 else "authors"
            lines += ["", f"  • {paper.author_count} {noun}"]
        if paper.published:
            day = paper.published
            votes = f" {paper.upvotes}" if paper.upvotes is not None else ""
            lines += ["·", f"{_MONTH_NAMES[day.month - 1]} {day.day}, {day.year}{votes}"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


WRITERS: dict[str, Callable[[Sequence[Paper]], str]] = {
    "page": write_page,
    "hf-json": write_hf_json,
    "arxiv-jsonl": write_arxiv_jsonl,
    "arxiv-feed": write_feed,
}


def write_dump(papers: Sequence[Paper], format: str) -> str:
    if format not in WRITERS:
        raise DumpError(f"cannot write format {format!r}; choose one of {', '.join(WRITERS)}")
    return WRITERS[format](papers)
