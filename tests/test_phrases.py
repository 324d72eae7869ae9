"""Phrase-level matching: a phrase matches where its words stand together, in order, in the
title or abstract (word endings and hyphens allowed), never where they are scattered; only that
is told as "matches: X" and set in bold; and what a reader gave is never picked back."""

from __future__ import annotations

import pytest

from digest.abbreviations import Abbreviations, counted
from digest.models import Paper, interests
from digest.rank import Profile, Ranker, rank
from digest.rank.phrases import Matcher, evidence, occurs


def _paper(title: str, abstract: str) -> Paper:
    return Paper(key=f"title:{title.lower()}", title=title, abstract=abstract)


@pytest.mark.parametrize(
    ("phrase", "text", "stands"),
    [
        ("knowledge graphs", "We reason over knowledge-graph embeddings.", True),
        ("knowledge graph", "Knowledge Graphs are everywhere.", True),
        ("text to speech", "A text-to-speech system.", True),
        ("text-to-speech", "A Text to Speech system.", True),
        ("LLM evaluation", "Careful LLMs evaluation.", True),
        ("benchmarks", "We release a benchmark.", True),
        # The dishonest claims: the words were there, never the phrase.
        ("text-to-speech", "Mixture of text, images, and speech.", False),
        ("audio language models", "audio cues, language and vision models", False),
        ("knowledge graphs", "To our knowledge, the graph is sparse.", False),
        ("flow matching", "information flow matches the data", False),
        ("reward modeling", "a reward model for code", False),
        ("graphs", "paragraphs", False),
        # issue 31: a verb ending turned the phrase into another one
        ("tool use", "DP is a fundamental tool used across many engineering fields.", False),
        ("reasoning", "We reason about it.", False),
        # issue 31: the reader's words in the paper's order, function words dropped
        ("memory for LLM agents", "We study LLM agent memory at scale.", True),
        ("reinforcement learning for robotics", "Robotics via reinforcement learning.", True),
        ("memory for LLM agents", "Memory of agents and LLMs.", False),  # a run stays a run
        ("memory for LLM agents", "LLM agents, and memory.", False),  # one clause only
        ("graph neural networks", "graph data with neural networks", False),
        ("text-to-speech", "Text and speech.", False),  # one term
    ],
)
def test_a_phrase_stands_only_where_its_words_stand_together(
    phrase: str, text: str, stands: bool
) -> None:
    assert occurs(phrase, text) is stands


def test_the_evidence_marks_the_phrase_and_nothing_scattered() -> None:
    found = evidence(
        [
            "We study text, images and speech in one model.",
            "Our text-to-speech decoder is fast; Text to Speech quality holds.",
        ],
        ["text-to-speech"],
    )
    assert found is not None
    marked = [found.sentence[a:b] for a, b in found.highlights]
    assert marked == ["text-to-speech", "Text to Speech"]
    assert evidence(["Text and speech."], ["text-to-speech"]) is None


def test_scattered_words_are_never_a_match_and_a_phrase_in_a_title_always_is() -> None:
    """A speech reader's top pick once was a paper on "text, images, and speech" with
    "matches: text-to-speech"; and a popular topic's bar starved its readers. Now the
    scattered words are no match at all, and the phrase in a title is one however many
    papers of the store are about it."""
    popular = [
        _paper(f"Graph neural networks for task {n}", "graph neural networks " * 5)
        for n in range(300)
    ]
    scattered = _paper(
        "Mixture of experts for everything",
        "A model of text, images, and speech, trained on graph data with neural networks.",
    )
    titled = _paper("Graph Neural Networks at scale", "We train big models on many nodes.")
    ranker = Ranker([scattered, titled], corpus=[f"{p.title}. {p.abstract}" for p in popular])
    speech, graphs = ranker.rank(
        [
            Profile(interests("text-to-speech"), max_items=5),
            Profile(interests("graph neural networks"), max_items=5),
        ]
    )
    assert speech == []
    assert [p.paper.title for p in graphs] == ["Graph Neural Networks at scale"]
    assert graphs[0].reasons[0] == "matches: graph neural networks"


