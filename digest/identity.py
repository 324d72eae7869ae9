"""Paper identity: the arXiv id without version when known, else a normalised title."""

from __future__ import annotations

import functools
import re
import unicodedata

_ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
_ARXIV_OLD = re.compile(r"\b([a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\b")


class _SpaceForPunctuation(dict[int, int]):
    """str.translate table, filled lazily: punctuation, separators and controls → space."""

    def __missing__(self, codepoint: int) -> int:
        folded = 32 if unicodedata.category(chr(codepoint))[0] in "PZC" else codepoint
        self[codepoint] = folded
        return folded


_FOLD = _SpaceForPunctuation()
# The same folding for ASCII titles (most of them) as a bytes table: bytes.translate runs in C,
# about twice as fast as str.translate with a mapping. ASCII is unchanged by NFKC.
_ASCII_FOLD = bytes(_FOLD[c] for c in range(128)) + bytes(range(128, 256))


@functools.lru_cache(maxsize=65536)
def normalise_title(title: str) -> str:
    """Fold a title so that layout differences do not change identity.

    NFKC (composes decomposed accents, unfolds ligatures and no-break spaces), case-folded,
    every run of punctuation or whitespace becomes one space. Cached: one ingest asks for the
    same title several times (parse, diff, store).
    """
    if title.isascii():
        return " ".join(title.lower().encode("ascii").translate(_ASCII_FOLD).decode().split())
    return _fold_unicode(title)


def _fold_unicode(title: str) -> str:
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(folded.translate(_FOLD).split())


def parse_arxiv_id(text: str | None) -> str | None:
    """Extract an arXiv id (without version) from an id, abs/pdf URL or None."""
    if not text:
        return None
    match = _ARXIV_NEW.search(text)
    if match:
        return match.group(1)
    match = _ARXIV_OLD.search(text)
    return match.group(1) if match else None


def title_key(title: str) -> str:
    return "title:" + normalise_title(title)


def paper_key(title: str, arxiv_id: str | None = None) -> str:
    """The identity key of a paper: `arxiv:<id>` when the id is known, else `title:<folded>`."""
    return f"arxiv:{arxiv_id}" if arxiv_id else title_key(title)
