"""Two `digest ingest` processes on one store at the same time: no corruption, no double count."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CORPORA, shared_or_skip, write_settings

pytestmark = pytest.mark.integration


def _start(settings: Path, days: list[Path], cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SETTINGS"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "--settings",
            str(settings),
            "ingest",
            "--json",
            *map(str, days),
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_ingesting_overlapping_days(tmp_path: Path) -> None:
    days = sorted(shared_or_skip(CORPORA / "arxiv-daily").glob("*.jsonl"))[:40]
    settings = write_settings(tmp_path)
    # Overlapping halves, the second in reverse, so the two writers meet in the middle.
    first, second = days[:28], list(reversed(days[12:]))
    processes = [_start(settings, first, tmp_path), _start(settings, second, tmp_path)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    reports = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    announced = [paper["id"] for report in reports for paper in report["new"]]
    expected = {
        json.loads(line)["id"] for day in days for line in day.read_text().splitlines() if line
    }
    assert len(announced) == len(set(announced)), "a paper was announced twice"
    assert set(announced) == expected
    db = sqlite3.connect(tmp_path / "digest.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM papers").fetchone()[0] == len(expected)
    distinct_dumps = len({day.read_bytes() for day in days})
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == distinct_dumps
    # Every listing of every stored dump is recorded exactly once.
    assert (
        db.execute(
            "SELECT count(*) FROM (SELECT snapshot_id, paper_id FROM sightings"
            " GROUP BY 1, 2 HAVING count(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    db.close()


def test_processes_making_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    """SQLite may answer "busy" at once, without waiting, to processes making one new file
    together (waiting could deadlock); opening tries again within its timeout. Seen once in a
    full run as a failed `digest ingest` in the test above."""
    code = "import sys\nfrom digest.store import Store\nStore.open(sys.argv[1]).close()"
    for attempt in range(3):
        path = tmp_path / f"new-{attempt}.sqlite"
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True
            )
            for _ in range(8)
        ]
        errors = [opener.communicate(timeout=120)[1] for opener in openers]
        assert [opener.returncode for opener in openers] == [0] * 8, errors
        db = sqlite3.connect(path)
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        db.close()
        assert version is not None
