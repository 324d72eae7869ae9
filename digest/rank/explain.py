"""Explanation: for each pick, the reasons a reader is told ("matches: X" only where the phrase
stands in the paper; "similar to papers you liked: T"; "like a paper you asked more of: T";
"by A"; else "related to X" or popularity) and the sentence that shows it, its matched words
in bold. Cached per run: readers with the same interests share the work."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digest.identity import normalise_title
from digest.models import Basis, Paper, Pick
from digest.rank.corpus import Corpus
from digest.rank.eligibility import Admission
from digest.rank.records import Profile
from digest.rank.signals import Signals
from digest.rank.text import Evidence, document, evidence, lemmas, sentences

# A paper this near one of a reader's phrases is "related to" it (an unthresholded ranking).
RELATED = 0.5


class Explainer:
    """The reasons and evidence of one ranking call's picks."""

    def __init__(
        self,
        corpus: Corpus,
        profiles: Sequence[Profile],
        signals: Signals,
        admission: Admission,
    ) -> None:
        self.corpus, self.profiles = corpus, profiles
        self.interests, self.phrases = signals.interests, signals.phrases
        self.confidence, self.honest = signals.confidence, signals.honest
        self.nearest, self.taste_nearest = signals.nearest, signals.taste_nearest
        self.followed = signals.followed
        self.liked_match, self.taste_close = admission.liked_match, admission.taste_close
        self._sentences: dict[int, list[tuple[str, frozenset[str]]]] = {}
        self._evidence_cache: dict[tuple[int, frozenset[str]], Evidence | None] = {}
        self._example_words: dict[str, frozenset[str]] = {}
        self._honest_rows: list[frozenset[int]] | None = None
        self._confidence_rows: list[list[float]] = []
        self._phrase_evidence_cache: dict[tuple[int, tuple[str, ...]], Evidence | None] = {}
        self._shared_cache: dict[tuple[str, int], frozenset[str]] = {}
        self._own: dict[int, list[tuple[int, float, int, str]]] = {}

    def _own_phrases(self, s: int) -> list[tuple[int, float, int, str]]:
        """The reader's distinct phrases as (column, weight, position, phrase); a phrase
        listed twice counts with its larger weight, at its first position."""
        mine: dict[str, tuple[int, float, int, str]] = {}
        for n, interest in enumerate(self.interests[s]):
            phrase = interest.phrase
            if phrase in mine:
                j, weight, first, _ = mine[phrase]
                mine[phrase] = (j, max(weight, interest.weight), first, phrase)
            else:
                mine[phrase] = (self.phrases[phrase], interest.weight, n, phrase)
        return list(mine.values())

    def _matched(self, s: int, col: int) -> tuple[str, ...]:
        """The reader's phrases this paper honestly matches, strongest first. Read from plain
        Python rows made once per run: numpy indexing per pick would cost more than the pick."""
        if self._honest_rows is None:
            self._honest_rows = [frozenset(np.flatnonzero(row).tolist()) for row in self.honest]
            self._confidence_rows = self.confidence.tolist()
        mine = self._own.get(s)
        if mine is None:
            mine = self._own[s] = self._own_phrases(s)
        honest, confidence = self._honest_rows[col], self._confidence_rows[col]
        found = sorted(
            (-confidence[j] * weight, n, phrase) for j, weight, n, phrase in mine if j in honest
        )
        return tuple(phrase for _, _, phrase in found)

    def _phrase_evidence(self, col: int, matched: tuple[str, ...]) -> Evidence | None:
        """Cached per (paper, phrases): readers with the same interests share the sentence."""
        key = (col, matched)
        if key not in self._phrase_evidence_cache:
            if col not in self._sentences:
                self._sentences[col] = sentences(self.corpus.items[col])
            texts = [sentence for sentence, _ in self._sentences[col]]
            self._phrase_evidence_cache[key] = self.corpus.matcher.evidence(texts, list(matched))
        return self._phrase_evidence_cache[key]

    def _shared_words(self, example: Paper, col: int) -> frozenset[str]:
        """The rarest words a candidate shares with a paper the reader liked or asked more of:
        what its evidence sentence should show. Cached per (paper, candidate)."""
        key = (example.key, col)
        if key not in self._shared_cache:
            if example.key not in self._example_words:
                self._example_words[example.key] = frozenset(lemmas(document(example)))
            shared = self.corpus.texts.words[col] & self._example_words[example.key]
            ranked = sorted(shared, key=lambda w: (-self.corpus.rarity(w), w))
            self._shared_cache[key] = frozenset(ranked[:6])
        return self._shared_cache[key]

    def _evidence(self, col: int, wanted: frozenset[str]) -> Evidence | None:
        """Cached per (paper, words): readers with the same interests share the sentence."""
        key = (col, wanted)
        if key not in self._evidence_cache:
            if col not in self._sentences:
                self._sentences[col] = sentences(self.corpus.items[col])
            self._evidence_cache[key] = evidence(self._sentences[col], wanted, self.corpus.rarity)
        return self._evidence_cache[key]

    def pick(self, s: int, col: int, score: float) -> Pick:
        candidate = self.corpus.candidates[col]
        paper = candidate.paper
        matched = self._matched(s, col)
        reasons, bases, wanted = self._personal(s, col, matched)
        if not reasons:
            reasons = self._impersonal(s, col)
        # The sentence that shows it: the matched phrases' own words marked, else the words a
        # similar paper shares with it.
        found = self._phrase_evidence(col, matched) if matched else self._evidence(col, wanted)
        return Pick(
            paper=paper,
            score=round(score, 4),
            reasons=tuple(reasons),
            paper_id=candidate.paper_id,
            evidence=found.sentence if found else "",
            highlights=found.highlights if found else (),
            basis=bases[0] if bases else Basis.POPULAR,
            interest=matched[0] if matched else "",
            upvote_delta=candidate.upvote_delta,
            first_seen=candidate.first_seen,
        )

    def _personal(
        self, s: int, col: int, matched: tuple[str, ...]
    ) -> tuple[list[str], list[Basis], frozenset[str]]:
        """The reader's own reasons for a pick, what each rests on, and the words its
        evidence sentence should show when no phrase matched (those a similar paper shares)."""
        profile, paper = self.profiles[s], self.corpus.items[col]
        reasons: list[str] = []
        bases: list[Basis] = []
        wanted: frozenset[str] = frozenset()
        if matched:
            written = self.corpus.texts.written
            told = [
                f'{phrase} (as "{written[col, phrase]}")' if (col, phrase) in written else phrase
                for phrase in matched
            ]
            reasons.append(f"matches: {', '.join(told)}")
            bases.append(Basis.INTEREST)
        # The numpy lookups only for readers who have the signal at all.
        if profile.liked and self.liked_match[s, col]:
            liked = profile.liked[self.nearest[s, col]]
            reasons.append(f"similar to papers you liked: {liked.title}")
            bases.append(Basis.LIKED)
            wanted = self._shared_words(liked, col)
        if profile.more and self.taste_close[s, col]:
            asked = profile.more[self.taste_nearest[s, col]]
            reasons.append(f"like a paper you asked more of: {asked.title}")
            bases.append(Basis.FEEDBACK)
            if not wanted:
                wanted = self._shared_words(asked, col)
        if profile.authors and self.followed[s, col]:
            followed = {normalise_title(a) for a in profile.authors}
            names = [a for a in paper.authors if normalise_title(a) in followed]
            reasons.append(f"by {', '.join(names)}")
            bases.append(Basis.AUTHOR)
        return reasons, bases, wanted

    def _impersonal(self, s: int, col: int) -> list[str]:
        """A pick nothing of the reader's admitted (an unthresholded ranking, or a reader with
        nothing to go on): near one of their phrases, else popularity (the card shows counts)."""
        related = [
            i.phrase
            for i in self.interests[s]
            if self.confidence[col, self.phrases[i.phrase]] >= RELATED
        ]
        if related:
            return [f"related to {', '.join(dict.fromkeys(related))}"]
        paper = self.corpus.items[col]
        return ["trending in this listing" if paper.upvotes else "new in this listing"]
