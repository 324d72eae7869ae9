"""Transfer encoding (digest.deliver.encoding): pieces encoded alone, joined by soft line
breaks, make valid quoted-printable that decodes to the whole."""

from __future__ import annotations

import quopri

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.deliver.encoding import (
    LONG_PIECE,
    SOFT_BREAK,
    encode_pieces,
    quoted_printable,
    room_for_soft_break,
)

utf8 = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


@settings(max_examples=400, deadline=None)
@given(utf8)
def test_pieces_encoded_alone_join_into_valid_quoted_printable(text: str) -> None:
    """Every line stays within 76 characters (=XX escapes never split) and the whole decodes
    to the pieces joined."""
    pieces = [text, "x" * (len(text) % 80), text[::-1]]
    encoded = b"".join(room_for_soft_break(quoted_printable(p)) + SOFT_BREAK for p in pieces)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert quopri.decodestring(encoded).decode("utf-8") == _crlf("".join(pieces))


@settings(max_examples=200, deadline=None)
@given(st.lists(utf8.filter(lambda t: "\r" not in t), min_size=1, max_size=5), utf8)
def test_shared_literals_and_reader_values_encode_as_the_whole(
    literals: list[str], value: str
) -> None:
    """Long pieces (cached) and runs of short ones, in any order, decode to the whole."""
    values = [value.replace("\r", "")] * (len(literals) - 1)
    pieces = [part for pair in zip(literals, [*values, ""], strict=True) for part in pair]
    pieces += [literal * (LONG_PIECE // max(1, len(literal)) + 1) for literal in literals]
    encoded = encode_pieces(pieces)
    assert quopri.decodestring(encoded).decode("utf-8") == _crlf("".join(pieces))
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert encode_pieces(pieces) == encoded  # the second time from the cache
