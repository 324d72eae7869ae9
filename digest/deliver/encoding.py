"""Transfer encoding for the message's parts: quoted-printable with CRLF line ends, and an HTML
part assembled from pieces, where the long pieces many messages share (a paper's card, the
template's text) are encoded once (cached) and only the rest is encoded per message."""

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


# A piece at least this long is encoded once and kept (cards, the template's text, an edition's
# shared rendering); shorter ones, the reader's own values among them, are encoded as they come.
LONG_PIECE = 256


@functools.lru_cache(maxsize=8192)
def _encoded_piece(piece: str) -> bytes:
    return room_for_soft_break(quoted_printable(piece))


def encode_pieces(pieces: Sequence[str]) -> bytes:
    """Quoted-printable of the pieces joined, each long piece encoded on its own (cached: it
    recurs in many messages), runs of short ones together, joined by soft breaks; decodes to
    the same text as encoding the whole at once. A text with a bare CR must be encoded whole
    (its line ends fold across pieces): callers check."""
    encoded: list[bytes] = []
    short: list[str] = []
    for piece in pieces:
        if len(piece) < LONG_PIECE:
            short.append(piece)
            continue
        if short:
            encoded.append(room_for_soft_break(quoted_printable("".join(short))))
            short.clear()
        encoded.append(_encoded_piece(piece))
    if short:
        encoded.append(quoted_printable("".join(short)))
    return SOFT_BREAK.join(encoded)
