"""Where bounces are read from: a message file, a Maildir folder, a plain folder of message
files or an mbox file. Each message
is handed over as bytes with a name to show and a key that stays the same however often it is
read (so a message processed twice counts once).

Nothing is read past MAX_BYTES of one message (an mbox is read as a stream, never whole), and
only regular files are read (digest.safe_files: a FIFO or a device is refused unread). A
message that cannot be read (too large, a FIFO, no permission, an I/O error) is handed over
without its bytes and with the reason, so the rest of the folder is still read; only a path
given that cannot be read at all is a BounceError."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import BounceError, FileTooLarge, UnreadableFile
from digest.safe_files import open_regular, read_regular

MAX_BYTES = 16 * 1024 * 1024  # a bounce returns a message; no real one comes near this
_HEAD = 65536  # what names a message too large to read (with its size)
_PIECE = 65536  # an mbox is read a line at a time, a longer line in pieces of this size


@dataclass(frozen=True, slots=True)
class Raw:
    """One message as read: where it came from, its bytes (None if it could not be read, and
    `problem` says why), its key."""

    source: str
    data: bytes | None
    key: str
    size: int
    problem: str = ""


def event_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def too_large() -> str:
    return f"larger than {MAX_BYTES // 2**20} MB"


def as_raw(source: str, data: bytes, size: int | None = None) -> Raw:
    """A message's bytes as read (`size`: its whole size, when only its start was read)."""
    size = len(data) if size is None else size
    if size > MAX_BYTES:
        return Raw(source, None, event_key(data[:_HEAD]) + f":{size}", size, too_large())
    return Raw(source, data, event_key(data), size)


def oversized(source: str, size: int) -> Raw:
    """A message over MAX_BYTES, not read at all (its size was told first)."""
    return Raw(source, None, f"unreadable:{source}", size, too_large())


def unreadable(source: str, problem: str) -> Raw:
    """A message that could not be read at all."""
    return Raw(source, None, f"unreadable:{source}", 0, problem)


def read_file(path: Path, source: str) -> Raw:
    """One message file (only a regular file is read, never past MAX_BYTES)."""
    try:
        return as_raw(source, read_regular(path, MAX_BYTES))
    except FileTooLarge:
        return oversized(source, MAX_BYTES + 1)
    except UnreadableFile as exc:
        return unreadable(source, str(exc))


def check_path(path: Path) -> bytes:
    """A path given to read bounces from: its first bytes (b"" for a folder), or BounceError
    in one line unless it is a folder or a regular file that can be read."""
    if path.is_dir():
        return b""
    try:
        with open_regular(path) as handle:
            return handle.read(5)
    except UnreadableFile as exc:
        raise BounceError(
            f"{path}: {exc}; name a message file, a folder of them, a Maildir or an mbox"
        ) from None
    except OSError as exc:
        raise BounceError(f"{path}: cannot read it ({exc.strerror})") from None


def read_path(path: Path) -> Iterator[Raw]:
    """The messages at `path`: a Maildir (a folder with cur/ and new/), a plain folder of
    message files (an export's or archive's .eml files; an mbox among them is read as one),
    an mbox (a file whose first line starts with "From "), or one message file. BounceError
    for a path that is none of these or cannot be read."""
    head = check_path(path)
    if is_maildir(path):
        for entry in maildir_entries(path):
            yield read_file(entry.path, f"{path}:{entry.key}")
    elif path.is_dir():
        yield from _plain_folder(path)
    elif head == b"From ":
        yield from _mbox(path)
    else:
        yield read_file(path, str(path))


def is_maildir(folder: Path) -> bool:
    return (folder / "cur").is_dir() or (folder / "new").is_dir()


def _plain_folder(folder: Path) -> Iterator[Raw]:
    """Every file directly in a folder that is no Maildir, by name (hidden files and
    sub-folders left alone); one that cannot be read is handed over with the reason."""
    try:
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise BounceError(f"{folder}: cannot list it ({exc.strerror})") from None
    for name in names:
        path = folder / name
        if path.is_dir():
            continue
        try:
            with open_regular(path) as handle:
                head = handle.read(5)
        except (UnreadableFile, OSError) as exc:
            yield unreadable(str(path), str(exc))
            continue
        yield from _mbox(path) if head == b"From " else (read_file(path, str(path)),)


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a Maildir, as its file name tells: its unique name (the key), where it
    is, and its flags ("S" once seen)."""

    key: str
    path: Path
    flags: str


def maildir_entries(folder: Path) -> list[Entry]:
    """The messages in a Maildir's new/ and cur/, by key, from their names alone (nothing is
    opened). BounceError for a folder that is no Maildir or cannot be listed."""
    if not is_maildir(folder):
        raise BounceError(
            f"{folder}: a folder that is no Maildir (no cur/ or new/); name a message file,"
            " a Maildir or an mbox"
        )
    found = []
    for sub in ("new", "cur"):
        try:
            paths = list((folder / sub).iterdir())
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BounceError(f"{folder / sub}: cannot list it ({exc.strerror})") from None
        for path in paths:
            if path.name.startswith(".") or path.is_dir():
                continue
            key, _, info = path.name.partition(":")
            flags = info[2:] if info.startswith("2,") else ""
            found.append(Entry(key, path, flags))
    return sorted(found, key=lambda entry: entry.key)


def _mbox(path: Path) -> Iterator[Raw]:
    """An mbox, message by message, as a stream: a line at a time (a longer one in pieces),
    never more than MAX_BYTES of one message kept. Messages start at each "From " line at a
    line start, as Python's mailbox module splits them, so a broken one only cuts a message
    in two, and both halves are still read; the same bytes make the same keys."""
    message: _Message | None = None
    number, at_line_start, in_separator = 0, True, False
    try:
        with open_regular(path) as handle:
            while piece := handle.readline(_PIECE):
                if at_line_start and piece.startswith(b"From "):
                    if message is not None:
                        yield message.raw()
                    number += 1
                    message, in_separator = _Message(f"{path}#{number}"), True
                elif message is not None and not in_separator:
                    message.add(piece, whole_line=at_line_start)
                at_line_start = piece.endswith(b"\n")
                in_separator = in_separator and not at_line_start
    except (OSError, UnreadableFile) as exc:  # the rest cannot be read: its messages are not
        yield unreadable(f"{path}#{max(number, 1)}", f"{exc}; the rest of the mbox unread")
        return
    if message is not None:
        yield message.raw()


class _Message:
    """One mbox message being read: its first MAX_BYTES + 1 bytes and its size."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.kept = bytearray()
        self.size = 0
        self.last_line_empty = False  # dropped: it separates this message from the next

    def add(self, piece: bytes, *, whole_line: bool) -> None:
        if self.last_line_empty:
            self._keep(b"\n")
        self.last_line_empty = whole_line and piece == b"\n"
        if not self.last_line_empty:
            self._keep(piece)

    def _keep(self, piece: bytes) -> None:
        self.size += len(piece)
        room = MAX_BYTES + 1 - len(self.kept)
        if room > 0:
            self.kept += piece[:room]

    def raw(self) -> Raw:
        kept = self.kept if self.size <= MAX_BYTES else self.kept[:_HEAD]
        return as_raw(self.source, bytes(kept), self.size)
