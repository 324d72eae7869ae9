"""Item 3a: abbreviations learned from the store's abstracts, Schwartz & Hearst (2003) style.

Extraction, per sentence of an abstract (a well-defined rule, no hand list):
1. a short-form candidate is the text inside " ( ... )" up to the first ")", ";" or ",": one
   token of 2-10 characters, starting with a letter or digit, holding a capital letter and at
   least as many letters as digits ("MLLMs", "LoRA", "3DGS"; not "i.e", "2024", "a");
   a trailing "s" after a capital is a plural ("MLLMs" -> "MLLM");
2. the long-form window is the min(|SF| + 5, 2|SF|) words before the parenthesis;
3. Schwartz-Hearst's best long form: the short form's letters and digits matched right to left
   inside the window, its first character at the start of a word; the shortest such suffix;
4. kept if the long form has at least 2 words, does not contain the short form as a word, and
   every word of it is at most 30 characters.
Long forms are keyed lower-case, hyphens as spaces, each word's plural "s" dropped ("models" ->
"model"): `key()`.

    python -m research.abbrev  # counts, a random sample to check by eye, ambiguity
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from digest.abbreviations import best_long_form, singular_short  # the shipped rule

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_CANDIDATE = re.compile(r"\s\(([^()]{1,40}?)[)\];,]")
_WORD = re.compile(r"[^\s]+")


@dataclass(frozen=True)
class Pair:
    short: str  # singular, as written ("MLLM")
    long: str  # as written in the text ("Multimodal Large Language Models")
    sentence: str

    @property
    def long_key(self) -> str:
        return key(self.long)


def key(text: str) -> str:
    """A long form (or any phrase) as compared: lower-case, hyphens as spaces, each word's
    plural s dropped."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(singular(w) for w in words)


def singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


_SHORT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]*$")


def short_ok(sf: str) -> bool:
    if not 2 <= len(sf) <= 10 or not _SHORT.match(sf):
        return False
    letters = sum(c.isalpha() for c in sf)
    digits = sum(c.isdigit() for c in sf)
    return any(c.isupper() for c in sf) and letters >= max(digits, 1) and letters >= 2


def pairs_in(text: str) -> Iterable[Pair]:
    text = re.sub(r"\(s\)", "s", " ".join(text.split()))  # "Model(s)"
    for sentence in _SENTENCE.split(text):
        for m in _CANDIDATE.finditer(sentence):
            raw = m.group(1).strip()
            if not short_ok(raw):
                continue
            sf = singular_short(raw)
            before = _WORD.findall(sentence[: m.start()])
            window = before[-min(len(sf) + 5, 2 * len(sf)) :]
            if not window:
                continue
            lf = best_long_form(sf, " ".join(window))
            if lf is None:
                continue
            lf = lf.strip(" ,;:\"'")
            words = lf.split()
            if (
                len(key(lf).split()) < 2
                or sf.lower() in (w.lower().strip(",.") for w in words)
                or any(len(w) > 30 for w in words)
            ):
                continue
            yield Pair(sf, lf, sentence)


def compact(text: str) -> str:
    """A long form as grouped: `key` without spaces ("multi-modal" = "multimodal")."""
    return key(text).replace(" ", "")


@dataclass
class Dictionary:
    """short form -> Counter of compact long forms; compact long form -> Counter of short
    forms; compact long form -> its most common spelling (lower-case, as a phrase)."""

    long_of: dict[str, Counter[str]]
    short_of: dict[str, Counter[str]]
    text_of: dict[str, str]
    pairs: list[Pair]

    def expansions(self, short: str, dominance: float = 0.6, support: int = 2) -> list[str]:
        """The long forms (as phrases) a short form stands for across the store: those that
        are at least `dominance` of its definitions and were seen at least `support` times."""
        c = self.long_of.get(short)
        if not c:
            return []
        total = sum(c.values())
        return [
            self.text_of[lf] for lf, n in c.most_common() if n >= support and n / total >= dominance
        ]

    def abbreviations(self, long_form: str, dominance: float = 0.6, support: int = 2) -> list[str]:
        """The short forms that stand for this long form: seen for it at least `support`
        times, and it is their dominant long form (else "DP" for every "dynamic programming"
        reader would also find "differential privacy" papers)."""
        k = compact(long_form)
        c = self.short_of.get(k)
        if not c:
            return []
        return [
            sf
            for sf, n in c.most_common()
            if n >= support and k in {compact(x) for x in self.expansions(sf, dominance, support)}
        ]


