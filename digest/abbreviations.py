"""Abbreviations as the store's own abstracts define them ("Multimodal Large Language Models
(MLLMs)", "sparse autoencoders (SAEs)"), learned at ingest, never from a hand list. Schwartz &
Hearst (2003), as research/abbrev.py measured it (59/60 correct on a random sample):

1. a short-form candidate is the text inside " ( … )" up to the first ")", "]", ";" or ",": one
   token of 2-10 characters of letters, digits and hyphens, starting with a letter or digit,
   holding a capital letter, at least two letters and no fewer letters than digits ("MLLMs",
   "LoRA", "3DGS"; not "i.e", "2024"); a trailing "s" after a capital is a plural ("MLLMs" ->
   "MLLM");
2. the long form is looked for in the min(|SF| + 5, 2·|SF|) words before the parenthesis: the
   short form's letters and digits matched right to left, its first one at the start of a word,
   the shortest such run of words;
3. kept if the long form has at least 2 words, does not hold the short form as a word, and no
   word of it is longer than 30 characters.

The store keeps (short form, long form, count), the long form keyed by `key` (lower-case,
hyphens as spaces, plural "s" dropped). Read back, long forms are grouped with the short forms
inside them spelled out and spaces ignored, so "Multimodal LLMs (MLLMs)" and "Multi-modal Large
Language Models (MLLMs)" are one definition. A short form stands for a long form outside the
papers that define it only when that long form holds at least DOMINANCE of at least SUPPORT
definitions ("DP", "TTS" mean two things each: never expanded unless the paper says so).
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

DOMINANCE = 0.9
SUPPORT = 5

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_CANDIDATE = re.compile(r"\s\(([^()]{1,40}?)[)\];,]")
_TOKEN = re.compile(r"[^\s]+")
_SHORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]*$")
_KEY_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Definition:
    """One "long form (SF)" in a text: the short form singular, the long form as written."""

    short: str
    long: str


def singular(word: str) -> str:
    """A lower-case word without its plural "s" ("models" -> "model"; "loss", "focus" stay)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def key(text: str) -> str:
    """A long form (or any phrase) as compared: lower-case words, hyphens as spaces, each
    word's plural "s" dropped."""
    return " ".join(singular(w) for w in _KEY_WORD.findall(text.lower()))


def compact(text: str) -> str:
    """A long form as grouped: its key without spaces ("multi-modal" = "multimodal")."""
    return key(text).replace(" ", "")


def short_form(token: str) -> bool:
    """Whether a token can be a short form (rule 1)."""
    if not 2 <= len(token) <= 10 or not _SHORT.match(token):
        return False
    letters = sum(c.isalpha() for c in token)
    digits = sum(c.isdigit() for c in token)
    return any(c.isupper() for c in token) and letters >= max(digits, 2)


def singular_short(token: str) -> str:
    """A short form without its plural "s" after a capital ("MLLMs" -> "MLLM", "GANs" ->
    "GAN"; "Bs" and "LoRAs"? "LoRA" stays "LoRA", "LoRAs" -> "LoRA")."""
    if len(token) > 2 and token.endswith("s") and token[-2].isupper():
        return token[:-1]
    return token


def best_long_form(short: str, window: str) -> str | None:
    """Schwartz & Hearst's findBestLongForm (rule 2)."""
    s, at = len(short) - 1, len(window) - 1
    while s >= 0:
        wanted = short[s].lower()
        if not wanted.isalnum():
            s -= 1
            continue
        while at >= 0 and (
            window[at].lower() != wanted or (s == 0 and at > 0 and window[at - 1].isalnum())
        ):
            at -= 1
        if at < 0:
            return None
        at -= 1
        s -= 1
    return window[window.rfind(" ", 0, at + 1) + 1 :]


def _definition(sentence: str, match: re.Match[str]) -> Definition | None:
    raw = match.group(1).strip()
    if not short_form(raw):
        return None
    short = singular_short(raw)
    before = _TOKEN.findall(sentence[: match.start()])
    window = before[-min(len(short) + 5, 2 * len(short)) :]
    found = best_long_form(short, " ".join(window)) if window else None
    if found is None:
        return None
    long = found.strip(" ,;:\"'")
    words = long.split()
    if (
        len(key(long).split()) < 2
        or short.lower() in (w.lower().strip(",.") for w in words)
        or any(len(w) > 30 for w in words)
    ):
        return None
    return Definition(short, long)


def definitions(text: str) -> list[Definition]:
    """Every abbreviation a text defines, in order (rules 1-3)."""
    text = " ".join(text.replace("(s)", "s").split())  # "Model(s)"
    found = []
    for sentence in _SENTENCE.split(text):
        for match in _CANDIDATE.finditer(sentence):
            definition = _definition(sentence, match)
            if definition is not None:
                found.append(definition)
    return found


