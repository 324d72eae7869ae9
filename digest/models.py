"""Frozen records that flow between the pipeline stages."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as a dump lists it. `key` is its identity (see digest.identity)."""

    key: str
    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    author_count: int | None = None
    published: dt.date | None = None
    upvotes: int | None = None
    url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    # What Hugging Face's daily papers add: a preview image, a project page, a discussion size.
    thumbnail_url: str | None = None
    project_url: str | None = None
    comments: int | None = None
    # Hugging Face's `ai_keywords`: the paper's topics in a few words each ("video generation").
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A parsed dump: the papers in listing order, duplicates inside the dump removed."""

    source: str
    format: str
    content_hash: str
    papers: tuple[Paper, ...]


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """A paper as the store knows it: its row id plus when it was first seen."""

    id: int
    paper: Paper
    first_seen: dt.datetime
    upvotes: int | None = None


@dataclass(frozen=True, slots=True)
class UpvoteMove:
    """A paper seen again whose upvotes changed since the store last saw it."""

    paper_id: int
    paper: Paper
    upvotes_before: int | None
    upvotes_now: int | None

    @property
    def delta(self) -> int:
        return (self.upvotes_now or 0) - (self.upvotes_before or 0)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest changed: the papers never seen before, how many were seen again, and
    whose upvotes moved."""

    source: str
    format: str
    snapshot_id: int
    new: tuple[Paper, ...]
    seen_again: int
    duplicate_dump: bool = False
    moved: tuple[UpvoteMove, ...] = ()


class Frequency(enum.StrEnum):
    """How often a reader gets an edition: every day, or once a week on their weekday (the
    week's best unsent papers)."""

    DAILY = "daily"
    WEEKLY = "weekly"


class Delivery(enum.StrEnum):
    """Where a reader reads their editions: by email, or only in their private Atom feed."""

    EMAIL = "email"
    FEED = "feed"


# What a quiet-day email says first, in both parts (tools outside digest look for it).
QUIET_SENTENCE = "Nothing matched your interests today"


class Quiet(enum.StrEnum):
    """What a reader gets on a day whose new papers hold nothing for them: a short email that
    says so, then the day's most upvoted papers marked as not matched to them (`trending`);
    the same without the papers (`note`); or nothing (`skip`)."""

    TRENDING = "trending"
    NOTE = "note"
    SKIP = "skip"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Interest:
    """An interest phrase and how much it counts against the reader's others: the one shape
    it has from the settings file, a CSV row, the CLI and the web form to the ranker."""

    phrase: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Interest:
        """`phrase` or `phrase^weight` (as in search-engine boosts); ValueError names the
        problem."""
        phrase, caret, weight = text.rpartition("^")
        value = 1.0
        if not caret:
            phrase = text
        else:
            try:
                value = float(weight)
            except ValueError:
                value = -1.0
            if not 0 < value <= 100:
                raise ValueError(
                    f"interest {text!r}: the weight after ^ must be a number in (0, 100]"
                )
        phrase = " ".join(phrase.split())
        if not phrase:
            raise ValueError(f"interest {text!r} is empty")
        return cls(phrase, value)

    def __str__(self) -> str:
        """The text `parse` reads back."""
        return self.phrase if self.weight == 1 else f"{self.phrase}^{self.weight:g}"


