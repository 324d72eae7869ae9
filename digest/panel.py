"""`digest eval --panel DIR`: a reader panel's figures, taken on what the emails show.

A panel folder holds `readers.json` (each reader's interest phrases, and in words what they
want) and `labels.json` (`{day: {arXiv id: {reader: grade}}}`, 2 on topic, 1 borderline, 0
off), graded blind for every paper of some Hugging Face days. The days are replayed through the
real send path: the 10 corpus days before the first labelled one are ingested at their dates
and never mailed; then each labelled day is ingested at 06:00 and sent at 09:00 (one store,
`window_days = 1`, the file transport); every reader's email is read back: the papers it shows,
in order (the HTML's cards, then "Also new"), and every `matches: X` claim. A quiet-day email
shows nothing. Beside it, in the same run, plain BM25 over the same day with the reader's
phrases as one query.

Figures (macro over readers, then days), as the panel's own judge defines them:
- F1 of what is shown against the papers graded 1 or 2 (a day with nothing for the reader
  scores 1 when nothing is shown, 0 otherwise), against BM25's best cut-off in hindsight (a
  fixed top k, k = 1..10, or a score threshold);
- precision of shown; grade-2 recall; nDCG@10 of the shown list beside BM25's top 10;
- dishonest claims (a `matches: X` whose words do not stand together in the title or
  abstract), padded silent days, empty emails on a day with a grade-2 paper, liked papers
  shown back.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import itertools
import json
import math
import re
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from digest.deliver import FileTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.errors import DigestError
from digest.models import QUIET_SENTENCE, Paper, Subscriber, interests
from digest.settings import SenderSettings, Settings
from digest.sources import load_snapshot
from digest.store import Store

HISTORY_DAYS = 10
THRESHOLDS = [x / 2 for x in range(41)]  # BM25 score cut-offs tried in hindsight (0 .. 20)
K = 10


@dataclass(frozen=True, slots=True)
class PanelFigures:
    """One run's figures (see the module's doc); `per_reader` holds each reader's row."""

    f1: float
    bm25_f1: float
    bm25_cut: str
    precision: float
    grade2_recall: float
    ndcg: float
    bm25_ndcg: float
    dishonest: int
    claims: int
    padded: int
    empty_with_grade2: int
    editions: int
    liked_shown: int
    per_reader: dict[str, dict[str, float]] = field(default_factory=dict)
    examples: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return self.f1 / self.bm25_f1 if self.bm25_f1 else math.nan

    def goals_met(self) -> bool:
        return (
            self.ratio >= 1.30
            and self.precision >= 0.85
            and self.grade2_recall >= 0.80
            and self.dishonest == 0
            and self.padded == 0
            and self.empty_with_grade2 == 0
            and self.liked_shown == 0
        )


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def claim_holds(phrase: str, text: str) -> bool:
    """The panel's test of a `matches: X` claim: X's words together, in order (plural and
    verb endings allowed, any punctuation between)."""
    words = _norm(phrase).split()
    if not words:
        return True
    stems = [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words]
    pattern = r"\b" + r"\s+".join(rf"{re.escape(w)}(?:s|es|ed|d|ing)?" for w in stems) + r"\b"
    return re.search(pattern, _norm(text)) is not None


def _f1(shown: Sequence[str], relevant: set[str]) -> float:
    if not relevant:
        return 0.0 if shown else 1.0
    hits = sum(1 for x in shown if x in relevant)
    if not hits:
        return 0.0
    precision, recall = hits / len(shown), hits / len(relevant)
    return 2 * precision * recall / (precision + recall)


def _ndcg(shown_gains: Sequence[int], all_gains: Sequence[int]) -> float | None:
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(shown_gains[:K]))
    ideal = sorted(all_gains, reverse=True)[:K]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else None


def _bm25(day: Sequence[Paper], query: str) -> list[tuple[str, float]]:
    """Plain BM25 (bm25s, Snowball stems, English stop words), the day's papers as title and
    abstract, the reader's phrases as one query: (id, score), best first, at most K."""
    import Stemmer

    from digest.rank.text import bm25s_module

    bm25s = bm25s_module()

    if not day:
        return []
    stemmer = Stemmer.Stemmer("english")
    docs = [f"{p.title}. {p.abstract}" for p in day]
    retriever = bm25s.BM25()
    tokens = bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.index(tokens, show_progress=False)
    asked = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
    found, scores = retriever.retrieve(asked, k=min(K, len(day)), show_progress=False)
    return [(_id(day[int(j)]), float(s)) for j, s in zip(found[0], scores[0], strict=True)]


