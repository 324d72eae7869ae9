"""The store under trouble: a damaged file, a full disk, a read-only file, another writer.
Each is one line naming the file and the fix (exit 4 from the CLI), never a traceback, and
readers never wait for a writer."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from digest.diff import ingest_paths
from digest.errors import StoreBusy, StoreError
from digest.store import Store

from .conftest import (
    EXAMPLES,
    FIXED_NOW,
    Ran,
    assert_clean_error,
    fixed_clock,
    run,
    write_settings,
)


def _filled(folder: Path) -> Path:
    write_settings(folder)
    assert run("ingest", EXAMPLES / "dumps", cwd=folder).returncode == 0
    return folder / "digest.sqlite"


def test_damaged_pages_are_one_line_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    database = _filled(tmp_path)
    with database.open("r+b") as handle:  # overwrite every page after the header page
        size = database.stat().st_size
        handle.seek(4096)
        handle.write(b"\xff" * (size - 4096))
    for command in (["history"], ["changes"], ["export"], ["ingest", EXAMPLES / "dumps"]):
        result = run(*command, cwd=tmp_path)
        assert_clean_error(result, 4, "is damaged")
        assert str(database.name) in result.stderr and ".recover" in result.stderr


def test_a_full_disk_stores_nothing_and_says_so(tmp_path: Path) -> None:
    with Store.open(tmp_path / "d.sqlite") as store:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full
        with pytest.raises(StoreError, match=r"disk is full .*free some space"):
            ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        assert store.counts()["snapshots"] == 0


def test_readers_open_without_the_write_lock(tmp_path: Path) -> None:
    database = _filled(tmp_path)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long write in another process
    try:
        with Store.open(database, timeout=0.1) as store:  # opening needs no write lock
            assert store.counts()["snapshots"] == 3
            with pytest.raises(StoreBusy, match="busy"):
                store.readers.unsubscribe("ada@example.org", FIXED_NOW)
        result = run("history", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.skipif(not shutil.which("runuser") and os.geteuid() == 0, reason="needs runuser")
@pytest.mark.integration
def test_history_works_on_a_read_only_database(tmp_path: Path) -> None:
    database = _filled(tmp_path)
    with Store.open(database) as store:
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(database, folder / "digest.sqlite")
    shutil.copy(tmp_path / "settings.toml", folder / "settings.toml")
    (folder / "digest.sqlite").chmod(0o444)
    folder.chmod(0o555)
    tmp_path.chmod(0o755)
    try:
        command = ["-m", "digest", "--settings", str(folder / "settings.toml"), "history"]
        if os.geteuid() == 0:  # root ignores file modes: read as an ordinary user
            import sys

            probe = subprocess.run(
                ["runuser", "-u", "nobody", "--", sys.executable, "-c", "import digest"],
                capture_output=True,
                cwd="/",
                check=False,
            )
            if probe.returncode != 0:
                pytest.skip("user nobody cannot run this checkout's Python (folder permissions)")
            for parent in folder.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o005)
            result: Ran | subprocess.CompletedProcess[str] = subprocess.run(
                ["runuser", "-u", "nobody", "--", sys.executable, *command],
                capture_output=True,
                text=True,
                cwd="/",
                env={"DIGEST_SECRET_KEY": "x" * 20, "PATH": os.environ["PATH"]},
                check=False,
            )
        else:
            result = run(*command[3:], cwd=folder)
        assert result.returncode == 0, result.stderr
        assert "page-meta" in result.stdout and "page-spaced" in result.stdout
        assert sorted(p.name for p in folder.iterdir()) == ["digest.sqlite", "settings.toml"]
    finally:
        folder.chmod(0o755)
