"""One-tap feedback: the email's "More like this" / "Less like this" links, the web page that
records a tap on POST (never on a link scanner's GET) and offers undo, `digest feedback` on the
command line, and the ranker reading it as the reader's taste."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import httpx
import pytest

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.errors import DigestError
from digest.models import Paper, interests
from digest.rank import Profile, Ranker
from digest.settings import load_settings
from digest.store import Store

from .conftest import (
    EXAMPLES,
    FIXED_NOW,
    SmtpServer,
    assert_clean_error,
    fixed_clock,
    run,
    write_settings,
)
from .test_web import start


def _paper(title: str, abstract: str) -> Paper:
    return Paper(key=f"title:{title.lower()}", title=title, abstract=abstract)


def test_more_and_less_reshape_the_ranking() -> None:
    papers = [
        _paper("Protein folding with diffusion", "diffusion models fold proteins"),
        _paper("Video diffusion at scale", "diffusion models generate long videos"),
        _paper("Diffusion for weather", "diffusion models forecast the weather"),
    ]
    liked_protein = _paper("Protein structure", "proteins fold; structure prediction")
    boring_video = _paper("Video generation", "generate videos of cats")
    ranker = Ranker(papers)
    plain = Profile(
        interests(
            "diffusion models",
        ),
        max_items=3,
    )
    taught = Profile(
        interests("diffusion models"), max_items=3, more=(liked_protein,), less=(boring_video,)
    )
    [before, after] = ranker.rank([plain, taught])
    assert after[0].paper.title == "Protein folding with diffusion"
    # Asked for less: the video paper drops (or goes).
    video = {p.paper.title: p.score for p in before}["Video diffusion at scale"]
    assert {p.paper.title: p.score for p in after}.get("Video diffusion at scale", -1) < video
    assert any("asked more of: Protein structure" in r for r in after[0].reasons)
    assert [p.paper.title for p in before] != [p.paper.title for p in after]


def _sent(database: Path | str, tmp_path: Path, smtp_server: SmtpServer) -> str:
    settings = load_settings(write_settings(tmp_path, database=database, port=smtp_server.port))
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    return next(
        m.data.decode() for m in smtp_server.handler.messages if m.rcpt_tos == ["ada@example.org"]
    ).replace("=\r\n", "")


def test_every_card_carries_signed_feedback_links_that_a_get_never_acts_on(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    message = _sent(database, tmp_path, smtp_server)
    more = re.findall(r"https://digest\.test(/feedback/[A-Za-z0-9_=.\-]+)", message)
    assert more, "no feedback links in the email"
    assert "More like this" in message and "Less like this" in message
    settings = load_settings(tmp_path / "settings.toml")
    url, server = start(settings)
    try:
        link = url + more[0]
        asked = httpx.get(link)  # a link scanner, or the reader's first tap
        assert asked.status_code == 200 and '<form method="post">' in asked.text
        with Store.open(settings.database) as store:
            assert store.readers.feedback(["ada@example.org"])["ada@example.org"] == {
                "more": [],
                "less": [],
            }
        done = httpx.post(link)
        assert done.status_code == 200 and "Noted" in done.text and "Undo" in done.text
        with Store.open(settings.database) as store:
            given = store.readers.feedback(["ada@example.org"])["ada@example.org"]
        assert len(given["more"]) + len(given["less"]) == 1
        undone = httpx.post(link + "/undo")
        assert undone.status_code == 200 and "forgotten" in undone.text
        with Store.open(settings.database) as store:
            assert store.readers.feedback(["ada@example.org"])["ada@example.org"] == {
                "more": [],
                "less": [],
            }
        assert httpx.post(link[:-3] + "abc").status_code == 403  # tampered
    finally:
        server.stop()


def test_feedback_from_the_command_line_is_exported_and_deleted_with_the_reader(
    database: Path | str,
    tmp_path: Path,
) -> None:
    write_settings(tmp_path, database=database)
    papers = tmp_path / "papers.json"
    papers.write_text(
        json.dumps(
            [
                {"paper": {"id": "2501.00001", "title": "Graph transformers", "summary": "x"}},
                {"paper": {"id": "2501.00002", "title": "Robot hands", "summary": "y"}},
            ]
        )
    )
    assert run("ingest", papers, cwd=tmp_path).returncode == 0
    assert run("subscribers", "add", "lin@example.org", cwd=tmp_path).returncode == 0
    done = run("feedback", "lin@example.org", "2501.00001", "--more", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    less = run(
        "feedback", "lin@example.org", "https://arxiv.org/abs/2501.00002v2", "--less", cwd=tmp_path
    )
    assert less.returncode == 0, less.stderr
    assert_clean_error(
        run("feedback", "lin@example.org", "2501.99999", "--more", cwd=tmp_path), 7, "2501.99999"
    )
    assert_clean_error(
        run("feedback", "lim@example.org", "2501.00001", "--more", cwd=tmp_path),
        2,
        "did you mean lin@example.org",
    )
    with Store.open(database) as store:
        given = store.readers.feedback(["lin@example.org"])["lin@example.org"]
        assert [p.paper.arxiv_id for p in given["more"]] == ["2501.00001"]
        assert [p.paper.arxiv_id for p in given["less"]] == ["2501.00002"]
    exported = run("subscribers", "export", cwd=tmp_path).stdout
    assert "2501.00001" in exported and "2501.00002" in exported
    assert run("subscribers", "remove", "lin@example.org", cwd=tmp_path).returncode == 0
    with Store.open(database) as store:
        assert store.readers.feedback(["lin@example.org"])["lin@example.org"] == {
            "more": [],
            "less": [],
        }


def test_the_preferences_page_lists_feedback_and_forgets_what_is_ticked(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    from digest.tokens import make_token

    _sent(database, tmp_path, smtp_server)
    settings = load_settings(tmp_path / "settings.toml")
    with Store.open(settings.database) as store:
        [first, second] = store.catalog.papers()[:2]
        store.readers.record_feedback("ada@example.org", [first.id], "more", FIXED_NOW)
        store.readers.record_feedback("ada@example.org", [second.id], "less", FIXED_NOW)
    url, server = start(settings)
    try:
        page = f"{url}/preferences/{make_token(secret_env, 'ada@example.org', 'preferences')}"
        shown = httpx.get(page).text
        assert f"More like: {first.paper.title}" in shown.replace("&#34;", '"').replace(
            "&amp;", "&"
        )
        assert f'name="forget" value="{second.id}"' in shown
        form = {
            "interests": "graph neural networks",
            "authors": "Ada Nwosu",
            "forget": str(second.id),
        }
        saved = httpx.post(page, data=form)
        assert saved.status_code == 200 and "Saved" in saved.text
        with Store.open(settings.database) as store:
            given = store.readers.feedback(["ada@example.org"])["ada@example.org"]
            [row] = store.readers.subscriber_rows("ada@example.org")
        assert [p.id for p in given["more"]] == [first.id] and given["less"] == []
        assert row.profile["authors"] == ["Ada Nwosu"]
    finally:
        server.stop()


def test_the_learning_curve_answers_through_the_store(tmp_path: Path) -> None:
    """`digest eval --learning-curve` on a few real days: readers answer, twins do not."""
    from digest.evaluate import HISTORY_DAYS, learning_curve

    from .conftest import CORPORA, shared_or_skip

    days = sorted(shared_or_skip(CORPORA / "arxiv-daily").glob("*.jsonl"))[: HISTORY_DAYS + 6]
    folder = tmp_path / "days"
    folder.mkdir()
    for day in days:
        (folder / day.name).write_bytes(day.read_bytes())
    points = learning_curve(folder, days=4)
    # Four days with an email: a weekend's listing brings nothing new and is not a day.
    assert len(points) == 4
    assert all(dt.date.fromisoformat(p.day).weekday() < 5 for p in points)
    with pytest.raises(DigestError, match=r"only \d days with new papers; needs 6"):
        learning_curve(folder, days=6)
    assert all(0 <= p.learner <= 1 and 0 <= p.twin <= 1 for p in points)
    assert points[0].learner == points[0].twin  # nobody has answered anything yet


def test_a_readers_taste_keeps_their_latest_taps_only() -> None:
    """Regression: the feedback model was a dense candidates x examples matrix, so 10,000
    votes on a store of 10,000 papers took 2.6 GB. A reader's taste now keeps their latest
    MAX_FEEDBACK_EXAMPLES taps of each kind, and ranks exactly as with only those."""
    from digest.rank import MAX_FEEDBACK_EXAMPLES

    topics = ("protein folding", "video diffusion", "weather forecasting", "graph networks")
    papers = [
        _paper(f"{t.title()} study {n}", f"{t} {t} with method {n}")
        for n in range(30)
        for t in topics
    ]
    old = [_paper(f"Old video paper {n}", "video diffusion generates clips") for n in range(900)]
    recent = [_paper(f"Recent protein {n}", "protein folding structures") for n in range(50)]
    many = Profile(interests("method"), max_items=5, more=tuple(old + recent * 2))
    assert len(many.more) == MAX_FEEDBACK_EXAMPLES
    assert many.more[-50:] == tuple(recent)
    few = Profile(interests("method"), max_items=5, more=tuple(recent * 2))
    ranker = Ranker(papers)
    [a, b] = ranker.rank([many, few])
    assert [(p.paper.key, p.score) for p in a] == [(p.paper.key, p.score) for p in b]
    assert "protein" in a[0].paper.title.lower()


def test_the_store_gives_each_readers_newest_feedback_oldest_first(store: Store) -> None:
    from digest.models import Snapshot

    papers = tuple(_paper(f"Paper {n}", f"text {n}") for n in range(8))
    snapshot = Snapshot(source="t", format="test", content_hash="t", papers=papers)
    store.catalog.ingest(snapshot, FIXED_NOW)
    ids = sorted(p.id for p in store.catalog.recent_papers(FIXED_NOW - dt.timedelta(days=30)))
    for n, paper_id in enumerate(ids):
        verdict = "more" if n % 2 == 0 else "less"
        store.readers.record_feedback(
            "ada@example.org", [paper_id], verdict, FIXED_NOW + dt.timedelta(minutes=n)
        )
    got = store.readers.feedback(["ada@example.org"], latest=2)["ada@example.org"]
    titles = {verdict: [p.paper.title for p in papers] for verdict, papers in got.items()}
    assert titles == {"more": ["Paper 4", "Paper 6"], "less": ["Paper 5", "Paper 7"]}
    everything = store.readers.feedback(["ada@example.org"])["ada@example.org"]
    assert [len(v) for v in everything.values()] == [4, 4]


def _store_corpus(count: int = 300) -> list[str]:
    """Ordinary papers of a store, on other topics: what calibrates every bar."""
    import random

    rng = random.Random(5)
    pool = [
        "weather",
        "ocean",
        "climate",
        "soil",
        "river",
        "crop",
        "forest",
        "glacier",
        "rainfall",
        "drought",
        "satellite",
        "sensor",
        "traffic",
        "city",
        "census",
        "election",
        "market",
        "price",
        "supply",
        "energy",
        "battery",
        "solar",
        "grid",
        "wind",
        "protein",
        "cell",
        "gene",
        "tissue",
        "enzyme",
        "virus",
        "vaccine",
        "clinical",
        "patient",
        "trial",
        "hospital",
    ]
    rare = ["language", "model", "models", "tokens"]  # a few of them touch on the readers' words
    return [
        " ".join([*(rng.choice(pool) for _ in range(60)), *rng.sample(rare, n % 3)])
        for n in range(count)
    ]


def test_one_more_admits_close_papers_near_the_profile_and_no_neighbouring_field() -> None:
    """One "more like this" took an email from 2 to 5 papers, one of them off topic. Now a
    paper close to the tapped one comes in only when it is also near the reader's phrases."""
    tapped = _paper(
        "Speculative decoding for language models",
        "Draft tokens from a small language model are verified by a large one: speculative"
        " decoding with draft trees makes language models generate faster.",
    )
    near = _paper(
        "Draft trees make decoding faster",
        "Speculative decoding verifies draft tokens in one pass. Larger draft trees help big"
        " models of natural language: the language each model writes stays exact, and models"
        " decode faster.",
    )
    neighbour = _paper(
        "Speculative execution without side channels",
        "Speculative decoding of instructions in processors verifies draft branches; draft"
        " trees of branches leak secrets through caches.",
    )
    ranker = Ranker([near, neighbour], corpus=_store_corpus())
    reader = interests("language models")
    [plain, taught] = ranker.rank(
        [Profile(reader, max_items=5), Profile(reader, max_items=5, more=(tapped,))]
    )
    assert plain == []
    assert [p.paper.title for p in taught] == ["Draft trees make decoding faster"]
    assert taught[0].reasons == (f"like a paper you asked more of: {tapped.title}",)


def test_one_less_takes_out_papers_close_to_the_tapped_one() -> None:
    """Four "less like this" taps once left the next email identical."""
    tapped = _paper(
        "Four-bit quantization of language models",
        "We quantize language models to four bits with outlier channels kept in higher"
        " precision; quantized language models keep their accuracy.",
    )
    close = _paper(
        "Outlier channels decide quantization quality",
        "Quantization of language models to four bits fails on outlier channels; keeping"
        " them in higher precision keeps quantized language models accurate.",
    )
    titled = _paper(
        "Language models quantized to three bits",
        "Quantization to three bits of language models, with outlier channels kept.",
    )
    other = _paper(
        "Language models that plan",
        "Planning with language models: search over plans makes language models solve tasks.",
    )
    ranker = Ranker([close, titled, other], corpus=_store_corpus())
    reader = interests("language models")
    [plain, taught] = ranker.rank(
        [Profile(reader, max_items=5), Profile(reader, max_items=5, less=(tapped,))]
    )
    assert {p.paper.title for p in plain} == {close.title, titled.title, other.title}
    # The papers close to the tapped one go, even with the phrase in their title.
    assert [p.paper.title for p in taught] == [other.title]
