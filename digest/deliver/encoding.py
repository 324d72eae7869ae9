"""Transfer encoding for the message's parts: quoted-printable with CRLF line ends, and an HTML
part assembled from pieces, where the pieces every reader of an edition shares are encoded once
(cached) and only the reader's own few values are encoded per message."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Sequence

# A soft line break: ends a quoted-printable line without adding anything to the decoded text.
# Put between pieces, it lets each piece be encoded on its own, starting at column 0.
SOFT_BREAK = b"=\r\n"
QP_LINE = 76  # RFC 2045: at most 76 characters a line, a soft break's "=" included


def quoted_printable(text: str) -> bytes:
    """Quoted-printable body with CRLF line ends (binascii: ~10x faster than the email package)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


def room_for_soft_break(encoded: bytes) -> bytes:
    """Make the last line short enough for the "=" of a soft break after it: b2a_qp fills
    lines up to 76 characters. The cut never splits an =XX escape."""
    start = encoded.rfind(b"\n") + 1
    if len(encoded) - start < QP_LINE:
        return encoded
    cut = len(encoded) - 3
    while encoded[cut - 2 : cut - 1] == b"=" or encoded[cut - 1 : cut] == b"=":
        cut -= 1
    return encoded[:cut] + SOFT_BREAK + encoded[cut:]


@functools.lru_cache(maxsize=256)
def _encoded_literals(literals: tuple[str, ...]) -> tuple[bytes, ...]:
    """An edition's shared pieces, encoded once for all its readers (the last one ends the
    part, so it needs no room for a soft break)."""
    *inner, tail = map(quoted_printable, literals)
    return (*map(room_for_soft_break, inner), tail)


def encode_pieces(literals: tuple[str, ...], values: Sequence[str]) -> bytes:
    """Quoted-printable of literals[0] + values[0] + literals[1] + … + literals[-1], pieces
    joined by soft breaks; decodes to the same text as encoding the whole at once. A text with
    a bare CR must be encoded whole (its line ends fold across pieces): callers check."""
    shared = _encoded_literals(literals)
    encoded: list[bytes] = []
    for literal, value in zip(shared, values, strict=False):  # the last literal comes after
        encoded += (literal, SOFT_BREAK, room_for_soft_break(quoted_printable(value)), SOFT_BREAK)
    encoded.append(shared[-1])
    return b"".join(encoded)
