"""Topics to suggest to a new reader: the phrases the recent papers share (two or three words
that stand together in many of them: "reinforcement learning", "video generation"), each
with how many of those papers it would have brought, counted the way the ranker matches a
phrase (digest.rank.phrases)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence

from digest.models import Paper
from digest.rank.phrases import occurs
from digest.rank.text import stop_words

_RUN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:[ ][a-z][a-z0-9]*(?:-[a-z0-9]+)*)*")
# Words of how papers are written, not of what they are about.
_BOILERPLATE_WORDS = (
    "propose proposed results result experiments experimental extensive paper approach method"
    " methods performance state art existing novel based show shows demonstrate significantly"
    " outperforms outperform task tasks work framework new using use code available github"
    " https com introduce present presents study challenge challenges problem improve improves"
    " improved effective efficient achieve achieves address recent recently various including"
    " key wide range strong simple comprehensive previous first datasets dataset benchmark"
    " benchmarks evaluation via towards toward beyond improving report parameters baseline"
)
_BOILERPLATE = frozenset(_BOILERPLATE_WORDS.split())


def _grams(text: str) -> set[str]:
    """The 2- and 3-word runs of a text that neither start nor end on a stop word and hold
    no word of how papers are written."""
    stop = _stop()
    found = set()
    for run in _RUN.findall(text.lower()):
        words = run.split()
        for size in (2, 3, 4):
            for start in range(len(words) - size + 1):
                gram = words[start : start + size]
                if any(w in stop or w in _BOILERPLATE for w in gram):
                    continue
                if min(len(w) for w in (gram[0], gram[-1])) < 3:
                    continue
                found.add(" ".join(gram))
    return found


@functools.cache
def _stop() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | stop_words()


def suggested_topics(
    papers: Sequence[Paper], limit: int = 16, keywords: Sequence[Sequence[str]] = ()
) -> list[tuple[str, int]]:
    """Up to `limit` phrases that at least two papers share, the most papers first, none
    inside another chosen one; each with how many papers it matches (title or abstract, as
    the ranker matches). The phrases come from the titles, and from the listings' keywords
    (Hugging Face's `ai_keywords`, one list per paper) that two papers' lists share."""
    matched = _phrase_counts(papers, keywords)
    # A phrase that is nearly always part of a longer one gives way to it ("large language"
    # to "large language models").
    wider = {
        gram
        for gram in matched
        if any(
            gram != other and f" {gram} " in f" {other} " and matched[other] >= 0.8 * matched[gram]
            for other in matched
        )
    }
    order = sorted(matched, key=lambda g: (-matched[g], -len(g.split()), g))
    chosen: list[tuple[str, int]] = []
    for gram in order:
        if len(chosen) >= limit or matched[gram] < 2:
            break
        if gram not in wider and not any(gram in c or c in gram for c, _ in chosen):
            chosen.append((gram, matched[gram]))
    return chosen


def _phrase_counts(papers: Sequence[Paper], keywords: Sequence[Sequence[str]]) -> dict[str, int]:
    """Each phrase the titles (and two papers' keyword lists) hold, in one spelling, with how
    many papers it matches."""
    texts = [f"{p.title}. {p.abstract}" for p in papers]
    in_titles = Counter(gram for p in papers for gram in _grams(p.title))
    tagged = Counter(k for words in keywords for k in {_keyword(w) for w in words} if k)
    in_titles.update({k: n for k, n in tagged.items() if n >= 2})
    # One spelling per phrase (language model, language models): the titles' most common.
    spelled: dict[str, str] = {}
    for gram, _ in in_titles.most_common():
        spelled.setdefault(_singular(gram), gram)
    return {gram: sum(1 for text in texts if occurs(gram, text)) for gram in spelled.values()}


def _keyword(word: str) -> str:
    """A listing's keyword as a phrase to suggest: 2 to 4 plain words, lower case, none of
    how papers are written ("Retrieval-Augmented Generation (RAG)" is not one: no brackets)."""
    text = word.strip().lower()
    if not _RUN.fullmatch(text):
        return ""
    words = text.split()
    stop = _stop()
    if not 2 <= len(words) <= 4 or words[0] in stop or words[-1] in stop:
        return ""
    return "" if any(w in _BOILERPLATE for w in words) else text


def _singular(gram: str) -> str:
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in gram.split())
