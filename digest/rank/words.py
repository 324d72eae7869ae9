"""A reader's interests in their own words: what a sentence asks for, as phrases to look for,
and what it asks to leave out.

An interest may be a phrase ("graph neural networks") or a sentence ("memory mechanisms for
LLM agents; not GPU memory"). Parts are split on `;` and newlines; a part that starts with
`not`, `but not`, `except` or `excluding` (or holds one after a comma, or in parentheses) names
exclusions. What is left of a part is kept whole when it reads as one phrase (at most
PHRASE_WORDS words, no punctuation that separates); otherwise it is cut into noun-phrase-like
chunks at punctuation, conjunctions and clause words, with the function words at each chunk's
edges dropped, and a chunk still longer than PHRASE_WORDS content words cut again at its
function words. Only general English words are used to cut, never a list of topics.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence

from digest.models import Interest
from digest.rank.records import Profile
from digest.rank.text import stop_words

# A part of at most this many words, with nothing between them but spaces and hyphens, is one
# phrase, exactly as written (every short interest ranks as it always did).
PHRASE_WORDS = 4

_PARTS = re.compile(r"[;\n\r]+")
# Where an exclusion starts inside a part: "but not" / "except" / "excluding" / "other than"
# anywhere; "not" (or "Not:") at the start, or after a comma, a full stop or a parenthesis.
_EXCLUSION = re.compile(
    r"(?:^|[,(]\s*|\s)(?:but\s+not|except(?:\s+for)?|excluding|other\s+than)\s+"
    r"|(?:^|[,(.]\s*)not(?:\s*:\s*|\s+)",
    re.IGNORECASE,
)
# Where a sentence is cut between two chunks: punctuation that separates, and conjunctions and
# clause words (English grammar, not a list of topics).
_CUTS = re.compile(
    r"[,:.!?()\[\]{}\"“”]|\s(?:and|or|nor|but|as\s+well\s+as|such\s+as|including|especially"
    r"|particularly|notably|like|e\.g\.|i\.e\.|that|which|who|whose|where|when|how|whether"
    r"|versus|vs\.?)\s",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_][\w'’\-/+.]*", re.UNICODE)
# How a request is put around its topics ("I want papers about …", "anything on …"), and the
# English function words bm25s's short stop list leaves out (prepositions, auxiliaries,
# question words): general English, never a topic.
_FILLERS = frozenset(
    (  # noqa: SIM905 (a word list reads best as words)
        "i i'm im me my we our you want wants would like love need needs looking look "
        "interested interest interests anything something everything stuff papers paper work "
        "works research articles article topics topic things new recent latest "
        "mostly mainly also please especially particularly about above across after against "
        "along among around before behind below beneath beside between beyond during onto "
        "over through toward towards under upon within without via do does did can could "
        "should may might must shall how what why which who whom whose where when whether so "
        "than too very more most some any all each other others its from "
    ).split()
)


def _is_filler(word: str) -> bool:
    lowered = word.lower().strip(".'’")
    return lowered in stop_words() or lowered in _FILLERS


def _trimmed(words: list[str]) -> list[str]:
    """The words with fillers (function and request words) dropped from both ends."""
    start, end = 0, len(words)
    while start < end and _is_filler(words[start]):
        start += 1
    while end > start and _is_filler(words[end - 1]):
        end -= 1
    return words[start:end]


def _content(words: Sequence[str]) -> int:
    return sum(1 for w in words if not _is_filler(w))


def _cut_long(words: list[str]) -> list[list[str]]:
    """A chunk of more than PHRASE_WORDS content words, cut at its function words."""
    if _content(words) <= PHRASE_WORDS:
        return [words]
    pieces: list[list[str]] = [[]]
    for word in words:
        if _is_filler(word):
            pieces.append([])
        else:
            pieces[-1].append(word)
    return [piece for piece in pieces if piece]


def chunks(text: str) -> list[str]:
    """The phrases a positive part of an interest asks for (see the module's doc)."""
    whole = _WORD.findall(text)
    if len(whole) <= PHRASE_WORDS and not re.search(r"[,:;.!?()\[\]\"]", text.rstrip(".")):
        phrase = " ".join(text.split())
        return [phrase] if phrase else []
    found: list[str] = []
    for piece in _CUTS.split(f" {text} "):
        for words in _cut_long(_trimmed(_WORD.findall(piece))):
            phrase = " ".join(_trimmed(words)).strip(".")
            if phrase and _content(phrase.split()) and phrase not in found:
                found.append(phrase)
    return found


def _exclusions(text: str) -> list[str]:
    """The terms an exclusion names: "GPU memory or hardware" is two."""
    found: list[str] = []
    for piece in _CUTS.split(f" {text} "):
        phrase = " ".join(_trimmed(_WORD.findall(piece))).strip(".")
        if phrase and phrase not in found:
            found.append(phrase)
    return found


@functools.lru_cache(maxsize=4096)
def understood(interest: Interest) -> tuple[tuple[Interest, ...], tuple[str, ...]]:
    """(the phrases an interest asks for, what it excludes). A part's chunks share its weight:
    one thing a reader said counts as one, however many phrases it takes to look for it. A
    phrase comes back as the very Interest given."""
    phrases: list[Interest] = []
    excluded: list[str] = []
    for part in _PARTS.split(interest.phrase):
        wanted, unwanted = _split_exclusions(part.strip())
        found = chunks(wanted)
        if found == [interest.phrase] and not unwanted:
            return (interest,), ()
        phrases += [Interest(p, interest.weight / len(found)) for p in found]
        excluded += [term for text in unwanted for term in _exclusions(text)]
    return tuple(phrases), tuple(dict.fromkeys(excluded))


def _split_exclusions(part: str) -> tuple[str, list[str]]:
    """(what the part asks for, the texts of its exclusions): an exclusion runs to the end
    of the part, or to its closing parenthesis when it opened one."""
    wanted: list[str] = []
    unwanted: list[str] = []
    rest = part
    while (match := _EXCLUSION.search(rest)) is not None:
        wanted.append(rest[: match.start()])
        after = rest[match.end() :]
        if "(" in match.group(0) and ")" in after:
            inside, _, rest = after.partition(")")
            unwanted.append(inside)
        else:
            unwanted.append(after)
            rest = ""
    wanted.append(rest)
    return " ".join(w.strip() for w in wanted if w.strip()), unwanted


def read(
    interests: Sequence[Interest], exclude: Sequence[str]
) -> tuple[tuple[Interest, ...], tuple[str, ...]]:
    """A reader's interests and exclusions as the ranker looks for them: each interest
    understood, its exclusions after the reader's own."""
    phrases: list[Interest] = []
    excluded = list(exclude)
    for interest in interests:
        wanted, unwanted = understood(interest)
        phrases += wanted
        excluded += [term for term in unwanted if term not in excluded]
    return tuple(phrases), tuple(excluded)


def as_read(profile: Profile) -> Profile:
    """The profile as the ranker looks for it (see read); the very profile when every
    interest is a phrase already."""
    interests, exclude = read(profile.interests, profile.exclude)
    if interests == profile.interests and exclude == profile.exclude:
        return profile
    return dataclasses.replace(profile, interests=interests, exclude=exclude)
