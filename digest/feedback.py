"""One-tap feedback: "more like this" / "less like this" on a paper, for one reader.

The email's links carry a signed token per reader, paper and verdict; the web app records it on
a POST from a one-button page (a link scanner's GET changes nothing). The command line records
the same for scripts and imports. The ranker reads it as the reader's taste (digest.rank).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.errors import BadToken, SubscriberError
from digest.identity import parse_arxiv_id
from digest.store import Store
from digest.tokens import make_token, read_token

VERDICTS = ("more", "less")
FEEDBACK_PURPOSE = "feedback"


@dataclass(frozen=True, slots=True)
class Vote:
    """What one feedback link says: this reader wants more (or less) like this paper."""

    email: str
    paper_id: int
    verdict: str


def vote_token(secret: str, vote: Vote, prefix: str = "") -> str:
    """The signed token of a feedback link (per reader, paper and verdict); `prefix` signs it
    for another purpose (a preview's links work for nobody)."""
    payload = f"{vote.email}\n{vote.paper_id}\n{vote.verdict}"
    return make_token(secret, payload, prefix + FEEDBACK_PURPOSE)


def read_vote(secret: str, token: str, *, old_form: bool = True) -> Vote:
    """The vote a token was made for, or BadToken (an old-form token only while `old_form`)."""
    payload = read_token(secret, token, FEEDBACK_PURPOSE, old_form=old_form)
    email, _, rest = payload.partition("\n")
    paper, _, verdict = rest.partition("\n")
    if paper_id_of(paper) is None or verdict not in VERDICTS:
        raise BadToken("the link is invalid; use the link from your email")
    return Vote(email, int(paper), verdict)


# A stored paper's id: a positive whole number that fits the store's 64-bit integers.
_PAPER_ID = re.compile(r"[0-9]{1,18}")


def paper_id_of(text: str) -> int | None:
    """`text` as a stored paper's id, or None: ASCII digits only (`'²'.isdigit()` is true in
    Python), and small enough for the store (never an integer SQL cannot hold)."""
    text = text.strip()
    return int(text) if _PAPER_ID.fullmatch(text) else None


def resolve(store: Store, references: Iterable[str]) -> list[int]:
    """Stored paper ids for arXiv ids, arXiv URLs or stored ids; SubscriberError naming every
    one that is not in the store (nothing is recorded then)."""
    found: list[int] = []
    missing: list[str] = []
    for reference in references:
        text = reference.strip()
        paper_id = paper_id_of(text)
        if paper_id is not None and store.catalog.papers_by_id([paper_id]):
            found.append(paper_id)
            continue
        papers, _ = store.catalog.find_papers([text]) if parse_arxiv_id(text) else ([], [])
        if papers:
            found.append(papers[0].id)
        else:
            missing.append(text)
    if missing:
        raise SubscriberError(
            f"no stored paper {', '.join(repr(m[:40]) for m in missing[:5])}; give arXiv ids"
            " (2501.01234) or"
            " the ids of stored papers; nothing was recorded"
        )
    return found


def record(
    store: Store, email: str, paper_ids: Sequence[int], verdict: str | None, now: dt.datetime
) -> None:
    """Record `verdict` ("more" or "less") on these papers, or forget it (None)."""
    if verdict is None:
        store.readers.forget_feedback(email, paper_ids)
    else:
        store.readers.record_feedback(email, paper_ids, verdict, now)