def interests(*values: str | Interest) -> tuple[Interest, ...]:
    """Plain phrases (weight 1) and Interests, as Interests."""
    return tuple(v if isinstance(v, Interest) else Interest(v) for v in values)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A reader: where the digest goes and what they want in it."""

    email: str
    name: str = ""
    interests: tuple[Interest, ...] = ()
    exclude: tuple[str, ...] = ()
    max_items: int = 10
    authors: tuple[str, ...] = ()
    # Liked papers: arXiv ids or titles, resolved against the store when ranking.
    liked: tuple[str, ...] = ()
    min_score: float = 0.0
    # When the daemon sends this reader's edition: local time, IANA zone, Monday-Friday only.
    send_at: str = "07:30"
    timezone: str = "UTC"
    weekdays_only: bool = False
    frequency: Frequency = Frequency.DAILY
    # With a weekly frequency: the day it comes (one of WEEKDAYS).
    weekday: str = "mon"
    delivery: Delivery = Delivery.EMAIL
    quiet: Quiet = Quiet.TRENDING
    # Paused ("vacation"): no edition before this date; they resume on it by themselves.
    pause_until: dt.date | None = None

    def paused_on(self, day: dt.date) -> bool:
        """Whether the reader has paused their editions on `day` (their local date)."""
        return self.pause_until is not None and day < self.pause_until

    def due_on(self, day: dt.date) -> bool:
        """Whether this reader gets an edition on `day` (their local date): not while paused,
        and on their weekday when weekly."""
        if self.paused_on(day):
            return False
        return self.frequency is Frequency.DAILY or WEEKDAYS[day.weekday()] == self.weekday


class Basis(enum.StrEnum):
    """What brought a pick to a reader, strongest first: one of their interest phrases, their
    liked papers, their "more like this" answers, an author they follow, or (with none of
    those) being popular in the listing. The email groups picks by it."""

    INTEREST = "interest"
    LIKED = "liked"
    FEEDBACK = "feedback"
    AUTHOR = "author"
    POPULAR = "popular"
    # On a quiet day: among the day's most upvoted papers, not matched to the reader.
    UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class Pick:
    """A paper chosen for one subscriber, with its score and why it was chosen."""

    paper: Paper
    score: float
    reasons: tuple[str, ...] = ()
    paper_id: int | None = None
    # The sentence that earned the pick (from the abstract, or the title) and the (start, end)
    # character spans in it of the reader's words, to emphasise; empty when none applies.
    evidence: str = ""
    highlights: tuple[tuple[int, int], ...] = ()
    basis: Basis = Basis.POPULAR
    # With basis INTEREST: the reader's phrase that brought it (their strongest match).
    interest: str = ""
    # Upvotes gained since the store last saw the paper, and when the store first saw it.
    upvote_delta: int = 0
    first_seen: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordedPick:
    """A pick as the ledger keeps it, by the paper's store id: enough to render the edition
    again (the archive, a resumed send) exactly as it was planned."""

    paper_id: int
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    evidence: str = ""
    highlights: tuple[tuple[int, int], ...] = ()
    basis: Basis = Basis.POPULAR
    interest: str = ""
    upvote_delta: int = 0


@dataclass(frozen=True, slots=True)
class Edition:
    """One subscriber's digest for one edition date."""

    edition_id: str
    date: dt.date
    subscriber: Subscriber
    picks: tuple[Pick, ...]

    @property
    def quiet(self) -> bool:
        """Nothing matched the reader: the edition says so (QUIET_SENTENCE), with the day's
        most upvoted papers marked as not matched to them, or nothing else."""
        return all(pick.basis is Basis.UNMATCHED for pick in self.picks)


@dataclass(frozen=True, slots=True)
class Email:
    """A rendered digest, ready to be turned into a MIME message."""

    subject: str
    preheader: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    # `html` as the pieces it was joined from (cards, the template's text, an edition's shared
    # rendering, the reader's values): the mail code encodes a long piece once for every
    # message that holds it. None: encode `html` whole.
    html_pieces: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # `text` likewise (its cards are long pieces too).
    text_pieces: tuple[str, ...] | None = field(default=None, compare=False, repr=False)


class DeliveryState(enum.StrEnum):
    """Where one reader's copy of one edition is. pending → sending → sent; or failed (with the
    reason), deferred (a temporary failure, tried again later), suppressed (the address refused
    mail for good, or unsubscribed) or empty (nothing new, not sent)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    EMPTY = "empty"
    # A feed-only reader's edition: in their Atom feed and archive, never mailed.
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class Deferral:
    """A temporary failure to record: try `email` again at `retry_at`. `failing_since` is the
    first failure (the retry window counts from it); `ambiguous` says the relay may already
    have the message (no answer after its data was sent)."""

    email: str
    error: str
    retry_at: dt.datetime
    failing_since: dt.datetime
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class Weights:
    """How the signals blend into one score; relevance and liked papers are in units of their
    calibrated bar. The defaults of `[ranking]` (settings.RankingSettings) are these."""

    relevance: float = 1.0
    # The reader's feedback ("more like this" / "less like this"), in units of its bar.
    feedback: float = 1.0
    # Per-phrase models learned from the store (in standard deviations); they reorder papers
    # that cleared a bar and never make one eligible. 0 turns them off.
    learned: float = 0.4
    # Semantic similarity of phrase and paper (only with `digest[embeddings]`), in standard
    # deviations over the day's papers; reorders, never admits a paper.
    semantic: float = 0.5
    seed: float = 1.0
    authors: float = 0.5
    popularity: float = 0.05
    trending: float = 0.05
    freshness: float = 0.05
    # MMR trade-off: 0 = pure relevance order, 1 = as diverse as possible.
    diversity: float = 0.3
    # Freshness halves every this many days.
    freshness_half_life_days: float = 7.0


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """A paper from a reader's own library (a BibTeX, RIS or CSL-JSON export): a liked paper
    with its own title and abstract, whether or not the store holds it. `key` is its identity
    (digest.identity): the stored paper's key once matched."""

    key: str
    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    doi: str | None = None
    authors: tuple[str, ...] = ()
    year: int | None = None

    def as_paper(self) -> Paper:
        return Paper(
            key=self.key,
            title=self.title,
            abstract=self.abstract,
            arxiv_id=self.arxiv_id,
            authors=self.authors,
        )