def _id(paper: Paper) -> str:
    return paper.arxiv_id or paper.key


def read_cards(message: email.message.EmailMessage) -> list[tuple[str, str]]:
    """The papers an email shows, in order, as (title, why-line): the HTML's card titles with
    the text part's "Why:" lines, then the text part's "Also new"; none for a quiet day."""
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    if html_part is None or text_part is None:
        return []
    page, text = str(html_part.get_content()), str(text_part.get_content())
    if QUIET_SENTENCE in text:
        return []
    titles = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", found)).split())
        for found in re.findall(r"<h3[^>]*>(.*?)</h3>", page, re.S)
    ]
    whys = [line.strip() for line in text.splitlines() if line.startswith("Why:")]
    cards = list(zip(titles, whys + [""] * (len(titles) - len(whys)), strict=True))
    if "\nALSO NEW\n" in text:
        tail = text.split("\nALSO NEW\n", 1)[1].split("\n--\n", 1)[0]
        for line in tail.splitlines():
            listed = re.match(r"- (.*) \(([^()]*)\)$", line)
            if listed:
                cards.append((listed.group(1).strip(), ""))
    return cards


def _load(panel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        readers = json.loads((panel / "readers.json").read_text(encoding="utf-8"))
        labels = json.loads((panel / "labels.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DigestError(f"{panel}: no {Path(str(exc.filename)).name}; a panel folder holds"
                          " readers.json and labels.json") from None  # fmt: skip
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DigestError(f"{panel}: not a panel ({exc})") from None
    if not isinstance(readers, dict) or not isinstance(labels, dict) or not labels:
        raise DigestError(f"{panel}: readers.json and labels.json must be JSON objects")
    return readers, labels


@dataclass(slots=True)
class _Reader:
    f1: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    recall2: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)
    bm25_ndcg: list[float] = field(default_factory=list)
    top_k: dict[int, list[float]] = field(default_factory=dict)
    cut: dict[float, list[float]] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


@dataclass(frozen=True, slots=True)
class PanelDays:
    """A panel and its days: its readers and labels, every day file in order, the labelled
    ones (from `first` on), and the `history` ingested before the first (never mailed)."""

    readers: dict[str, Any]
    labels: dict[str, Any]
    every: list[Path]
    days: list[Path]
    first: int
    history: list[Path]


def panel_days(panel: Path, corpus: Path) -> PanelDays:
    """Read a panel and find its days, in either layout: the panel's own `days/` (then its
    `history/` is the store before the first day, all of it), or the labelled days in the
    corpus folder (then the HISTORY_DAYS corpus days before the first). DigestError when the
    panel has no days of its own and none of its days is in the corpus."""
    readers, labels = _load(panel)
    own = sorted((panel / "days").glob("*.json"))
    if own:
        history = sorted((panel / "history").glob("*.json"))
        return PanelDays(readers, labels, [*history, *own], own, len(history), history)
    if not corpus.is_dir():
        raise DigestError(
            f"{corpus}: no such folder of Hugging Face days, and {panel} has no days/ of its"
            " own; name the days' folder as CORPUS"
        )
    every = sorted(corpus.glob("*.json"))
    days = [f for f in every if f.name[:10] in labels]
    if not days:
        raise DigestError(f"{corpus}: none of the panel's days ({min(labels)}..) is there")
    first = every.index(days[0])
    return PanelDays(
        readers, labels, every, days, first, every[max(0, first - HISTORY_DAYS) : first]
    )


def evaluate_panel(panel: Path, corpus: Path) -> PanelFigures:
    """Replay the panel's days through `digest send` and score what every email shows."""
    found = panel_days(panel, corpus)
    readers, labels, days, history = found.readers, found.labels, found.days, found.history
    people = [
        Subscriber(
            email=f"{name}@example.org",
            interests=interests(*reader["interests"]),
            liked=tuple(reader.get("liked", ())),
            max_items=10,
        )
        for name, reader in readers.items()
    ]
    per = {name: _Reader() for name in readers}
    totals = {"dishonest": 0, "claims": 0, "padded": 0, "empty": 0, "editions": 0, "liked": 0}
    examples: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        settings = Settings(
            database=folder / "panel.sqlite",
            window_days=1,
            secret_key=SecretStr(secrets.token_urlsafe(32)),  # the emails' links, never used
            sender=SenderSettings(base_url="https://digest.example.org"),
        )
        seen: set[str] = set()
        with Store.open(settings.database) as store:
            for path in history:
                ingest_paths(store, [path], _at(path, 6))
                seen |= {_id(p) for p in load_snapshot(path).papers}
            for path in days:
                date = path.name[:10]
                day = [p for p in load_snapshot(path).papers if _id(p) not in seen]
                seen |= {_id(p) for p in day}
                ingest_paths(store, [path], _at(path, 6))
                box = folder / "mail" / date
                send_edition(
                    store, settings, FileTransport(box), _at(path, 9),
                    subscribers=people,
                )  # fmt: skip
                _score_day(day, labels.get(date, {}), readers, box, per, totals, examples, date)
    return _figures(per, totals, examples)


def _at(path: Path, hour: int) -> Callable[[], dt.datetime]:
    """A clock stopped at `hour` (UTC) on the day a corpus file is named after."""
    moment = dt.datetime.combine(dt.date.fromisoformat(path.name[:10]), dt.time(hour), dt.UTC)
    return lambda: moment


def _score_day(
    day: list[Paper],
    labels: dict[str, dict[str, int]],
    readers: dict[str, Any],
    box: Path,
    per: dict[str, _Reader],
    totals: dict[str, int],
    examples: list[str],
    date: str,
) -> None:
    by_title = {_norm(p.title): p for p in day}
    for name, reader in readers.items():
        message_file = box / f"{name}@example.org.eml"
        cards: list[tuple[str, str]] = []
        if message_file.exists():
            parsed = email.message_from_bytes(
                message_file.read_bytes(), policy=email.policy.default
            )
            assert isinstance(parsed, email.message.EmailMessage)
            cards = read_cards(parsed)
        gains = {_id(p): int(labels.get(_id(p), {}).get(name, 0)) for p in day}
        shown = []
        for title, why in cards:
            paper = by_title.get(_norm(title)) or next(
                (p for key, p in by_title.items() if title and key.startswith(_norm(title)[:40])),
                None,
            )
            if paper is None:
                continue
            shown.append(_id(paper))
            claimed = re.search(r"matches: ([^;]+?)(?:;|$| · )", why)
            for phrase in [x.strip() for x in claimed.group(1).split(",")] if claimed else []:
                if not phrase:
                    continue
                totals["claims"] += 1
                if not claim_holds(phrase, f"{paper.title} {paper.abstract}"):
                    totals["dishonest"] += 1
                    if len(examples) < 8:
                        examples.append(f"{name} {date}: 'matches: {phrase}' on {paper.title!r}")
        if set(shown) & set(reader.get("liked", ())):
            totals["liked"] += 1
        _score_reader(per[name], shown, gains, _bm25(day, " ".join(reader["interests"])))
        all_gains = list(gains.values())
        if not any(all_gains):
            if shown:
                totals["padded"] += 1
            continue
        totals["editions"] += 1
        if not shown and 2 in all_gains:
            totals["empty"] += 1


def _score_reader(
    row: _Reader, shown: list[str], gains: dict[str, int], scored: list[tuple[str, float]]
) -> None:
    relevant = {x for x, g in gains.items() if g >= 1}
    ranked = [x for x, _ in scored]
    row.f1.append(_f1(shown, relevant))
    for k in range(1, K + 1):
        row.top_k.setdefault(k, []).append(_f1(ranked[:k], relevant))
    for cut in THRESHOLDS:
        kept = [x for x, score in scored if score >= cut and score > 0]
        row.cut.setdefault(cut, []).append(_f1(kept, relevant))
    all_gains = list(gains.values())
    if not any(all_gains):
        return
    ndcg = _ndcg([gains.get(x, 0) for x in shown], all_gains)
    baseline = _ndcg([gains.get(x, 0) for x in ranked], all_gains)
    if ndcg is not None and baseline is not None:
        row.ndcg.append(ndcg)
        row.bm25_ndcg.append(baseline)
    if shown:
        row.precision.append(sum(1 for x in shown if gains.get(x, 0) >= 1) / len(shown))
    twos = [x for x, g in gains.items() if g == 2]
    if twos:
        row.recall2.append(sum(1 for x in twos if x in shown) / len(twos))


def _figures(per: dict[str, _Reader], totals: dict[str, int], examples: list[str]) -> PanelFigures:
    rows = list(per.values())
    pooled = [x for row in rows for x in row.f1]
    best_k = max(range(1, K + 1), key=lambda k: _mean([x for r in rows for x in r.top_k[k]]))
    top_k = _mean([x for r in rows for x in r.top_k[best_k]])
    best_cut = max(THRESHOLDS, key=lambda c: _mean([x for r in rows for x in r.cut[c]]))
    by_cut = _mean([x for r in rows for x in r.cut[best_cut]])
    cut = f"top-{best_k} {top_k:.2f}" if top_k >= by_cut else f"score >= {best_cut} {by_cut:.2f}"

    def macro(values: list[list[float]]) -> float:
        return _mean([_mean(v) for v in values if v])

    return PanelFigures(
        f1=_mean(pooled),
        bm25_f1=max(top_k, by_cut),
        bm25_cut=cut,
        precision=macro([r.precision for r in rows]),
        grade2_recall=macro([r.recall2 for r in rows]),
        ndcg=macro([r.ndcg for r in rows]),
        bm25_ndcg=macro([r.bm25_ndcg for r in rows]),
        dishonest=totals["dishonest"],
        claims=totals["claims"],
        padded=totals["padded"],
        empty_with_grade2=totals["empty"],
        editions=totals["editions"],
        liked_shown=totals["liked"],
        per_reader={
            name: {
                "f1": _mean(r.f1),
                "precision": _mean(r.precision),
                "grade2_recall": _mean(r.recall2),
                "ndcg": _mean(r.ndcg),
            }
            for name, r in per.items()
        },
        examples=tuple(examples),
    )


@dataclass(frozen=True, slots=True)
class TapEffects:
    """What one tap on each reader's top pick does to the next labelled day's email.
    `more_admitted`: the grades of the papers one "more" brought in (shown with the tap, not
    without); `less_close`/`less_kept`: of the next day's shown papers most like the paper
    tapped "less" (up to 3 per reader), how many there were and how many stay shown."""

    more_admitted: tuple[int, ...]
    less_close: int
    less_kept: int


def tap_effects(panel: Path, corpus: Path) -> TapEffects:
    """One "more" and, separately, one "less" on each reader's top pick of a labelled day,
    and the next labelled day ranked with and without it (the ranker over each day, the 10
    corpus days before it as its store)."""
    from digest.rank import Profile, Ranker, document
    from digest.rank.text import stems

    found = panel_days(panel, corpus)
    readers, labels, every = found.readers, found.labels, found.every
    names = [f.name[:10] for f in every]
    dates = [d for d in sorted(labels) if d in names]

    def ranker_for(date: str) -> Ranker:
        at = names.index(date)
        history = [
            p for f in every[max(0, at - HISTORY_DAYS) : at] for p in load_snapshot(f).papers
        ]
        known = {p.key for p in history}
        day = [p for p in load_snapshot(every[at]).papers if p.key not in known]
        return Ranker(day, corpus=[document(p) for p in history])

    admitted: list[int] = []
    close = kept = 0
    rankers = {date: ranker_for(date) for date in dates}
    for today, tomorrow in itertools.pairwise(dates):
        now, then = rankers[today], rankers[tomorrow]
        for name, reader in readers.items():
            phrases = interests(*reader["interests"])
            plain = Profile(phrases, max_items=10)
            picked = now.rank([plain])[0]
            if not picked:
                continue
            tapped = picked[0].paper
            without, more, less = then.rank(
                [
                    plain,
                    Profile(phrases, max_items=10, more=(tapped,)),
                    Profile(phrases, max_items=10, less=(tapped,)),
                ]
            )
            shown = {p.paper.key for p in without}
            grades = labels[tomorrow]
            admitted += [
                int(grades.get(_id(p.paper), {}).get(name, 0))
                for p in more
                if p.paper.key not in shown
            ]
            vector = then.corpus.model.transform([stems(document(tapped))])
            similarity = (then.corpus.matrix @ vector.T).toarray().ravel()
            column = {p.key: n for n, p in enumerate(then.corpus.items)}
            nearest = sorted(shown, key=lambda key: -similarity[column[key]])[:3]
            close += len(nearest)
            kept += len(set(nearest) & {p.paper.key for p in less})
    return TapEffects(tuple(sorted(admitted, reverse=True)), close, kept)
