from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.identity import _fold_unicode, normalise_title, paper_key, parse_arxiv_id


def test_layout_noise_does_not_change_identity() -> None:
    plain = "Café: Graph Neural Networks, Revisited!"
    noisy = unicodedata.normalize("NFD", "  CAFÉ —  graph\u00a0neural  networks (revisited)  ")
    assert (
        normalise_title(plain) == normalise_title(noisy) == "café graph neural networks revisited"
    )


def test_different_titles_stay_different() -> None:
    assert normalise_title("Graph Networks") != normalise_title("Graph Neural Networks")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2503.11731", "2503.11731"),
        ("2503.11731v3", "2503.11731"),
        ("https://arxiv.org/abs/2501.08313v1", "2501.08313"),
        ("https://arxiv.org/pdf/1706.03762", "1706.03762"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("no id here", None),
        (None, None),
        ("12345.678901", None),
    ],
)
def test_parse_arxiv_id(text: str | None, expected: str | None) -> None:
    assert parse_arxiv_id(text) == expected


def test_paper_key_prefers_arxiv_id() -> None:
    assert paper_key("Some Title", "2401.00001") == "arxiv:2401.00001"
    assert paper_key("Some Title") == "title:some title"


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_folds_exactly_like_the_unicode_path(title: str) -> None:
    assert normalise_title(title) == _fold_unicode(title)
