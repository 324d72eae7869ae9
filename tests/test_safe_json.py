"""JSON from outside is bounded before it is parsed (digest.safe_json)."""

from __future__ import annotations

import pytest

from digest.errors import UnsafeJSON
from digest.safe_json import loads


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 60_000, "nested more than 32 levels deep"),
        ("[" * 40 + "]" * 40, "nested more than 32 levels deep"),
        ('{"a":' * 40 + "1" + "}" * 40, "nested more than 32 levels deep"),
        ("1" * 5_000, "a number of more than 40 digits"),
        ('{"n": 1.' + "0" * 5_000 + "}", "a number of more than 40 digits"),
        ("{" * 10 + "x", "not JSON"),
        ("x" * 101, "larger than 100 characters"),
    ],
)
def test_hostile_json_is_refused_in_one_line(text: str, says: str) -> None:
    with pytest.raises(UnsafeJSON, match=says):
        loads(text, max_chars=100 if len(text) == 101 else 10**6)


def test_brackets_and_digits_inside_strings_do_not_count() -> None:
    text = '{"a": "' + "[" * 100 + "9" * 100 + '\\"]", "b": [[1]]}'
    assert loads(text, max_chars=10**6)["b"] == [[1]]


def test_bytes_must_be_utf8() -> None:
    with pytest.raises(UnsafeJSON, match="not UTF-8"):
        loads(b'{"a": "\xff"}', max_chars=100)


def test_a_wide_shallow_document_passes() -> None:
    text = "[" + "{},[1,2]," * 200_000 + "{}]"
    assert len(loads(text, max_chars=10**7)) == 400_001
