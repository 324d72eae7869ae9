"""Files from outside are read only when they are regular files, and never past a limit
(digest.safe_files): a FIFO, a device, a folder or a kernel file is one clear refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digest.errors import DumpError, FileTooLarge, SubscriberError, UnreadableFile
from digest.safe_files import read_regular
from digest.sources._text import read_dump
from digest.subscribers import read_csv
from digest.web.operator import is_operator


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_regular(fifo, 100)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        (Path("/dev/zero"), "not a regular file"),
        (Path("/proc/self/mem"), "cannot read it"),
        (Path("/nowhere/at/all"), "no such file"),
    ],
)
def test_devices_kernel_files_and_missing_files_are_refused(path: Path, says: str) -> None:
    with pytest.raises(UnreadableFile, match=says):
        read_regular(path, 100)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="folder"):
        read_regular(tmp_path, 100)


def test_nothing_past_the_limit_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    with pytest.raises(FileTooLarge):
        read_regular(path, 100)
    assert read_regular(path, 101) == b"x" * 101


def test_ingest_and_the_subscribers_csv_refuse_a_fifo_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DumpError, match="not a regular file"):
        read_dump(fifo)
    with pytest.raises(SubscriberError, match="not a regular file"):
        read_csv(fifo)
    with pytest.raises(SubscriberError, match="not a regular file"):
        read_csv(Path("/dev/zero"))


@pytest.mark.parametrize(
    "header", ["Basic pässwörd:é", "Basic !!!", "Basic " + "é" * 10, "Bearer é" * 3]
)
def test_an_operator_credential_that_is_not_ascii_is_refused_not_an_error(header: str) -> None:
    assert not is_operator(header, "operator-token-0123456789abcdef")
