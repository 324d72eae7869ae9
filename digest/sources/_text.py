"""Shared helpers for turning raw dump bytes into clean text."""

from __future__ import annotations

import unicodedata

from digest.errors import DumpError

MAX_DUMP_BYTES = 64 * 1024 * 1024


def decode_dump(data: bytes, source: str) -> str:
    """Decode a dump as UTF-8 text, refusing empty, binary and wrongly encoded input."""
    if not data.strip():
        raise DumpError(f"{source}: the file is empty; pass a dump that lists papers")
    if len(data) > MAX_DUMP_BYTES:
        raise DumpError(
            f"{source}: {len(data):,} bytes is over the {MAX_DUMP_BYTES:,}-byte limit for one dump;"
            " split it into several dumps"
        )
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DumpError(f"{source}: the file is UTF-16; re-save it as UTF-8")
    head = data[:8192]
    if head.count(0) > len(head) // 4 and (
        head[1::2].count(0) > len(head) * 0.4 or head[::2].count(0) > len(head) * 0.4
    ):
        # Text in UTF-16 without a byte-order mark: every other byte is NUL.
        raise DumpError(
            f"{source}: the file looks like UTF-16 (no byte-order mark); re-save it as UTF-8"
        )
    if b"\x00" in head:
        raise DumpError(f"{source}: the file looks binary (NUL bytes); pass a text or JSON dump")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpError(
            f"{source}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " re-save the dump as UTF-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def clean_line(text: str) -> str:
    """Compose accents (NFC), turn no-break and other odd spaces into one plain space, trim."""
    composed = unicodedata.normalize("NFC", text)
    return " ".join(composed.replace("\u00a0", " ").replace("\u202f", " ").split())


def excerpt(text: str, limit: int = 60) -> str:
    """A short, single-line quote of user data for error messages."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
