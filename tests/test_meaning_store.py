"""Papers' meaning vectors in the store (both engines): computed at ingest under the configured
model, embedded when first needed if missing, and the migration that adds their table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from digest.abbreviations import Abbreviations, counted
from digest.editions import Editions, Runtime
from digest.models import StoredPaper
from digest.rank import encoders
from digest.rank.vectors import paper_vectors, text_of
from digest.settings import load_settings
from digest.store import Store
from digest.store.schema import SCHEMA_VERSION

from .conftest import EXAMPLES, fixed_clock, write_settings

HEADER = (
    "Get trending papers in your email inbox once a day!\n"
    "Get trending papers in your email inbox!\nSubscribe"
)
DEFINING = (
    "Grounded Answers from Retrieval\nRetrieval-augmented generation (RAG) grounds answers in"
    " documents. Multimodal Large Language Models (MLLMs) read the figures.\n"
)


def _listing(folder: Path, name: str, papers: str) -> Path:
    path = folder / name
    path.write_text(HEADER + papers, encoding="utf-8")
    return path


def _ingest(tmp_path: Path, database: Path | str) -> Editions:
    editions = Editions(
        load_settings(write_settings(tmp_path, database=database)),
        runtime=Runtime(clock=fixed_clock()),
    )
    editions.ingest([str(EXAMPLES / "dumps"), str(_listing(tmp_path, "d.txt", DEFINING))])
    return editions


class Counting:
    """An encoder that says what it was asked to embed."""

    name = "counting"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.asked.extend(texts)
        return encoders.unit(np.array([[len(t), 1.0, 0.5] for t in texts], dtype=np.float32))


def _stored(
    tmp_path: Path, database: Path | str, monkeypatch: pytest.MonkeyPatch, model: str
) -> tuple[list[StoredPaper], dict[str, dict[int, np.ndarray]]]:
    """The papers of an ingest under this `[ranking] embedding_model`, and the vectors kept
    under each model name."""
    monkeypatch.setenv("DIGEST_RANKING__EMBEDDING_MODEL", model)
    editions = _ingest(tmp_path, database)
    with Store.open(editions.settings.database) as store:
        papers = store.catalog.papers()
        ids = [p.id for p in papers]
        kept = {name: store.catalog.vectors(name, ids) for name in ("minilm", "wordllama")}
    return papers, kept


def test_ingest_keeps_every_listed_papers_vector_under_its_model(
    tmp_path: Path, database: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    papers, kept = _stored(tmp_path, database, monkeypatch, "minilm")
    assert papers and sorted(kept["minilm"]) == [p.id for p in papers]
    assert kept["wordllama"] == {}
    minilm = encoders.load("minilm")
    assert minilm is not None
    fresh = minilm.embed([text_of(papers[0].paper)])[0]
    stored = kept["minilm"][papers[0].id]
    assert stored.dtype == np.float32 and stored.shape == (384,)
    assert np.allclose(stored, fresh, atol=2e-3)  # float16 in the store


def test_without_a_model_ingest_keeps_no_vector(
    tmp_path: Path, database: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    papers, kept = _stored(tmp_path, database, monkeypatch, "none")
    assert papers and kept == {"minilm": {}, "wordllama": {}}


def test_a_paper_without_a_vector_is_embedded_once_when_first_needed(
    tmp_path: Path, database: Path | str
) -> None:
    editions = _ingest(tmp_path, database)
    encoder = Counting()
    with Store.open(editions.settings.database) as store:
        papers = store.catalog.papers()
        first = paper_vectors(store.catalog, encoder, [*papers, papers[0]])
        assert len(encoder.asked) == len(papers)  # each paper once, a repeat too
        again = paper_vectors(store.catalog, encoder, papers[::-1])
        assert len(encoder.asked) == len(papers)  # kept: not embedded again
    assert first.shape == (len(papers) + 1, 3)
    assert np.allclose(again, first[: len(papers)][::-1], atol=1e-3)


def test_a_schema_13_store_gains_the_vector_table(tmp_path: Path, database: Path | str) -> None:
    editions = _ingest(tmp_path, database)
    with Store.open(editions.settings.database) as store, store.transaction() as db:
        learned = store.catalog.abbreviations()
        db.execute("DROP TABLE paper_vectors")
        db.execute("DROP TABLE abbreviations")
        db.execute("UPDATE meta SET value = '13' WHERE key = 'schema_version'")
    encoder = Counting()
    with Store.open(editions.settings.database) as store:
        version = store.database.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION) == "14"
        papers = store.catalog.papers()
        paper_vectors(store.catalog, encoder, papers)
        assert sorted(store.catalog.vectors("counting", (p.id for p in papers))) == [
            p.id for p in papers
        ]
        # the abbreviations of the abstracts stored before are learned by the migration
        assert store.catalog.abbreviations() == learned and learned.long_of


def test_ingest_counts_the_abbreviations_new_abstracts_define(
    tmp_path: Path, database: Path | str
) -> None:
    editions = _ingest(tmp_path, database)
    with Store.open(editions.settings.database) as store:
        before = store.catalog.abbreviations()
        abstracts = [p.paper.abstract for p in store.catalog.papers()]
    assert before == Abbreviations.of((s, lf, n) for (s, lf), n in counted(abstracts).items())
    dump = _listing(
        tmp_path,
        "more.txt",
        "Agents That Look Things Up\nWe pair Retrieval-augmented generation (RAG) with tools.\n",
    )
    editions.ingest([str(dump)])
    editions.ingest([str(dump)])  # the same dump again adds nothing
    with Store.open(editions.settings.database) as store:
        after = store.catalog.abbreviations()
    assert after.long_of["RAG"]["retrievalaugmentedgeneration"] == (
        before.long_of.get("RAG", Counter()).get("retrievalaugmentedgeneration", 0) + 1
    )
