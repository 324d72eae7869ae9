"""The three library exports readers have, each read into entries (or skipped ones, with the
reason): BibTeX and BibLaTeX (bibtexparser v2), RIS (rispy) and CSL-JSON (Zotero, Mendeley,
Crossref). Each exporter puts an arXiv id somewhere else; `fields` knows where."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from digest.errors import LibraryError, UnsafeJSON
from digest.identity import paper_key
from digest.library.fields import (
    MAX_ABSTRACT,
    MAX_NAME,
    MAX_RAW_TITLE,
    MAX_TITLE,
    Latex,
    arxiv_from_doi,
    arxiv_from_eprint,
    arxiv_from_url,
    arxiv_mentioned,
    clean_text,
    doi_of,
    year_of,
)
from digest.models import LibraryEntry
from digest.safe_json import check_bounds

MAX_ENTRIES = 20_000  # a library's entries at most (larger: export one collection)
MAX_AUTHORS = 50
# JSON objects and lists a CSL-JSON library may hold: a 20,000-entry library with a few names
# each holds ~150,000; a file of nothing but `{}` would otherwise become millions of them.
MAX_JSON_CONTAINERS = 1_000_000
_AND = re.compile(r"\s+and\s+", re.I)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry left out of an import, as the reader would recognise it, and why."""

    entry: str
    reason: str


Read = LibraryEntry | Skipped


@dataclass(frozen=True, slots=True)
class _Fields:
    """What one exporter's entry says, before cleaning; `mentions` are fields where an
    arXiv id may be written after the word arXiv."""

    label: str
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    doi: str = ""
    eprint: str = ""
    urls: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    year: str = ""


def _entry(found: _Fields, latex: Latex | None = None) -> Read:
    """The entry, its fields cleaned (BibTeX's LaTeX decoded by `latex`), each cut to its
    length before it is decoded; or why it is skipped."""
    raw = found.title
    title = clean_text(raw, latex) if len(raw) <= MAX_RAW_TITLE else raw  # too long unread
    if len(title) > MAX_TITLE:
        return Skipped(found.label, f"its title is longer than {MAX_TITLE:,} characters")
    doi = doi_of(found.doi) if found.doi else None
    arxiv_id = (
        (arxiv_from_eprint(found.eprint) if found.eprint else None)
        or (arxiv_from_doi(doi) if doi else None)
        or next(filter(None, map(arxiv_from_url, found.urls)), None)
        or next(filter(None, map(arxiv_mentioned, found.mentions)), None)
    )
    if doi is None:
        doi = next(filter(None, (doi_of(url) for url in found.urls if "doi.org/" in url)), None)
    if not title and not arxiv_id:
        return Skipped(found.label, "it has no title and no arXiv id")
    abstract = clean_text(found.abstract[: MAX_ABSTRACT * 2], latex)[:MAX_ABSTRACT]
    names = (clean_text(name[:MAX_NAME], latex) for name in found.authors[:MAX_AUTHORS])
    authors = tuple(a for a in names if a)
    return LibraryEntry(
        key=paper_key(title, arxiv_id) if arxiv_id or not doi else f"doi:{doi}",
        title=title,
        abstract=abstract,
        arxiv_id=arxiv_id,
        doi=doi,
        authors=tuple(_first_last(a) for a in authors),
        year=year_of(found.year) if found.year else None,
    )


def _first_last(name: str) -> str:
    """ "Vaswani, Ashish" → "Ashish Vaswani"; other forms as they are."""
    last, comma, first = name.partition(",")
    return f"{first.strip()} {last.strip()}" if comma and first.strip() else name.strip(", ")


def _label(kind: str, number: int, key: str, title: str) -> str:
    """How the reader would recognise an entry: its key, its title or its place (one line,
    no control characters or direction overrides)."""
    return clean_text((key or title)[:80]) or f"{kind} entry {number}"


def read_bibtex(text: str) -> Iterator[Read]:
    """BibTeX or BibLaTeX: Zotero, Better BibTeX, JabRef, Google Scholar, arXiv's own."""
    from bibtexparser.entrypoint import parse_string
    from bibtexparser.model import Entry

    # Its own warnings about broken blocks become the skipped entries' reasons.
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    latex = Latex(len(text))  # this file's budget of slow decoding
    library = parse_string(text)
    entries = list(library.entries)
    for block in library.failed_blocks:
        kept = getattr(block, "ignore_error_block", None)
        if isinstance(kept, Entry):  # a field twice: the first one counts
            entries.append(kept)
            continue
        first = (block.raw or "").strip().splitlines()[:1] or ["(empty)"]
        error = block.error
        reason = getattr(error, "abort_reason", "") or str(error) or "a block the parser gave up on"
        yield Skipped(
            f"line {(block.start_line or 0) + 1}: {clean_text(first[0][:60])}",
            f"not valid BibTeX: {' '.join(reason.split())}"[:300],
        )
    for number, entry in enumerate(entries, 1):
        field = {k.lower(): str(v.value) for k, v in entry.fields_dict.items()}
        kind = (field.get("archiveprefix") or field.get("eprinttype") or "arxiv").lower()
        yield _entry(
            _Fields(
                label=_label("BibTeX", number, entry.key, field.get("title", "")),
                title=field.get("title", ""),
                abstract=field.get("abstract", ""),
                authors=_names(field.get("author", "")),
                doi=field.get("doi", ""),
                eprint=field.get("eprint", "") if "arxiv" in kind else "",
                urls=tuple(field[k] for k in ("url", "pdf", "howpublished") if k in field),
                mentions=tuple(
                    field[k]
                    for k in ("journal", "journaltitle", "note", "extra", "number", "howpublished")
                    if k in field
                ),
                year=field.get("year") or field.get("date", ""),
            ),
            latex,
        )


