"""Shared helpers for turning raw dump bytes into clean text."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from digest.errors import DumpError, FileTooLarge, UnreadableFile
from digest.safe_files import read_regular
from digest.safe_text import terminal_safe

MAX_DUMP_BYTES = 64 * 1024 * 1024
# Numbers a listing may carry; anything outside is not a real listing (and would not fit the
# store's 64-bit integers).
MAX_UPVOTES = 10**9
MAX_AUTHORS = 100_000


def read_dump(path: Path) -> bytes:
    """A dump file's bytes, never reading more than the size limit (a 3 GB file or /dev/zero is
    refused after MAX_DUMP_BYTES + 1 bytes, not loaded whole)."""
    source = str(path)
    if path.is_dir():
        raise DumpError(f"{source}: is a directory; pass the dump files inside it")
    try:
        return read_regular(path, MAX_DUMP_BYTES)
    except FileTooLarge:
        raise _too_large(source) from None
    except UnreadableFile as exc:
        raise DumpError(f"{source}: {exc}") from None


def _too_large(source: str) -> DumpError:
    return DumpError(
        f"{source}: over the {MAX_DUMP_BYTES:,}-byte limit for one dump; split it into several"
        " dumps"
    )


def decode_dump(data: bytes, source: str) -> str:
    """Decode a dump as UTF-8 text, refusing empty, binary and wrongly encoded input."""
    if not data.strip():
        raise DumpError(f"{source}: the file is empty; pass a dump that lists papers")
    if len(data) > MAX_DUMP_BYTES:
        raise _too_large(source)
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
    if b"\x00" in data:  # anywhere, not only at the start
        offset = data.index(b"\x00")
        raise DumpError(
            f"{source}: the file looks binary (a NUL byte at offset {offset:,}); pass a text or"
            " JSON dump"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpError(
            f"{source}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " re-save the dump as UTF-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# Half of a UTF-16 pair on its own: JSON's (and Python's) "\ud800" escape decodes to one,
# which no UTF-8 text (a file, the store, a page) can hold. A pair decodes to one character.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\[uU]0{0,4}[dD][89a-fA-F]")


def mend_surrogates(value: Any, raw: str) -> Any:
    """A decoded JSON (or Python literal) value with every lone surrogate turned into U+FFFD;
    `raw`, the text it was decoded from, says cheaply whether there can be any."""
    if not _SURROGATE_ESCAPE.search(raw):
        return value
    pending: list[Any] = [value]
    while pending:  # no recursion: a deeply nested document cannot exhaust the stack
        item = pending.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in list(pairs):
            if isinstance(child, str):
                item[key] = _LONE_SURROGATE.sub("\ufffd", child)
            elif isinstance(child, dict | list):
                pending.append(child)
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    return value


def clean_line(text: str) -> str:
    """Compose accents (NFC), drop control characters and direction overrides, turn no-break
    and other odd spaces into one plain space, trim."""
    composed = terminal_safe(unicodedata.normalize("NFC", text))
    return " ".join(composed.replace("\u00a0", " ").replace("\u202f", " ").split())


def count_in_range(value: int, what: str, where: str, maximum: int) -> int:
    """A count from a dump, or DumpError naming it: negative or absurd numbers mean the dump is
    not a real listing."""
    if not 0 <= value <= maximum:
        # str() of a huge int raises (Python limits int-to-text conversion to 4300 digits).
        digits = int(value.bit_length() * 0.30103) + 1
        shown = str(value) if digits <= 20 else f"a number of about {digits:,} digits"
        raise DumpError(f"{where}: {what} {shown} is out of range (0 to {maximum:,})")
    return value


def excerpt(text: str, limit: int = 60) -> str:
    """A short, single-line quote of user data for error messages."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
