"""A library export as bytes → its entries: the text's encoding, which of the formats it is,
the limits that keep a hostile file from costing more than a large honest one, and the same
paper listed twice."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from digest.errors import LibraryError
from digest.identity import title_key
from digest.library.formats import MAX_ENTRIES, READERS, WOS, Skipped
from digest.models import LibraryEntry

# A 4,000-paper library with abstracts is about 6 MB of BibTeX.
MAX_BYTES = 32 * 1024 * 1024
# Fields at most (a real export has about 7 a BibTeX entry, 26 lines a RIS entry): a file of
# nothing but fields would cost the parsers far more than a real library of its size.
MAX_FIELDS = 1_000_000

_SUFFIXES = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".biblatex": "bibtex",
    ".ris": "ris",
    ".json": "csl-json",
    ".csljson": "csl-json",
}
_COUNTERS = {
    "bibtex": re.compile(r"^\s*@\s*(?!comment|string|preamble)\w+\s*[{(]", re.M | re.I),
    "ris": re.compile(r"^TY  -", re.M),
    "csl-json": re.compile(r'"(?:title|type)"\s*:'),
}
# What marks each field, counted before parsing (an upper bound: values may hold it too).
_FIELD_MARKS = {"bibtex": "=", "ris": "\n"}
FORMATS = ("bibtex", "ris", "csl-json")
_NAMES = {"bibtex": "BibTeX", "ris": "RIS", "csl-json": "CSL-JSON"}


@dataclass(frozen=True, slots=True)
class LibraryRead:
    """One file's entries (each paper once) and what was left out of it, with why."""

    entries: tuple[LibraryEntry, ...]
    skipped: tuple[Skipped, ...]

    @property
    def read(self) -> int:
        return len(self.entries) + len(self.skipped)


def read_library(name: str, data: bytes) -> LibraryRead:
    """Read a BibTeX, RIS or CSL-JSON export; LibraryError (naming the file) if it cannot be
    read as a whole. Entries it can read are kept; the others are skipped, each with why."""
    try:
        return _read(data, name)
    except LibraryError as error:
        raise LibraryError(f"{PurePath(name).name}: {error}") from None


def _read(data: bytes, name: str) -> LibraryRead:
    if len(data) > MAX_BYTES:
        raise LibraryError(
            f"larger than {MAX_BYTES // 2**20} MB, more than a library export holds; export"
            " one collection instead"
        )
    text = _decoded(data)
    kind = _format(name, text)
    if len(_COUNTERS[kind].findall(text)) > MAX_ENTRIES:
        raise LibraryError(
            f"more than {MAX_ENTRIES:,} entries; export the collection of papers you want"
            " your digest to learn from"
        )
    if kind in _FIELD_MARKS and text.count(_FIELD_MARKS[kind]) > MAX_FIELDS:
        raise LibraryError(f"more than {MAX_FIELDS:,} fields; export one collection instead")
    found = list(READERS[kind](text))
    skipped = [f for f in found if isinstance(f, Skipped)]
    entries, twice = first_of_each(
        (f for f in found if isinstance(f, LibraryEntry)), "an earlier entry"
    )
    skipped += twice
    if len(entries) + len(skipped) > MAX_ENTRIES:
        raise LibraryError(f"more than {MAX_ENTRIES:,} entries; export one collection instead")
    if not entries and not skipped:
        raise LibraryError(f"holds no {_NAMES[kind]} entries")
    return LibraryRead(tuple(entries), tuple(skipped))


def first_of_each(
    entries: Iterable[LibraryEntry], earlier: str
) -> tuple[list[LibraryEntry], list[Skipped]]:
    """Each paper once: an entry with the arXiv id, DOI or folded title of an `earlier` one
    ("an earlier entry") is skipped, saying which: two columns called "Editorial" are kept
    once, and the reader is told it is for their title."""
    kept: list[LibraryEntry] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for entry in entries:
        ids = {f"doi:{entry.doi}"} if entry.doi else set()
        if entry.arxiv_id:
            ids.add(entry.key)
        title = {title_key(entry.title)} if entry.title else set()
        if ids & seen:
            skipped.append(Skipped(entry.title[:80], f"the same paper as {earlier}"))
            continue
        if title & seen:
            skipped.append(Skipped(entry.title[:80], f"the same title as {earlier}"))
            continue
        seen.update(ids | title)
        kept.append(entry)
    return kept, skipped


def _decoded(data: bytes) -> str:
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:8192]:
        raise LibraryError("is not a text file; export your library as BibTeX, RIS or CSL-JSON")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LibraryError(
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start});"
            " export it again as UTF-8"
        ) from None


def _format(name: str, text: str) -> str:
    suffix = PurePath(name).suffix.lower()
    head = text.lstrip()[:2000]
    if suffix == ".rdf" or head.startswith(("<?xml", "<rdf:RDF")):
        raise LibraryError(
            "Zotero RDF is not read; export the collection as BibTeX or CSL JSON instead"
        )
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if head.startswith(("[", "{")):
        return "csl-json"
    if _COUNTERS["ris"].search(text[:100_000]) or WOS.match(text):
        return "ris"
    if _COUNTERS["bibtex"].search(text[:100_000]):
        return "bibtex"
    raise LibraryError("is not BibTeX, RIS or CSL-JSON; export your library in one of them")
