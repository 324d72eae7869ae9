"""Files from outside, read bounded: only a regular file is read (a FIFO would block for ever,
a device or /proc file never ends or fails half-way), and never more than a limit, checked
while reading rather than after. Every caller turns `UnreadableFile` into its own one-line
error."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from digest.errors import FileTooLarge, UnreadableFile


@contextlib.contextmanager
def open_regular(path: Path) -> Iterator[BinaryIO]:
    """The regular file at `path`, open for reading (UnreadableFile for a folder, FIFO,
    device, missing or unreadable file): for a caller that reads it in bounded pieces."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; a regular file ignores it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except IsADirectoryError:
        raise UnreadableFile("is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot open it ({_why(exc)})") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise UnreadableFile("is a folder, not a file")
        raise UnreadableFile("is not a regular file (a pipe, socket or device)")
    with os.fdopen(descriptor, "rb") as handle:
        yield handle


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them (UnreadableFile past
    that, or for a folder, FIFO, device, missing or unreadable file)."""
    with open_regular(path) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise UnreadableFile(f"cannot read it ({_why(exc)})") from None
    if len(data) > limit:
        raise FileTooLarge(f"larger than the {limit:,}-byte limit")
    return data


def _why(error: OSError) -> str:
    return error.strerror or errno.errorcode.get(error.errno or 0, type(error).__name__)
