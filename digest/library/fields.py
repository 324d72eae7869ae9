"""What a library entry's fields say, cleaned: text without LaTeX or HTML markup, the arXiv id
wherever an exporter put it, the DOI, the year."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from digest.identity import parse_arxiv_id
from digest.safe_text import terminal_safe

# Longer titles are not titles (a pasted abstract, a broken export): the entry is skipped.
MAX_TITLE = 1_000
# A title written longer than this is skipped before its markup is decoded (LaTeX and HTML
# markup never take four times the characters of the text they mark).
MAX_RAW_TITLE = 4 * MAX_TITLE
# Abstracts are cut here: the ranker reads the start of a paper's text anyway.
MAX_ABSTRACT = 20_000
# An author's name is cut here before it is decoded: no name is longer.
MAX_NAME = 300
# pylatexenc decodes ~100,000 characters a second here, some 20 times slower than
# bibtexparser reads a file: one file's fields get at most a 32nd of its characters (at least
# 50,000) decoded by it, then (a hostile file, or a most unusual one) the quick decoding,
# which drops the macros it does not know. The benchmark's library (real arXiv abstracts,
# written as Better BibTeX writes them) sends it about 1 character in 60 (\href, \cite,
# \deg, commands of the authors' own).
SLOW_LATEX_BUDGET = 50_000
SLOW_LATEX_SHARE = 32

_TAG = re.compile(r"</?(?:i|b|em|strong|sub|sup|sc|span|p|br|div|jats:[a-z]+)\b[^>]*>", re.I)
_ARXIV_MENTION = re.compile(r"arxiv", re.I)
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>{}]+")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)
_YEAR = re.compile(r"(?<!\d)(1[6-9]\d\d|2[01]\d\d)(?!\d)")

# BibTeX's accents (`\'e`, `{\"u}`, `\c{c}`) are the letter and a combining mark, which NFC
# composes. These, the letters of their own and the escaped characters are what Zotero,
# JabRef and Better BibTeX write; any other macro sends the field through pylatexenc, which
# is ten times slower (seconds for a 4,000-entry library if every field went through it).
_COMBINING = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
    ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b", "c": "\u0327", "k": "\u0328",
    "r": "\u030a", "d": "\u0323", "b": "\u0331",
}  # fmt: skip
_LETTERS = {
    "ss": "ß", "o": "ø", "O": "Ø", "aa": "å", "AA": "Å", "ae": "æ", "AE": "Æ", "oe": "œ",
    "OE": "Œ", "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ",
}  # fmt: skip
_ACCENT = re.compile(
    r"\\([\'`^\"~=.])\s*(?:\{\s*(\\?[A-Za-z])\s*\}|(\\?[A-Za-z]))"
    r"|\\([uvHckrdb])(?:\s*\{\s*(\\?[A-Za-z])\s*\}|\s+([A-Za-z]))"
)
_LETTER = re.compile(r"\\(ss|aa|AA|ae|AE|oe|OE|[oOlLij])(?![A-Za-z])(?:\s*\{\})?")
_STYLE = re.compile(
    r"\\(?:emph|textit|textbf|texttt|textsc|textsf|textrm|textup|textnormal|mathrm|mbox|url"
    r"|underline|textsuperscript|textsubscript)\s*\{"
)
_MATH = re.compile(r"\$[^$]*\$")
_SPACES = re.compile(r"\\[,;:! \\]")  # thin and normal spaces, a line break
_ESCAPED = re.compile(r"\\[&%$#_{}]")
_BRACE_OR_ESCAPE = re.compile(r"\\([&%$#_{}])|[{}]")
_TYPOGRAPHY = (("---", "\u2014"), ("--", "\u2013"), ("``", "\u201c"), ("''", "\u201d"))


def clean_text(value: str, latex: Callable[[str], str] | None = None) -> str:
    """One line of plain text: LaTeX decoded by `latex` (a `Latex` for BibTeX), HTML markup
    removed (CSL's `<i>`, Crossref's `<jats:p>`), entities decoded, control characters and
    direction overrides (U+202E) gone, whitespace collapsed."""
    if latex is not None:
        value = latex(value)
    if "<" in value:
        value = _TAG.sub(" ", value)
    if "&" in value:
        value = html.unescape(value)
    return " ".join(terminal_safe(value).split())


class Latex:
    """BibTeX's LaTeX decoded, for one file: `{\\"u}`, `\\emph{..}`, `\\%`, protective
    braces (math kept as written) the quick way; other macros by pylatexenc while the file's
    budget of characters lasts, then the quick way, which drops them."""

    def __init__(self, size: int = 0) -> None:
        """For a file of `size` characters."""
        self.budget = max(SLOW_LATEX_BUDGET, size // SLOW_LATEX_SHARE)

    def __call__(self, value: str) -> str:
        return _decode_latex(value, self._slow)

    def _slow(self, value: str) -> str:
        if len(value) > self.budget:
            self.budget = 0
            return _plain(_MACRO.sub(" ", value))
        self.budget -= len(value)
        return _pylatexenc(value)


_MACRO = re.compile(r"\\(?:[A-Za-z]+\*?|[^A-Za-z&%$#_{}])")  # not the escaped characters


def _decode_latex(value: str, slow: Callable[[str], str]) -> str:
    if "\\" in value:
        value = _ACCENT.sub(_accented, value)
        value = _LETTER.sub(lambda m: _LETTERS[m.group(1)], value)
        value = _STYLE.sub("{", value)
        value = _SPACES.sub(" ", value)
        if "\\" in _ESCAPED.sub("", _MATH.sub("", value)):
            return slow(value)
    return _plain(value)


def _plain(value: str) -> str:
    """Braces and escapes gone, ties and LaTeX's dashes and quotes as characters."""
    if "{" in value or "}" in value or "\\" in value:
        value = _BRACE_OR_ESCAPE.sub(lambda m: m.group(1) or "", value)
    value = re.sub(r"(?<!\\)~", " ", value)
    for latex, text in _TYPOGRAPHY:
        value = value.replace(latex, text)
    return value


