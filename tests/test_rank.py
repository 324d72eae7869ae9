from __future__ import annotations

from digest.identity import paper_key
from digest.models import Paper
from digest.rank import Profile, rank


def _paper(title: str, abstract: str = "", upvotes: int | None = None) -> Paper:
    return Paper(key=paper_key(title), title=title, abstract=abstract, upvotes=upvotes)


PAPERS = [
    _paper("Graph Neural Networks for Molecules", "We apply message passing to chemistry.", 5),
    _paper("A Survey of Graph Neural Networks", "We review graph neural networks.", 50),
    _paper("Scaling Language Models", "Large language models trained on more data.", 12),
    _paper("Four-Bit Quantization of Language Models", "Quantization keeps accuracy.", 2),
    _paper("Robot Folding", "A robot folds laundry.", 0),
]


def test_interests_rank_matching_papers_first_with_reasons() -> None:
    [picks] = rank(PAPERS, [Profile(("graph neural networks",), (), 3)])
    titles = [p.paper.title for p in picks]
    assert set(titles) == {
        "Graph Neural Networks for Molecules",
        "A Survey of Graph Neural Networks",
    }
    assert all(p.reasons[0] == "matches: graph neural networks" for p in picks)
    molecules = next(p for p in picks if "Molecules" in p.paper.title)
    assert "5 upvotes" in molecules.reasons


def test_exclude_vetoes_a_paper() -> None:
    [picks] = rank(PAPERS, [Profile(("graph neural networks",), ("survey",), 5)])
    assert [p.paper.title for p in picks] == ["Graph Neural Networks for Molecules"]


def test_max_items_and_several_profiles_at_once() -> None:
    results = rank(
        PAPERS,
        [Profile(("language models",), (), 1), Profile(("quantization", "language models"), (), 5)],
    )
    assert [p.paper.title for p in results[0]] == ["Scaling Language Models"] or [
        p.paper.title for p in results[0]
    ] == ["Four-Bit Quantization of Language Models"]
    assert len(results[0]) == 1
    assert results[1][0].paper.title == "Four-Bit Quantization of Language Models"
    assert "quantization" in results[1][0].reasons[0]


def test_no_interests_falls_back_to_popularity() -> None:
    [picks] = rank(PAPERS, [Profile((), (), 2)])
    assert [p.paper.title for p in picks] == [
        "A Survey of Graph Neural Networks",
        "Scaling Language Models",
    ]


def test_ties_break_deterministically() -> None:
    twins = [_paper(f"Identical paper {i}", "same words") for i in range(5)]
    first = rank(twins, [Profile((), (), 5)])[0]
    second = rank(list(twins), [Profile((), (), 5)])[0]
    assert [p.paper.title for p in first] == [p.paper.title for p in second]
    assert [p.paper.title for p in first] == [f"Identical paper {i}" for i in range(5)]


def test_empty_inputs() -> None:
    assert rank([], [Profile(("x",), (), 3)]) == [[]]
    assert rank(PAPERS, []) == []
    # Stop words only: tf-idf has no vocabulary, the exact phrase match still counts.
    [[only]] = rank([_paper("The", "a an")], [Profile(("the",), (), 3)])
    assert only.reasons == ("matches: the",)