def _names(field: str) -> tuple[str, ...]:
    """A BibTeX author field's names (the first MAX_AUTHORS: no more are split off)."""
    return tuple(_AND.split(field, maxsplit=MAX_AUTHORS)[:MAX_AUTHORS]) if field else ()


WOS = re.compile(r"\A\ufeff?\s*(?:FN |PT [A-Z]\b)")


def read_ris(text: str) -> Iterator[Read]:
    """RIS: EndNote, Mendeley, Zotero, Papers, most publishers' "cite" buttons; and Web of
    Science's tagged export (its "plain text" file: FN, PT … ER), which rispy reads alike."""
    import rispy

    wos = WOS.match(text) is not None
    end = "ER" if wos else "ER  -"
    lines = text.rstrip().splitlines()
    if lines and not lines[-1].startswith(end):
        text = text.rstrip() + ("\nER\n" if wos else "\nER  - \n")  # a last entry lacking its end
    try:
        items = rispy.loads(text, implementation=rispy.WokParser) if wos else rispy.loads(text)
    except Exception as error:
        raise LibraryError(f"not valid RIS: {' '.join(str(error).split())[:200]}") from None
    for number, item in enumerate(items, 1):
        title = _first(
            item, "title", "primary_title", "document_title", "translated_title", "short_title"
        )
        yield _entry(
            _Fields(
                label=_label("RIS", number, str(item.get("id", "")), title),
                title=title,
                abstract=_first(item, "abstract", "notes_abstract"),
                authors=tuple(
                    map(
                        str,
                        item.get("author_full_name")
                        or item.get("authors")
                        or item.get("first_authors")
                        or (),
                    )
                ),
                doi=_first(item, "doi"),
                urls=tuple(map(str, item.get("urls") or ())),
                mentions=(
                    *map(str, item.get("notes") or ()),
                    _first(item, "secondary_title", "journal_name", "publisher", "number"),
                ),
                year=_first(item, "year", "publication_year", "date"),
            )
        )


def _first(item: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = item.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return str(value)
    return ""


def _csl_items(text: str) -> list[Any]:
    """The items of a CSL-JSON text, its bounds (depth, number size, how many objects and
    lists, how many items) checked before anything is built from it."""
    containers = text.count("{") + text.count("[")  # strings' brackets too: an upper bound
    if containers > MAX_JSON_CONTAINERS:
        raise LibraryError(
            f"more than {MAX_JSON_CONTAINERS:,} JSON objects and lists; export one collection"
            " instead"
        )
    try:
        check_bounds(text, max_chars=len(text))
        data = json.loads(text)
    except UnsafeJSON as error:
        raise LibraryError(f"not CSL-JSON: {error}") from None
    except json.JSONDecodeError as error:
        raise LibraryError(
            f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    if isinstance(data, dict):
        data = data.get("items", [data])
    if not isinstance(data, list):
        raise LibraryError("not CSL-JSON: expected a list of items")
    if len(data) > MAX_ENTRIES:
        raise LibraryError(f"more than {MAX_ENTRIES:,} entries; export one collection instead")
    return data


def read_csl_json(text: str) -> Iterator[Read]:
    """CSL-JSON: Zotero's and Mendeley's "CSL JSON", Crossref and doi.org's citation JSON."""
    for number, item in enumerate(_csl_items(text), 1):
        if not isinstance(item, dict):
            yield Skipped(f"item {number}", "not a CSL-JSON item (an object with a title)")
            continue
        title = _string(item.get("title"))
        yield _entry(
            _Fields(
                label=_label("CSL-JSON", number, _string(item.get("id")), title),
                title=title,
                abstract=_string(item.get("abstract")),
                authors=tuple(
                    _csl_name(a)
                    for a in _list(item.get("author"))[:MAX_AUTHORS]
                    if isinstance(a, dict)
                ),
                doi=_string(item.get("DOI")),
                urls=(_string(item.get("URL")),),
                mentions=tuple(
                    _string(item.get(k)) for k in ("number", "note", "container-title", "archive")
                ),
                year=_csl_year(item.get("issued")),
            )
        )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _string(value: object) -> str:
    if isinstance(value, list):  # Crossref gives titles as lists
        value = value[0] if value else ""
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _csl_name(author: dict[str, Any]) -> str:
    if author.get("literal"):
        return _string(author["literal"])
    return " ".join(_string(author.get(k)) for k in ("given", "family")).strip()


def _csl_year(issued: object) -> str:
    if not isinstance(issued, dict):
        return ""
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        return str(parts[0][0])
    return _string(issued.get("raw") or issued.get("literal"))


READERS: dict[str, Callable[[str], Iterator[Read]]] = {
    "bibtex": read_bibtex,
    "ris": read_ris,
    "csl-json": read_csl_json,
}