def _accented(match: re.Match[str]) -> str:
    if match.group(1):
        mark, letter = match.group(1), match.group(2) or match.group(3)
    else:
        mark, letter = match.group(4), match.group(5) or match.group(6)
    # `\'{\i}`: a dotless i under an accent is written as the plain letter.
    return unicodedata.normalize("NFC", letter[-1] + _COMBINING[mark])


def _pylatexenc(value: str) -> str:
    try:
        return str(_converter().latex_to_text(value))
    except Exception:
        return value.replace("{", "").replace("}", "")


@functools.cache
def _converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


def arxiv_from_eprint(value: str) -> str | None:
    """An `eprint` field's arXiv id (the field holds the id alone)."""
    value = value.strip()
    found = parse_arxiv_id(value)
    return found if found and len(value) <= len(found) + 12 else None


def arxiv_from_url(value: str) -> str | None:
    """An arXiv id from an arxiv.org (or export.arxiv.org) address."""
    return parse_arxiv_id(value) if "arxiv.org/" in value.lower() else None


def arxiv_mentioned(value: str) -> str | None:
    """An arXiv id written after the word arXiv: a journal field of "arXiv preprint
    arXiv:2401.01234", Zotero's `extra` "arXiv: 2401.01234", a note."""
    match = _ARXIV_MENTION.search(value)
    return parse_arxiv_id(value[match.end() :]) if match else None


def doi_of(value: str) -> str | None:
    """A DOI, lowercased, from a bare DOI, `doi:` text or a doi.org address."""
    match = _DOI.search(value)
    return match.group(0).rstrip(".,;)").lower() if match else None


def arxiv_from_doi(doi: str) -> str | None:
    """The id inside an arXiv DOI (10.48550/arXiv.2401.01234)."""
    match = _ARXIV_DOI.match(doi)
    return parse_arxiv_id(match.group(1)) if match else None


def year_of(value: str) -> int | None:
    match = _YEAR.search(value)
    return int(match.group(1)) if match else None
