"""Interests in the reader's own words (digest.rank.words): a sentence is read as the phrases
it asks for and what it asks to leave out; a phrase is read exactly as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import ProfileErrors
from digest.models import Interest, Paper, interests
from digest.profile import ProfileInput, validated_row
from digest.rank import Profile, Ranker
from digest.rank.words import as_read, understood
from digest.subscribers import read_csv


def _phrases(text: str) -> tuple[list[str], list[str]]:
    wanted, unwanted = understood(Interest(text))
    return [i.phrase for i in wanted], list(unwanted)


@pytest.mark.parametrize(
    "phrase",
    ["graph neural networks", "LLM agents", "mixture of experts", "vision and language models"],
)
def test_a_phrase_is_read_as_it_always_was(phrase: str) -> None:
    interest = Interest(phrase, 2.0)
    assert understood(interest) == ((interest,), ())
    profile = Profile(interests=(interest,), exclude=("survey",))
    assert as_read(profile) is profile


@pytest.mark.parametrize(
    ("text", "wanted", "unwanted"),
    [
        (
            "memory mechanisms for LLM agents; not GPU memory",
            ["memory mechanisms for LLM agents"],
            ["GPU memory"],
        ),
        ("not GPU memory", [], ["GPU memory"]),  # a CSV cell split on ";" gives this part alone
        ("LLM agents\nexcept web browsing", ["LLM agents"], ["web browsing"]),
        (
            "I want papers about protein design and materials discovery, especially with"
            " diffusion models",
            ["protein design", "materials discovery", "diffusion models"],
            [],
        ),
        (
            "efficient inference of large language models on edge devices but not quantization"
            " or pruning",
            ["efficient inference", "large language models", "edge devices"],
            ["quantization", "pruning"],
        ),
        (
            "memory for LLM agents (not GPU memory) and planning",
            ["memory for LLM agents", "planning"],
            ["GPU memory"],
        ),
        ("retrieval-augmented generation (RAG)", ["retrieval-augmented generation", "RAG"], []),
        (
            "vision-language models: grounding, hallucination. Not: text-only LLMs",
            ["vision-language models", "grounding", "hallucination"],
            ["text-only LLMs"],
        ),
    ],
)
def test_a_sentence_yields_its_content_phrases_and_its_exclusions(
    text: str, wanted: list[str], unwanted: list[str]
) -> None:
    assert _phrases(text) == (wanted, unwanted)


def test_the_phrases_of_one_part_share_its_weight() -> None:
    wanted, _ = understood(Interest("protein design, materials discovery", 3.0))
    assert [i.weight for i in wanted] == [1.5, 1.5]


def _paper(key: str, title: str, abstract: str) -> Paper:
    return Paper(key, title, abstract, url=f"https://example.org/{key}")


def test_a_reader_who_writes_a_sentence_gets_what_it_asks_and_not_what_it_excludes() -> None:
    """The sentence as one phrase matched nothing ("… ; not GPU memory" stands in no paper);
    read in the reader's words, the agent-memory paper is picked and the GPU one vetoed."""
    agents = _paper(
        "a",
        "Memory Mechanisms for LLM Agents",
        "We study memory mechanisms for LLM agents that plan over long horizons.",
    )
    gpu = _paper(
        "g",
        "Saving GPU Memory in Memory Mechanisms for LLM Agents",
        "Memory mechanisms for LLM agents under tight GPU memory budgets.",
    )
    other = _paper("o", "Crop Yields from Space", "Satellites measure crop yields.")
    reader = Profile(interests("memory mechanisms for LLM agents; not GPU memory"), max_items=5)
    picks = Ranker([agents, gpu, other]).rank([reader])[0]
    assert [p.paper.key for p in picks] == ["a"]
    assert picks[0].reasons[0] == "matches: memory mechanisms for LLM agents"


def test_a_sentence_longer_than_a_term_is_a_valid_interest() -> None:
    """Interests were cut at 200 characters like an author's name ("… is longer than 200
    characters"): a reader's paragraph about what they want was refused."""
    sentence = (
        "memory mechanisms for LLM agents, long-term memory, retrieval of past episodes and"
        " reflection, how agents write to and read from external memory stores over long"
        " horizons and many sessions; not GPU memory or KV-cache compression"
    )
    assert len(sentence) > 200
    row = validated_row(ProfileInput(email="r@example.org", interests=[sentence]))
    assert row.profile["interests"] == [{"phrase": sentence, "weight": 1.0}]
    with pytest.raises(ProfileErrors, match="longer than 1000 characters"):
        validated_row(ProfileInput(email="r@example.org", interests=["x" * 1001]))


def test_a_line_break_inside_an_interest_starts_the_next_one() -> None:
    """A CSV cell or a settings string with a line break: it was folded into one phrase
    ("LLM agents not web browsing"), so "not web browsing" was looked for as an interest."""
    row = validated_row(
        ProfileInput(email="r@example.org", interests=["LLM agents\nnot web browsing"])
    )
    assert [i["phrase"] for i in row.profile["interests"]] == ["LLM agents", "not web browsing"]
    read = as_read(Profile(interests(*(i["phrase"] for i in row.profile["interests"]))))
    assert [i.phrase for i in read.interests] == ["LLM agents"]
    assert read.exclude == ("web browsing",)


def test_a_csv_sentence_keeps_its_columns_and_its_exclusion(tmp_path: Path) -> None:
    """The interests column still splits on ";": the "not …" part arrives alone, and is read
    as an exclusion, not as an interest in "not GPU memory"."""
    people = tmp_path / "people.csv"
    people.write_text(
        'email,interests,exclude\nr@example.org,"memory mechanisms for LLM agents; not GPU'
        ' memory",survey\n',
        encoding="utf-8",
    )
    (row,) = read_csv(people)
    phrases = [i["phrase"] for i in row.profile["interests"]]
    assert phrases == ["memory mechanisms for LLM agents", "not GPU memory"]
    read = as_read(Profile(interests(*phrases), exclude=tuple(row.profile["exclude"])))
    assert [i.phrase for i in read.interests] == ["memory mechanisms for LLM agents"]
    assert read.exclude == ("survey", "GPU memory")
