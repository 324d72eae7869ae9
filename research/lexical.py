"""Item 3: the lexical fixes, measured as an admission signal ("one of the reader's phrases
stands in the paper") on both panels and on arXiv days.

Matchers, each a superset of the one before it unless said otherwise:
- exact: digest.rank.phrases.occurs (the phrase's words together and in order; plural and verb
  endings allowed, as digest does today);
- +abbrev: the phrase's variants through the store's abbreviations (research.abbrev): a word
  that is a short form -> its long form ("multimodal LLMs" -> "multimodal large language
  models"), a whole variant that is a long form -> its short form ("... -> MLLM"); a short form
  is matched case-sensitively as a word (plural s allowed). A short form counts when the store
  agrees on it (the dominant long form, >= DOMINANCE of >= SUPPORT definitions), or when the
  paper itself defines it so;
- near: the phrase's content words (stop words out), in any order, within a window of
  (their number + 2) content words of one sentence; words compared by their singular ("plural")
  or by their Snowball stem ("stem");
- near+abbrev: both.

    .venv/bin/python -m research.lexical > research/results/lexical.txt
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence

sys.path.insert(0, "/work/wt-i31-research")

from digest.rank.phrases import occurs
from digest.rank.text import stop_words
from research import abbrev, data

DOMINANCE = 0.9
SUPPORT = 5
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_TOK = re.compile(r"[A-Za-z0-9]+")


@functools.cache
def _stem(w: str) -> str:
    import Stemmer

    return str(Stemmer.Stemmer("english").stemWord(w))


def norm_word(w: str, how: str) -> str:
    w = w.lower()
    return _stem(w) if how == "stem" else abbrev.singular(w)


def content(text: str, how: str) -> list[str]:
    stop = stop_words()
    return [norm_word(w, how) for w in _TOK.findall(text) if w.lower() not in stop]


def near(phrase: str, text: str, how: str = "plural", slack: int = 2) -> bool:
    want = set(content(phrase, how))
    if not want:
        return False
    width = len(want) + slack
    for sentence in [*_SENT.split(text)]:
        words = content(sentence, how)
        if not want <= set(words):
            continue
        if len(want) == 1:
            return True
        for i, w in enumerate(words):
            if w in want and want <= set(words[i : i + width]):
                return True
    return False


@functools.cache
def dictionary() -> abbrev.Dictionary:
    return abbrev.store_dictionary()


def _own_definitions(text: str) -> dict[str, str]:
    return {p.short: abbrev.compact(p.long) for p in abbrev.pairs_in(text)}


@functools.cache
def variants(phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(long-form variants to match as phrases, short forms to match as words)."""
    d = dictionary()
    words = phrase.split()
    longs = {phrase}
    for i, w in enumerate(words):
        sf = abbrev.singular_short(w.strip(",."))
        plural = sf != w.strip(",.")
        for lf in d.expansions(sf, DOMINANCE, SUPPORT) if abbrev.short_ok(sf) else []:
            # the long form in the number the phrase gives the short form ("LLM agents" ->
            # "large language model agents"; "LLMs" -> "large language models")
            *head, last = lf.split()
            last = last + "s" if plural and not last.endswith("s") else (
                last if plural else abbrev.singular(last))
            longs.add(" ".join([*words[:i], *head, last, *words[i + 1 :]]))
    shorts = set()
    whole = abbrev.singular_short(phrase.strip())
    if abbrev.short_ok(whole) and " " not in whole:
        shorts.add(whole)
    for lf in list(longs):
        for sf in d.abbreviations(lf, DOMINANCE, SUPPORT):
            shorts.add(sf)
    # The short forms the store has for a long form but does not agree on are still usable
    # in a paper that defines them itself: kept apart.
    return tuple(sorted(longs)), tuple(sorted(shorts))


def _short_in(sf: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(sf)}s?(?![A-Za-z0-9])", text) is not None


def abbrev_match(phrase: str, text: str, base: Callable[[str, str], bool]) -> bool:
    longs, shorts = variants(phrase)
    if any(base(v, text) for v in longs):
        return True
    if any(_short_in(sf, text) for sf in shorts):
        return True
    # the paper's own definitions: a short form it defines as one of the phrase's long forms
    own = _own_definitions(text)
    keys = {abbrev.compact(v) for v in longs}
    return any(k in keys and _short_in(sf, text) for sf, k in own.items())


MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "exact (digest today)": occurs,
    "exact + abbrev": lambda p, t: abbrev_match(p, t, occurs),
    "near, plural": lambda p, t: near(p, t, "plural"),
    "near, stem": lambda p, t: near(p, t, "stem"),
    "near, plural + abbrev": lambda p, t: abbrev_match(p, t, lambda a, b: near(a, b, "plural")),
    "exact or near(plural) + abbrev": lambda p, t: abbrev_match(
        p, t, lambda a, b: occurs(a, b) or near(a, b, "plural")
    ),
}


EXAMPLES = (
    ("LLM agents", "MemoCue: Memory Cues for LLM-Based Agents"),
    ("memory for LLM agents", "We study LLM agent memory at scale."),
    ("multimodal LLMs", "Multimodal Large Language Models (MLLMs) excel at VQA."),
    ("multimodal LLMs", "We evaluate MLLMs on charts."),
    ("retrieval-augmented generation", "A RAG pipeline for legal search."),
    ("tool use", "DP is a fundamental tool used across many engineering fields."),
    ("sparse autoencoders", "We train SAEs on residual streams."),
    ("3D reconstruction", "reconstruction of 3D scenes from video"),
)


def panel_row(panel: str, match: Callable[[str, str], bool]) -> str:
    p = data.panel(panel)
    hit2 = all2 = shown = good = 0
    per_reader = []
    for name, r in p.readers.items():
        if not r.interests:
            continue
        h2 = a2 = 0
        for day, docs in p.days:
            for d in docs:
                g = p.grade(day, d.id, name)
                m = any(match(ph, d.text) for ph in r.interests)
                a2 += g == 2
                h2 += m and g == 2
                shown += m
                good += m and g >= 1
        hit2 += h2
        all2 += a2
        per_reader.append(f"{name}:{h2}/{a2}")
    return (f"grade-2 recall {hit2 / max(all2, 1):.2f} ({hit2}/{all2}); precision (grade>=1) "
            f"{good / max(shown, 1):.2f} ({good}/{shown})  [{' '.join(per_reader)}]")


def arxiv_row(match: Callable[[str, str], bool], topics: dict[str, Sequence[str]]) -> str:
    days = [d for d in data.arxiv_days()[5:] if d.new][::3]
    tp = fp = fn = 0
    for d in days:
        for doc in d.new:
            for t, phrases in topics.items():
                rel = t in d.categories[doc.id]
                m = any(match(ph, doc.text) for ph in phrases)
                tp += m and rel
                fp += m and not rel
                fn += rel and not m
    recall, precision = tp / max(tp + fn, 1), tp / max(tp + fp, 1)
    return f"recall {recall:.3f}; precision {precision:.3f} ({tp + fp} matched)"


def main() -> None:
    from digest.evaluate import KEYWORD_TOPICS

    print(f"abbreviations: a short form is used when >= {DOMINANCE:.0%} of >= {SUPPORT} "
          "definitions in the store agree, or the paper defines it itself")
    for panel in ("panel", "panel2"):
        print(f"## {panel}: readers' phrases standing in a paper (every labelled paper)")
        for name, m in MATCHERS.items():
            print(f"  {name:32} {panel_row(panel, m)}", flush=True)
    print("## arXiv KEYWORD_TOPICS, every 3rd day from the 6th: match vs category")
    for name, m in MATCHERS.items():
        print(f"  {name:32} {arxiv_row(m, KEYWORD_TOPICS)}", flush=True)
    print("## the issue's examples (phrase | text): exact / +abbrev / near / both")
    for ph, text in EXAMPLES:
        row = [MATCHERS[m](ph, text) for m in ("exact (digest today)", "exact + abbrev",
                                               "near, plural", "exact or near(plural) + abbrev")]
        print(f"  {ph!r} | {text!r}: {' / '.join(str(x) for x in row)}")
    print("## variants of some phrases")
    for ph in ("multimodal LLMs", "vision-language models", "RAG", "retrieval-augmented generation",
               "sparse autoencoders", "LLM agents", "3D gaussian splatting", "RLHF",
               "parameter-efficient fine-tuning", "LoRA", "differential privacy", "tool use"):
        print(f"  {ph!r}: {variants(ph)}")


if __name__ == "__main__":
    main()
