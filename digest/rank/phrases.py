"""Where a reader's phrase stands in a paper, as the reader would recognise it:

- its words together, in order ("knowledge graph" in "knowledge-graphs", "text to speech" in
  "text-to-speech"); each word may take a plural ending (s, es) after its own singular, never a
  verb ending ("tool use" is not in "a fundamental tool used across fields"); between two
  words, spaces, hyphens or slashes;
- or, for a phrase whose content words a stop word splits into runs ("memory | for | LLM
  agents"), those runs in any order with the stop words dropped, close together within one
  clause: a window of their words + 2 content words ("memory for LLM agents" in "LLM agent
  memory"), each word as written or its plural. A run stays a run ("graph neural networks" is
  not in "graph data with neural networks"); a hyphenated phrase ("text-to-speech") is one
  term.

Never its words scattered through an abstract: a clause ends at , ; : ( ) and at a sentence's
end ("text, images, and speech" is no "text-to-speech"; "To our knowledge, the graph …" is no
"knowledge graph"). Only such a run of words is ever told to a reader as "matches: X" or set
in bold: it is what a reader checking the claim would find.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from digest.abbreviations import Abbreviations, defined_in
from digest.rank.text import EVIDENCE_CHARS, Evidence, stop_words

_WORD = re.compile(r"[a-z0-9]+")
_ENDINGS = "(?:s|es)?"
_NEAR_SLACK = 2  # words a close match may hold besides the phrase's content words
_CLAUSE_END = re.compile(r"[,;:()\[\]]|(?<=[.!?])\s")
_TOKEN = re.compile(r"[^\W_]+")
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
    # Its runs of content words (split at stop words), each word's singular: what may stand
    # in another order ("memory for LLM agents": ("memory",), ("llm", "agent")).
    blocks: tuple[tuple[str, ...], ...] = ()

    @property
    def content_bases(self) -> tuple[str, ...]:
        return tuple(w for block in self.blocks for w in block)


def _blocks(words: list[str]) -> tuple[tuple[str, ...], ...]:
    """Runs of content words between stop words; none unless there are two runs or more
    (one run is the phrase itself, matched as a run)."""
    stop = stop_words()
    runs: list[list[str]] = [[]]
    for word in words:
        if word in stop:
            runs.append([])
        else:
            runs[-1].append(_base(word))
    found = tuple(tuple(run) for run in runs if run)
    return found if len(found) > 1 else ()


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
    # A hyphenated or slashed phrase is one term ("text-to-speech"): its words never go apart.
    joined = any(c in phrase for c in "-/‐‑–")
    blocks = () if joined else _blocks(words)
    return Phrase(phrase, pattern, bases, content, blocks)


def spans(phrase: Phrase, text: str, folded: str | None = None) -> list[tuple[int, int]]:
    """Where the phrase stands in `text` (character spans): its run of words, else its content
    words close together; `folded` is text.lower(), passed when the caller has it (a cheap
    check that every word's singular occurs comes first)."""
    if phrase.pattern is None:
        return []
    lowered = text.lower() if folded is None else folded
    if not all(base in lowered for base in phrase.content_bases or phrase.bases):
        return []
    if all(base in lowered for base in phrase.bases):
        exact = [(m.start(), m.end()) for m in phrase.pattern.finditer(text)]
        if exact:
            return exact
    return _near(phrase.blocks, text) if phrase.blocks else []


@functools.lru_cache(maxsize=4096)
def _clauses(text: str) -> tuple[tuple[tuple[str, int, int], ...], ...]:
    """The text's clauses, each as its content words: (singular, start, end)."""
    stop = stop_words()
    found = []
    start = 0
    for end in [*(m.start() for m in _CLAUSE_END.finditer(text)), len(text)]:
        words = tuple(
            (_base(m.group().lower()), start + m.start(), start + m.end())
            for m in _TOKEN.finditer(text[start:end])
            if m.group().lower() not in stop
        )
        if words:
            found.append(words)
        start = end + 1
    return tuple(found)


def _near(blocks: tuple[tuple[str, ...], ...], text: str) -> list[tuple[int, int]]:
    """Each block as a run of content words, in any order, all within a window of (their
    words) + _NEAR_SLACK content words of one clause: the spans of the blocks' words."""
    need = {w for block in blocks for w in block}
    width = len(need) + _NEAR_SLACK
    found: list[tuple[int, int]] = []
    for words in _clauses(text):
        if not need <= {w for w, _, _ in words}:
            continue
        for i in range(len(words)):
            if words[i][0] not in need:
                continue
            window = [w for w, _, _ in words[i : i + width]]
            starts = [_run_at(block, window) for block in blocks]
            if all(s is not None for s in starts):
                for block, start in zip(blocks, starts, strict=True):
                    assert start is not None
                    at = words[i + start : i + start + len(block)]
                    found.extend((a, b) for _, a, b in at)
                break
    return sorted(found)


def _run_at(block: tuple[str, ...], window: list[str]) -> int | None:
    """Where the block stands as a run in the window, if it does."""
    for start in range(len(window) - len(block) + 1):
        if tuple(window[start : start + len(block)]) == block:
            return start
    return None


def occurs(phrase: str, text: str) -> bool:
    """Whether the phrase stands in the text (see the module's doc)."""
    return bool(spans(compiled(phrase), text))


@dataclass(frozen=True, slots=True)
class Found:
    """Where a phrase stands in a text, and, when it stands there in other words (its short
    form, its spelled-out form), those words as the text has them ("MLLMs")."""

    spans: tuple[tuple[int, int], ...]
    written: str = ""


NOT_FOUND = Found(())


class Matcher:
    """Phrases as they stand in papers, also through the abbreviations the store's abstracts
    define (digest.abbreviations): "multimodal LLMs" stands in "… MLLMs …" and in "Multimodal
    Large Language Models"; a short form the store does not agree on stands only in a paper
    that defines it so itself. Variants are worked out once per phrase."""

    def __init__(self, abbreviations: Abbreviations | None = None) -> None:
        self.abbreviations = abbreviations
        self._variants: dict[str, tuple[tuple[Phrase, ...], tuple[_Short, ...]]] = {}
        self._longs: dict[str, tuple[str, ...]] = {}

    def _of(self, phrase: str) -> tuple[tuple[Phrase, ...], tuple[_Short, ...]]:
        found = self._variants.get(phrase)
        if found is None:
            assert self.abbreviations is not None
            longs, shorts = self.abbreviations.variants(phrase)
            self._longs[phrase] = longs
            found = self._variants[phrase] = (
                tuple(compiled(long) for long in longs[1:]),
                tuple(_short_pattern(short) for short in shorts),
            )
        return found

    def find(self, phrase: str, text: str, folded: str | None = None) -> Found:
        """Where the phrase stands in the text (spans), and in which other words."""
        direct = spans(compiled(phrase), text, folded)
        if direct or self.abbreviations is None:
            return Found(tuple(direct))
        longs, shorts = self._of(phrase)
        for long in longs:
            if hits := spans(long, text, folded):
                return Found(tuple(hits), text[hits[0][0] : hits[-1][1]])
        patterns = [*shorts]
        if "(" in text:  # a paper's own definitions count in that paper
            own = defined_in(text, self._longs[phrase])
            patterns.extend(_short_pattern(short) for short in own)
        for short, pattern in patterns:
            if short not in text:
                continue
            if hits := [(m.start(), m.end()) for m in pattern.finditer(text)]:
                return Found(tuple(hits), text[hits[0][0] : hits[0][1]])
        return NOT_FOUND

    def evidence(self, sentences: list[str], phrases: list[str]) -> Evidence | None:
        """Of a paper's sentences (the abstract's, then the title), the first that holds the
        most of these phrases, with the words each stands in marked; None when none holds one."""
        best: tuple[int, str, list[tuple[int, int]]] | None = None
        for sentence in sentences:
            folded = sentence.lower()
            found = [self.find(phrase, sentence, folded).spans for phrase in phrases]
            count = sum(1 for hits in found if hits)
            if count and (best is None or count > best[0]):
                best = (count, sentence, sorted(span for hits in found for span in hits))
        if best is None:
            return None
        return _cut(best[1], best[2])


_Short = tuple[str, re.Pattern[str]]


@functools.lru_cache(maxsize=4096)
def _short_pattern(short: str) -> _Short:
    """A short form as a word of its own, as written (case matters: "RAG", not "rag"), its
    plural too ("MLLMs"); with the form itself, for a quick check."""
    return short, re.compile(rf"(?<![^\W_]){re.escape(short)}s?(?![^\W_])")


def evidence(sentences: list[str], phrases: list[str]) -> Evidence | None:
    """Of a paper's sentences (the abstract's, then the title), the first that holds the most
    of these phrases, with each phrase's own run of words marked; None when none holds one."""
    return Matcher().evidence(sentences, phrases)


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
