"""Papers' meaning vectors: computed once per paper and model, at ingest, and kept in the store;
a paper without one (ingested before the model was installed, or under another model) is
embedded when it is first needed and kept then."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from digest.models import Paper, StoredPaper
from digest.rank.encoders import Encoder


class VectorStore(Protocol):
    """Where vectors are kept (digest.store.catalog.Catalog)."""

    def vectors(self, model: str, paper_ids: Iterable[int]) -> dict[int, np.ndarray]: ...

    def store_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None: ...


def text_of(paper: Paper) -> str:
    """What a paper's meaning is read from: its title and abstract."""
    return f"{paper.title}. {paper.abstract}"


def paper_vectors(
    store: VectorStore, encoder: Encoder, papers: Sequence[StoredPaper]
) -> np.ndarray:
    """papers × dimensions, in the papers' order: the stored vectors, the missing ones
    embedded now and stored."""
    known = store.vectors(encoder.name, (p.id for p in papers))
    missing = list({p.id: p for p in papers if p.id not in known}.values())
    if missing:
        found = encoder.embed([text_of(p.paper) for p in missing])
        fresh = {p.id: row for p, row in zip(missing, found, strict=True)}
        store.store_vectors(encoder.name, fresh)
        known.update(fresh)
    if not papers:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[p.id] for p in papers]).astype(np.float32)
