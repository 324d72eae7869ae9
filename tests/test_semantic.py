"""The optional semantic signal (digest[embeddings], installed with the dev extras): the model
loads from the package alone, reorders papers by meaning, and never admits a paper on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.models import Paper, interests
from digest.rank import Profile, Ranker, Weights

semantic = pytest.importorskip("digest.rank.semantic")


def _paper(title: str, abstract: str) -> Paper:
    return Paper(key=f"title:{title.lower()}", title=title, abstract=abstract)


def test_the_bundled_model_loads_without_a_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not semantic.available():
        pytest.skip("wordllama is not installed (pip install 'digest[embeddings]')")
    vectors = semantic.embed(["graph neural networks", "message passing on graphs", "cooking"])
    assert vectors is not None and vectors.shape[0] == 3
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated


def test_loading_the_model_leaves_no_folder_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process that ranked used to leave a digest-wordllama-* folder in /tmp."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = semantic.wordllama_model.__wrapped__()
    if model is None:
        pytest.skip("wordllama is not installed")
    assert list(tmp_path.iterdir()) == []
    assert model.embed(["graph neural networks"], norm=True).shape[0] == 1  # loaded for good


def test_meaning_reorders_but_never_admits() -> None:
    if not semantic.available():
        pytest.skip("wordllama is not installed")
    papers = [
        _paper("Cooking pasta", "Boiling water and salt for dinner."),
        _paper("Self-driving cars", "Autonomous vehicles steer through city traffic."),
        _paper("Automobile insurance", "Automobile pricing models for insurers."),
    ]
    ranker = Ranker(papers, weights=Weights(semantic=2.0, learned=0, diversity=0))
    profile = Profile(
        interests(
            "automobile",
        ),
        max_items=3,
    )
    [shown] = ranker.rank([profile])
    assert [p.paper.title for p in shown] == ["Automobile insurance"]  # only its words match
    [ranked] = ranker.rank(
        [
            Profile(
                interests(
                    "automobile",
                ),
                max_items=3,
                min_score=-99,
            )
        ],
        thresholded=False,
    )
    order = [p.paper.title for p in ranked]
    assert order.index("Self-driving cars") < order.index("Cooking pasta")


def test_loading_the_model_leaves_digest_output_alone() -> None:
    """wordllama configures the root logger on import; digest undoes it (bm25s's DEBUG lines
    reached every `digest rank` and `digest eval`)."""
    from .conftest import EXAMPLES, run

    result = run(
        "rank", EXAMPLES / "dumps" / "2026-11-20-listing.txt", "--interest", "graphs", cwd=EXAMPLES
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG" not in result.stderr and "INFO" not in result.stderr
