"""The welcome page a confirmed reader lands on: topics the week's papers share (with how many
each brought), papers to rate, papers to paste, a library to upload; one POST adds them all,
or nothing when any part is wrong. Through the real web app (Flask's test client)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest

from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.editions import make_token
from digest.profile import ProfileInput, validated_row
from digest.settings import load_settings
from digest.store import Store
from digest.subscribers import find
from digest.web import create_app

from .conftest import EXAMPLES, mailing, write_settings

START = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
LIBRARY = rb"""
@article{lm, title={Scaling Laws for Neural Language Models}, eprint={2001.08361},
  archivePrefix={arXiv}, abstract={We study empirical scaling laws for language model performance.}}
@misc{stored, title={Four-bit quantization that keeps reasoning intact}}
"""


@pytest.fixture
def welcome(tmp_path: Path, secret_env: str) -> Any:
    settings = load_settings(
        write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers="")
    )
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: START - dt.timedelta(hours=2))
        row = validated_row(ProfileInput(email="kim@example.org", interests=["quantization"]))
        store.readers.upsert_subscribers([row], START)
    app = create_app(settings, lambda: START, transports=lambda: [MemoryTransport()])
    token = make_token(secret_env, "kim@example.org", "preferences")
    with mailing(app) as client:
        yield client, f"/welcome/{token}", settings


def test_the_page_offers_the_weeks_topics_and_papers_to_rate(welcome: Any) -> None:
    client, url, _ = welcome
    shown = client.get(url)
    assert shown.status_code == 200
    topics = re.findall(
        r'name="topic" value="([^"]+)"> [^<]+<span class="hint">\((\d+)\)', shown.text
    )
    # The examples' week: five papers about language models, two each of the others.
    assert topics == [
        ("language models", "5"),
        ("graph neural networks", "2"),
        ("state-space models", "2"),
    ]
    rated = set(re.findall(r'name="rate-(\d+)" value="more"', shown.text))
    assert 5 <= len(rated) <= 10
    assert 'enctype="multipart/form-data"' in shown.text
    # Another purpose's token opens nothing here.
    assert client.get(url.replace("/welcome/", "/welcome/x")).status_code in (400, 403)


def test_one_post_adds_topics_ratings_pasted_papers_and_the_library(welcome: Any) -> None:
    client, url, settings = welcome
    page = client.get(url).text
    first, second = re.findall(r'name="rate-(\d+)" value="more"', page)[:2]
    done = client.post(
        url,
        data={
            "topic": ["language models", "quantization"],
            f"rate-{first}": "more",
            f"rate-{second}": "less",
            "papers": "2401.01234\nhttps://arxiv.org/abs/1706.03762\n",
            "library": (io.BytesIO(LIBRARY), "My Library.bib"),
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 200, done.text
    assert "Added 1 topic, 2 pasted papers and 2 ratings" in done.text
    assert "read 2 entries; 1 matched" in done.text
    with Store.open(settings.database) as store:
        person = find(settings, store, "kim@example.org")
        assert person is not None
        assert [str(i) for i in person.interests] == ["quantization", "language models"]
        assert person.liked == ("2401.01234", "https://arxiv.org/abs/1706.03762")
        votes = store.readers.feedback(["kim@example.org"])["kim@example.org"]
        assert [p.id for p in votes["more"]] == [int(first)]
        assert [p.id for p in votes["less"]] == [int(second)]
        assert store.library.count("kim@example.org") == 2


def test_a_bad_library_file_saves_nothing(welcome: Any) -> None:
    client, url, settings = welcome
    done = client.post(
        url,
        data={"topic": ["language models"], "library": (io.BytesIO(b"caf\xe9"), "lib.bib")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 400
    assert "Nothing was saved" in done.text and "lib.bib: is not UTF-8 text" in done.text
    with Store.open(settings.database) as store:
        person = find(settings, store, "kim@example.org")
        assert person is not None and [str(i) for i in person.interests] == ["quantization"]
        assert store.library.count("kim@example.org") == 0
    # Markup in a file name or an entry is shown as text.
    hostile = client.post(
        url,
        data={
            "library": (io.BytesIO(b"@misc{x, title={<img src=x onerror=alert(1)>}}"), "<b>.bib")
        },
        content_type="multipart/form-data",
    )
    assert hostile.status_code == 200
    assert "<img" not in hostile.text


def test_a_library_larger_than_the_other_forms_allow_is_taken(welcome: Any) -> None:
    """The pages refuse bodies over 64 KiB; the welcome page takes library exports."""
    client, url, settings = welcome
    entries = b"".join(
        b"@misc{k%d, title={Paper number %d on graph neural networks}, abstract={%s}}\n"
        % (n, n, b"message passing " * 40)
        for n in range(300)
    )
    assert len(entries) > 200 * 1024
    done = client.post(
        url,
        data={"library": (io.BytesIO(entries), "big.bib")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 200, done.text
    assert "read 300 entries" in done.text
    with Store.open(settings.database) as store:
        assert store.library.count("kim@example.org") == 300
    # Elsewhere the limit stands.
    big = client.post("/subscribe", data={"email": "a@example.org", "interests": "x" * 70_000})
    assert big.status_code == 413


def test_listing_keywords_two_papers_share_are_suggested_too() -> None:
    """Hugging Face's `ai_keywords`: a phrase two papers' lists share is offered even when no
    title holds it, counted as the ranker would match it; a one-off or bracketed one is not."""
    from digest.models import Paper
    from digest.rank.topics import suggested_topics

    papers = [
        Paper(key="a", title="Fast Samplers", abstract="We speed up flow matching samplers."),
        Paper(key="b", title="Straight Paths", abstract="Flow matching with straight paths."),
        Paper(key="c", title="Other Things", abstract="Nothing shared here at all."),
    ]
    keywords = [
        ["Flow Matching", "Retrieval-Augmented Generation (RAG)"],
        ["flow matching", "Retrieval-Augmented Generation (RAG)", "one-off idea"],
        [],
    ]
    assert suggested_topics(papers) == []
    assert suggested_topics(papers, keywords=keywords) == [("flow matching", 2)]
