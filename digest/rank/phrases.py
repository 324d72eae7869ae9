"""Where a reader's phrase stands in a paper: its words together, in order, as the reader would
recognise them ("knowledge graph" in "knowledge-graphs", "text to speech" in "text-to-speech"),
never its words scattered through an abstract ("text, images, and speech" is no
"text-to-speech"; "To our knowledge … graph" is no "knowledge graph").

Each word of the phrase may take a plural or verb ending (s, es, ed, d, ing) after its own
singular; between two words, spaces, hyphens or slashes. Only such a run of words is ever told
to a reader as "matches: X" or set in bold: it is what a reader checking the claim would find.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from digest.rank.text import EVIDENCE_CHARS, Evidence, stop_words

_WORD = re.compile(r"[a-z0-9]+")
_ENDINGS = "(?:s|es|ed|d|ing)?"
_BETWEEN = r"[\s/\-‐‑–]+"  # spaces, slashes, hyphens (ASCII and Unicode)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A phrase as it is looked for: `bases` (each word's singular, lower-cased) must all occur
    in a text for the pattern to have a chance; `content` counts its words that carry meaning
    (a one-word phrase such as "benchmarks" is weak evidence when mentioned once)."""

    text: str
    pattern: re.Pattern[str] | None
    bases: tuple[str, ...]
    content: int


def _base(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


@functools.lru_cache(maxsize=65_536)
def compiled(phrase: str) -> Phrase:
    """The phrase's pattern (None for a phrase with no letters or digits)."""
    words = _WORD.findall(phrase.lower())
    if not words:
        return Phrase(phrase, None, (), 0)
    bases = tuple(_base(w) for w in words)
    body = _BETWEEN.join(re.escape(b) + _ENDINGS for b in bases)
    pattern = re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)
    content = sum(1 for w in words if w not in stop_words())
    return Phrase(phrase, pattern, bases, content)


def spans(phrase: Phrase, text: str, folded: str | None = None) -> list[tuple[int, int]]:
    """Where the phrase stands in `text` (character spans); `folded` is text.lower(), passed
    when the caller has it (a cheap check that every word's singular occurs comes first)."""
    if phrase.pattern is None:
        return []
    lowered = text.lower() if folded is None else folded
    if not all(base in lowered for base in phrase.bases):
        return []
    return [(m.start(), m.end()) for m in phrase.pattern.finditer(text)]


def occurs(phrase: str, text: str) -> bool:
    """Whether the phrase stands in the text (see the module's doc)."""
    return bool(spans(compiled(phrase), text))


def evidence(sentences: list[str], phrases: list[str]) -> Evidence | None:
    """Of a paper's sentences (the abstract's, then the title), the first that holds the most
    of these phrases, with each phrase's own run of words marked; None when none holds one."""
    wanted = [compiled(p) for p in phrases]
    best: tuple[int, str, list[tuple[int, int]]] | None = None
    for sentence in sentences:
        folded = sentence.lower()
        found = [spans(phrase, sentence, folded) for phrase in wanted]
        count = sum(1 for hits in found if hits)
        if count and (best is None or count > best[0]):
            best = (count, sentence, sorted(span for hits in found for span in hits))
    if best is None:
        return None
    return _cut(best[1], best[2])


def _cut(sentence: str, marks: list[tuple[int, int]]) -> Evidence:
    """A long sentence cut to about EVIDENCE_CHARS around its first mark, the marks moved
    with it (a mark the cut would split is left out)."""
    if len(sentence) <= EVIDENCE_CHARS:
        return Evidence(sentence, tuple(marks))
    start = max(0, marks[0][0] - EVIDENCE_CHARS // 3)
    if start:
        start = sentence.find(" ", start) + 1 or start
    end = start + EVIDENCE_CHARS
    cut = sentence[start:end]
    suffix = ""
    if end < len(sentence):
        cut, suffix = cut.rsplit(" ", 1)[0], " …"
    prefix = "… " if start else ""
    shift = len(prefix) - start
    kept = tuple((a + shift, b + shift) for a, b in marks if a >= start and b <= start + len(cut))
    return Evidence(prefix + cut + suffix, kept)
