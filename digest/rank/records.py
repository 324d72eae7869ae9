"""Records of the rank stage: what a reader wants (Profile) and what a paper to rank carries
(Candidate). Frozen values, no behaviour beyond their own invariants: every other module of
the package builds on these, none of them on a later stage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from digest.models import Interest, Paper

# The taps a reader's taste keeps, for each of "more" and "less": the latest ones.
MAX_FEEDBACK_EXAMPLES = 100


@dataclass(frozen=True, slots=True)
class Profile:
    """What one reader wants."""

    interests: tuple[Interest, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 10
    authors: tuple[str, ...] = ()
    liked: tuple[Paper, ...] = ()
    # One-tap feedback: papers the reader asked for more of, and less of.
    more: tuple[Paper, ...] = ()
    less: tuple[Paper, ...] = ()
    min_score: float = 0.0
    # Store ids of papers this reader must not get again (already sent).
    skip_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # A reader's taste is their latest taps: older ones beyond the cap are let go, so that
        # 10,000 votes cost what MAX_FEEDBACK_EXAMPLES do (oldest first, as the store gives).
        for name in ("more", "less"):
            papers = getattr(self, name)
            if len(papers) > MAX_FEEDBACK_EXAMPLES:
                object.__setattr__(self, name, papers[-MAX_FEEDBACK_EXAMPLES:])


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper to rank, with what the store knows about it beyond the paper itself."""

    paper: Paper
    paper_id: int | None = None
    upvote_delta: int = 0
    first_seen: dt.datetime | None = None


def index(items: Sequence[str]) -> dict[str, int]:
    """Distinct items in first-seen order → column number."""
    columns: dict[str, int] = {}
    for item in items:
        columns.setdefault(item, len(columns))
    return columns
