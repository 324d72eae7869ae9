"""A library written back out as CSL-JSON (the CSV export's `library` column): what
`read_library` reads again, entry for entry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from digest.models import LibraryEntry


def csl_json(entries: Iterable[LibraryEntry]) -> str:
    """Compact CSL-JSON, one item per entry; "" for an empty library."""
    items = [_item(entry) for entry in entries]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")) if items else ""


def _item(entry: LibraryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.key, "type": "article", "title": entry.title}
    if entry.abstract:
        item["abstract"] = entry.abstract
    if entry.arxiv_id:
        item["number"] = f"arXiv:{entry.arxiv_id}"
    if entry.doi:
        item["DOI"] = entry.doi
    if entry.authors:
        item["author"] = [{"literal": name} for name in entry.authors]
    if entry.year:
        item["issued"] = {"date-parts": [[entry.year]]}
    return item
