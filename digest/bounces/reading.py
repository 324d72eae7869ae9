"""Where bounces are read from: a message file, a Maildir folder or an mbox file. Each message
is handed over as bytes with a name to show and a key that stays the same however often it is
read (so a message processed twice counts once). A message over MAX_BYTES is not read."""

from __future__ import annotations

import hashlib
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import BounceError

MAX_BYTES = 16 * 1024 * 1024  # a bounce returns a message; no real one comes near this


@dataclass(frozen=True, slots=True)
class Raw:
    """One message as read: where it came from, its bytes (None if too large), its key."""

    source: str
    data: bytes | None
    key: str
    size: int


def event_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def as_raw(source: str, data: bytes) -> Raw:
    if len(data) > MAX_BYTES:
        return Raw(source, None, event_key(data[:65536]) + f":{len(data)}", len(data))
    return Raw(source, data, event_key(data), len(data))


def read_path(path: Path) -> Iterator[Raw]:
    """The messages at `path`: a Maildir (a folder with cur/ and new/), an mbox (a file whose
    first line starts with "From "), or one message file. BounceError for a path that is
    none of these."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise BounceError(
                f"{path}: a folder that is no Maildir (no cur/ or new/); name a message file,"
                " a Maildir or an mbox"
            )
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.keys()):
            with box.get_file(key) as handle:
                yield as_raw(f"{path}:{key}", handle.read(MAX_BYTES + 1))
        return
    if not path.is_file():
        raise BounceError(f"{path}: no such file or folder")
    with path.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        yield from _mbox(path)
        return
    with path.open("rb") as handle:
        yield as_raw(str(path), handle.read(MAX_BYTES + 1))


def _mbox(path: Path) -> Iterator[Raw]:
    """An mbox, message by message. Python's reader splits on every "From " line at a line
    start, so a broken one only cuts a message in two, and both halves are still read."""
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for number, key in enumerate(box.keys(), 1):
            yield as_raw(f"{path}#{number}", box.get_bytes(key))
    finally:
        box.close()