def _expanded(long_form: str, first: dict[str, Counter[str]]) -> str:
    """A long form with any short form inside it spelled out by its dominant long form
    ("Multimodal LLMs" -> "multimodal large language model")."""
    out = []
    for word in long_form.split():
        sf = singular_short(word.strip(",.;:"))
        c = first.get(sf)
        if c and short_ok(sf):
            top, n = c.most_common(1)[0]
            if n >= 5 and n / sum(c.values()) >= 0.9:
                out.append(top)
                continue
        out.append(word)
    return " ".join(out)


def learn(texts: Iterable[str]) -> Dictionary:
    """Two passes: count what each short form is defined as; then count again with short
    forms inside long forms spelled out, long forms grouped by `compact`."""
    pairs = [p for text in texts for p in pairs_in(text)]
    first: dict[str, Counter[str]] = defaultdict(Counter)
    for p in pairs:
        first[p.short][key(p.long)] += 1
    long_of: dict[str, Counter[str]] = defaultdict(Counter)
    short_of: dict[str, Counter[str]] = defaultdict(Counter)
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for p in pairs:
        spelled = _expanded(p.long, first)
        k = compact(spelled)
        long_of[p.short][k] += 1
        short_of[k][p.short] += 1
        spellings[k][" ".join(spelled.lower().split())] += 1
    text_of = {k: c.most_common(1)[0][0] for k, c in spellings.items()}
    return Dictionary(dict(long_of), dict(short_of), text_of, pairs)


@functools.cache
def store_dictionary() -> Dictionary:
    """Learned from every abstract of the corpora and panels (the store, days included)."""
    from research import data

    docs = {}
    for name in ("panel", "panel2"):
        p = data.panel(name)
        docs.update(p.docs)
    for day in data.arxiv_days():
        docs.update({d.id: d for d in day.new})
    return learn(d.abstract for d in docs.values())


def main() -> None:
    d = store_dictionary()
    n_abstracts = len({p.sentence for p in d.pairs})
    distinct = {(p.short, compact(p.long)) for p in d.pairs}
    ambiguous = [s for s, c in d.long_of.items() if len(c) > 1]
    usable = [s for s in d.long_of if d.expansions(s)]
    print(
        f"pair occurrences {len(d.pairs)} (in {n_abstracts} sentences); distinct pairs "
        f"{len(distinct)}; distinct short forms {len(d.long_of)}; short forms with more than "
        f"one long form {len(ambiguous)}; short forms with a dominant long form seen >= 2 "
        f"times (used for matching) {len(usable)}"
    )
    for s in (
        "LLM",
        "MLLM",
        "VLM",
        "RAG",
        "SAE",
        "RLHF",
        "DP",
        "LoRA",
        "VLA",
        "GRPO",
        "MoE",
        "CoT",
        "3DGS",
        "NVS",
        "PEFT",
        "DPO",
        "SFT",
        "RL",
        "TTS",
        "ASR",
        "GUI",
        "MCP",
    ):
        c = d.long_of.get(s, Counter())
        print(f"  {s}: {sum(c.values())} definitions; {c.most_common(3)} -> uses {d.expansions(s)}")
    rng = random.Random(31)
    sample = rng.sample(d.pairs, 60)
    print("\nrandom sample of 60 extracted pairs (short | long | sentence start):")
    for i, p in enumerate(sample):
        print(f"{i:2d}. {p.short:10} | {p.long:55} | {p.sentence[:90]}")


if __name__ == "__main__":
    main()
