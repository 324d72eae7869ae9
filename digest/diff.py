"""Diff stage: dumps → snapshots → what is new against everything seen before.

Every dump is parsed before anything is stored, so one bad dump in a batch changes nothing;
each dump is then stored in its own transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

from digest.errors import DumpError
from digest.models import IngestResult, Snapshot
from digest.sources import load_snapshot
from digest.store import Store

DUMP_SUFFIXES = (".txt", ".json", ".jsonl", ".xml", ".atom", ".rss")


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory stands for its dump files in name order."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DUMP_SUFFIXES
            )
            if not files:
                raise DumpError(
                    f"{path}: the directory holds no dump files ({', '.join(DUMP_SUFFIXES)})"
                )
            expanded.extend(files)
        else:
            expanded.append(path)
    return expanded


def load_all(paths: Iterable[Path], format: str | None = None) -> list[Snapshot]:
    return [load_snapshot(path, format) for path in expand_paths(paths)]


def ingest_snapshots(
    store: Store,
    snapshots: Iterable[Snapshot],
    clock: Callable[[], dt.datetime],
) -> list[IngestResult]:
    return [store.ingest(snapshot, clock()) for snapshot in snapshots]


def ingest_paths(
    store: Store,
    paths: Iterable[Path],
    clock: Callable[[], dt.datetime],
    format: str | None = None,
) -> list[IngestResult]:
    """Parse every dump first (all-or-nothing), then store each in its own transaction."""
    return ingest_snapshots(store, load_all(paths, format), clock)
