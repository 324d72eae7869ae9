"""Diff stage: dumps → snapshots → what is new against everything seen before.

Every dump is parsed (and every URL downloaded) before anything is stored, so one bad dump in a
batch changes nothing; the batch is then stored in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from digest.errors import DumpError
from digest.models import IngestResult, Snapshot
from digest.sources import fetch_snapshot, load_snapshot
from digest.store import Store

if TYPE_CHECKING:
    import httpx

DUMP_SUFFIXES = (".txt", ".json", ".jsonl", ".xml", ".atom", ".rss")


def skipped_in(paths: Iterable[Path]) -> list[Path]:
    """What expand_paths leaves out of the directories given: files that are not dumps (by
    their suffix) and subfolders (never read), in name order."""
    skipped: list[Path] = []
    for path in paths:
        if path.is_dir():
            skipped.extend(
                sorted(
                    p for p in path.iterdir() if p.is_dir() or p.suffix.lower() not in DUMP_SUFFIXES
                )
            )
    return skipped


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


def load_all(
    sources: Iterable[Path | str],
    format: str | None = None,
    client: httpx.Client | None = None,
    timeout: float = 30.0,
) -> list[Snapshot]:
    """Parse every source: files, folders (name order) and http(s) URLs, in the order given.

    Without a `client`, one is made (with `timeout`) only when a URL comes up: reading files
    never imports httpx."""
    from digest.sources.fetch import is_url

    snapshots: list[Snapshot] = []
    with ExitStack() as stack:
        for source in sources:
            if isinstance(source, str) and is_url(source):
                if client is None:
                    from digest.sources.fetch import make_client

                    client = stack.enter_context(make_client(timeout))
                snapshots.append(fetch_snapshot(source, client, format))
            else:
                snapshots.extend(load_snapshot(p, format) for p in expand_paths([Path(source)]))
    return snapshots


def ingest_snapshots(
    store: Store,
    snapshots: Iterable[Snapshot],
    clock: Callable[[], dt.datetime],
) -> list[IngestResult]:
    """Store a batch in one transaction: a failure anywhere stores none of it."""
    return store.catalog.ingest_many(list(snapshots), clock())


def ingest_paths(
    store: Store,
    paths: Iterable[Path | str],
    clock: Callable[[], dt.datetime],
    format: str | None = None,
    client: httpx.Client | None = None,
) -> list[IngestResult]:
    """Parse every dump first, then store the batch in one transaction (all or nothing)."""
    return ingest_snapshots(store, load_all(paths, format, client), clock)
