"""Abbreviations as abstracts define them (Schwartz & Hearst), and what the store agrees on."""

from __future__ import annotations

from digest.abbreviations import Abbreviations, counted, defined_in, definitions

ABSTRACTS = (
    "Multimodal Large Language Models (MLLMs) excel at visual question answering.",
    "We study Multi-modal LLMs (MLLMs) on charts. Large language models (LLMs) can plan.",
    "Retrieval-augmented generation (RAG) grounds answers; sparse autoencoders (SAEs) explain.",
    "Dynamic programming (DP) is a fundamental tool. We use differential privacy (DP) too.",
)


def test_definitions_follow_schwartz_hearst() -> None:
    found = [(d.short, d.long) for text in ABSTRACTS for d in definitions(text)]
    assert found == [
        ("MLLM", "Multimodal Large Language Models"),
        ("MLLM", "Multi-modal LLMs"),
        ("LLM", "Large language models"),
        ("RAG", "Retrieval-augmented generation"),
        ("SAE", "sparse autoencoders"),
        ("DP", "Dynamic programming"),
        ("DP", "differential privacy"),
    ]
    # not short forms: years, "i.e", lower-case words, one-word long forms
    assert definitions("We ran it in 2024 (2024) and (i.e. twice) with care (slowly).") == []
    assert definitions("The Transformer (TF) works.") == []


def _store(times: int) -> Abbreviations:
    counts = counted(ABSTRACTS * times)
    return Abbreviations.of((short, long, n) for (short, long), n in counts.items())


def test_a_short_form_stands_for_its_long_form_only_where_the_store_agrees() -> None:
    store = _store(5)
    # "Multi-modal LLMs" and "Multimodal Large Language Models" are one definition
    assert store.long_of["MLLM"].total() == 10 and len(store.long_of["MLLM"]) == 1
    assert store.expansion("MLLM") == "multimodal large language model"
    assert store.expansion("RAG") == "retrieval augmented generation"
    assert store.expansion("DP") is None  # two meanings, 50 % each
    assert store.abbreviations("dynamic programming") == ()
    assert store.variants("multimodal LLMs") == (
        ("multimodal LLMs", "multimodal large language models"), ("MLLM",)
    )  # fmt: skip
    assert store.variants("retrieval-augmented generation") == (
        ("retrieval-augmented generation",), ("RAG",)
    )  # fmt: skip


def test_too_few_definitions_are_not_agreement() -> None:
    store = _store(2)
    assert store.expansion("RAG") is None
    assert store.variants("retrieval-augmented generation") == (
        ("retrieval-augmented generation",), ()
    )  # fmt: skip


def test_a_paper_that_defines_a_short_form_itself_is_taken_at_its_word() -> None:
    text = "Dynamic programming (DP) is a fundamental tool used across many engineering fields."
    assert defined_in(text, ["dynamic programming"]) == ("DP",)
    assert defined_in(text, ["differential privacy"]) == ()