def test_a_one_word_phrase_mentioned_once_in_passing_is_no_reason_to_pick() -> None:
    passing = _paper("A faster optimizer", "We beat strong baselines on standard benchmarks.")
    about = _paper("A new suite", "We release benchmarks; the benchmarks cover many skills.")
    picks = Ranker([passing, about]).rank([Profile(interests("benchmarks"), max_items=5)])[0]
    assert [p.paper.title for p in picks] == ["A new suite"]


def test_what_a_reader_gave_never_comes_back() -> None:
    """Liked papers came back as the top pick ("similar to papers you liked: <the same
    paper>"); feedback papers could too."""
    liked = _paper("Graph transformers", "graph neural networks with attention")
    tapped = _paper("Message passing", "graph neural networks pass messages")
    other = _paper("Graph neural networks for molecules", "graph neural networks on molecules")
    ranker = Ranker([liked, tapped, other])
    [picks] = ranker.rank(
        [
            Profile(
                interests("graph neural networks"),
                liked=(liked,),
                more=(tapped,),
                max_items=5,
            )
        ]
    )
    assert [p.paper.title for p in picks] == ["Graph neural networks for molecules"]


def test_a_close_match_marks_the_readers_words_where_they_stand() -> None:
    found = evidence(["Agents forget.", "We give LLM agents a long-term memory."],
                     ["memory for LLM agents"])  # fmt: skip
    assert found is not None
    marked = [found.sentence[a:b] for a, b in found.highlights]
    assert marked == ["LLM", "agents", "memory"]


def test_an_acronyms_plural_is_its_singular_for_scoring() -> None:
    from digest.rank.text import stem, stems

    assert stems("LLMs and GNNs") == stems("LLM and GNN") == ["llm", "gnn"]
    assert stem("MLLMs") == "mllm" and stem("Models") == stem("model")


def _defined(times: int) -> Abbreviations:
    texts = [
        "Multimodal Large Language Models (MLLMs) answer questions about images.",
        "Large language models (LLMs) plan.",
        "Retrieval-augmented generation (RAG) grounds answers in documents.",
        "Dynamic programming (DP) is old. Differential privacy (DP) is not.",
    ] * times
    return Abbreviations.of((s, lf, n) for (s, lf), n in counted(texts).items())


def test_a_phrase_stands_in_its_abbreviation_and_its_expansion_where_the_store_agrees() -> None:
    matcher = Matcher(_defined(5))
    found = matcher.find("multimodal LLMs", "We evaluate MLLMs on charts.")
    assert found.spans == ((12, 17),) and found.written == "MLLMs"
    spelled = matcher.find("multimodal LLMs", "Multimodal large language models see.")
    assert spelled.written == "Multimodal large language models"
    assert matcher.find("retrieval-augmented generation", "A RAG pipeline.").written == "RAG"
    assert matcher.find("RAG", "Retrieval-augmented generation works.").spans
    assert not matcher.find("retrieval-augmented generation", "a rag doll").spans  # case
    # "DP" means two things in the store: only a paper that says which counts
    assert not matcher.find("dynamic programming", "DP is a fundamental tool.").spans
    own = "Dynamic programming (DP) is a tool. We speed DP up."
    assert matcher.find("dynamic programming", own).spans
    # too few definitions: no agreement
    assert not Matcher(_defined(2)).find("multimodal LLMs", "We evaluate MLLMs.").spans


def test_the_claim_says_in_which_words_the_phrase_stood() -> None:
    paper = _paper("Charts for MLLMs", "We evaluate MLLMs on charts and tables.")
    other = _paper("Bread", "A recipe for bread.")
    [picks] = rank(
        [paper, other], [Profile(interests("multimodal LLMs"), max_items=5)],
        abbreviations=_defined(5),
    )  # fmt: skip
    assert [p.paper.title for p in picks] == ["Charts for MLLMs"]
    assert picks[0].reasons[0] == 'matches: multimodal LLMs (as "MLLMs")'
    assert [picks[0].evidence[a:b] for a, b in picks[0].highlights] == ["MLLMs"]