def counted(texts: Iterable[str]) -> Counter[tuple[str, str]]:
    """(short form, key of the long form) -> how many times the texts define it so: what the
    store adds up at ingest."""
    return Counter((d.short, key(d.long)) for text in texts for d in definitions(text))


@dataclass(frozen=True, slots=True)
class Abbreviations:
    """What the store's abstracts define: short form -> {grouped long form: count}, grouped long
    form -> {short form: count}, and each grouped long form's commonest spelling."""

    long_of: dict[str, Counter[str]] = field(default_factory=dict)
    short_of: dict[str, Counter[str]] = field(default_factory=dict)
    text_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[str, str, int]]) -> Abbreviations:
        """From (short form, long-form key, count) rows, as the store keeps them: long forms
        grouped once the short forms inside them are spelled out ("multimodal llm" ->
        "multimodal large language model")."""
        table = list(rows)
        first: dict[str, Counter[str]] = defaultdict(Counter)
        for short, long, count in table:
            first[short][long] += count
        agreed = _agreed(first)
        long_of: dict[str, Counter[str]] = defaultdict(Counter)
        short_of: dict[str, Counter[str]] = defaultdict(Counter)
        spellings: dict[str, Counter[str]] = defaultdict(Counter)
        for short, long, count in table:
            spelled = " ".join(agreed.get(word, word) for word in long.split())
            grouped = compact(spelled)
            long_of[short][grouped] += count
            short_of[grouped][short] += count
            spellings[grouped][spelled] += count
        text_of = {k: c.most_common(1)[0][0] for k, c in spellings.items()}
        return cls(dict(long_of), dict(short_of), text_of)

    def expansion(self, short: str) -> str | None:
        """The long form (lower-case, singular) a short form stands for across the store, when
        the store agrees on it (DOMINANCE of at least SUPPORT definitions)."""
        definitions = self.long_of.get(short)
        if not definitions:
            return None
        (grouped, count), total = definitions.most_common(1)[0], definitions.total()
        return self.text_of[grouped] if count >= SUPPORT and count >= DOMINANCE * total else None

    def abbreviations(self, long: str) -> tuple[str, ...]:
        """The short forms that stand for this long form and whose agreed expansion it is
        (so "dynamic programming" never brings in every "DP")."""
        grouped = compact(long)
        found = self.short_of.get(grouped, Counter())
        return tuple(
            short
            for short, count in found.most_common()
            if count >= SUPPORT and compact(self.expansion(short) or "") == grouped
        )

    def variants(self, phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the phrase and its spelled-out forms, to match as phrases; the short forms that
        stand for any of them, to match as words). "multimodal LLMs" -> ("multimodal LLMs",
        "multimodal large language models"), ("MLLM",)."""
        words = phrase.split()
        longs = [phrase]
        for i, word in enumerate(words):
            bare = word.strip(",.;:")
            short = singular_short(bare)
            expanded = self.expansion(short) if short_form(bare) else None
            if expanded is None:
                continue
            *head, last = expanded.split()
            # in the number the phrase gives the short form ("LLMs" -> "... models")
            last = last + "s" if short != bare and not last.endswith("s") else last
            longs.append(" ".join([*words[:i], *head, last, *words[i + 1 :]]))
        shorts: list[str] = []
        whole = singular_short(phrase.strip())
        if " " not in whole and short_form(whole):
            shorts.append(whole)
        for long in longs:
            shorts.extend(s for s in self.abbreviations(long) if s not in shorts)
        return tuple(dict.fromkeys(longs)), tuple(shorts)


def _agreed(counts: dict[str, Counter[str]]) -> dict[str, str]:
    """Lower-cased short form -> the long form the store agrees it stands for (DOMINANCE of
    at least SUPPORT definitions): what a long-form key's word "llm" is spelled out as."""
    agreed: dict[str, str] = {}
    for short, definitions in counts.items():
        (long, count), total = definitions.most_common(1)[0], definitions.total()
        if count >= SUPPORT and count >= DOMINANCE * total:
            agreed.setdefault(short.lower(), long)
    return agreed


def defined_in(text: str, long_forms: Sequence[str]) -> tuple[str, ...]:
    """The short forms a text itself defines as one of these long forms (a paper's own
    "DP" for "dynamic programming" counts in that paper, whatever the store says)."""
    wanted = {compact(long) for long in long_forms}
    return tuple(dict.fromkeys(short for short, long in _own(text) if long in wanted))


@functools.lru_cache(maxsize=8192)
def _own(text: str) -> tuple[tuple[str, str], ...]:
    """A text's definitions as (short form, grouped long form): read once per text."""
    return tuple((d.short, compact(d.long)) for d in definitions(text))
