"""Ingest + diff: digest's set-based SQL merge versus the naive way, measured in one run.

Naive = what a first version would do: load every stored key into Python, compare the dump's
papers one by one against them, and INSERT each new paper with its own statement.

    .venv/bin/python benchmarks/bench_ingest.py                  # 60 arXiv days + 10k vs 200k
    .venv/bin/python benchmarks/bench_ingest.py --store-size 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from digest.identity import paper_key
from digest.models import Paper, Snapshot
from digest.sources import load_snapshot
from digest.store import Store

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def naive_ingest(db: sqlite3.Connection, snapshot: Snapshot) -> int:
    known = {row[0] for row in db.execute("SELECT key FROM papers")}
    new = 0
    with db:
        for paper in snapshot.papers:
            if paper.key not in known:
                db.execute(
                    "INSERT INTO papers(key, title, abstract) VALUES (?, ?, ?)",
                    (paper.key, paper.title, paper.abstract),
                )
                known.add(paper.key)
                new += 1
    return new


def naive_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE papers (key TEXT PRIMARY KEY, title TEXT, abstract TEXT)")
    return db


def synthetic(start: int, count: int) -> Snapshot:
    papers = tuple(
        Paper(
            key=paper_key(f"Synthetic paper {i}", f"{2000 + i // 100000:04d}.{i % 100000:05d}"),
            title=f"Synthetic paper {i}",
            abstract="A short synthetic abstract about graphs and language models.",
            arxiv_id=f"{2000 + i // 100000:04d}.{i % 100000:05d}",
        )
        for i in range(start, start + count)
    )
    return Snapshot(
        source=f"synthetic-{start}", format="test", content_hash=f"h{start}-{count}", papers=papers
    )


def bench_days(folder: Path, days: Sequence[Snapshot]) -> None:
    with Store.open(folder / "fast.sqlite") as store:
        started = time.perf_counter()
        fast_new = [len(store.ingest(day, NOW).new) for day in days]
        fast = time.perf_counter() - started
    db = naive_db(folder / "naive.sqlite")
    started = time.perf_counter()
    naive_new = [naive_ingest(db, day) for day in days]
    naive = time.perf_counter() - started
    assert fast_new == naive_new, "both ways must find the same new papers"
    papers = sum(len(d.papers) for d in days)
    print(f"60 arXiv days ({papers:,} listed, {sum(fast_new):,} new):")
    print(f"  digest {fast:.3f} s   naive {naive:.3f} s   ratio {naive / fast:.1f}x")


def bench_scale(folder: Path, store_size: int, dump_size: int) -> None:
    base = synthetic(0, store_size)
    # Half the dump is already stored, half is new: the diff has to get both right.
    dump = synthetic(store_size - dump_size // 2, dump_size)
    with Store.open(folder / "scale-fast.sqlite") as store:
        store.ingest(base, NOW)
        started = time.perf_counter()
        fast_new = len(store.ingest(dump, NOW).new)
        fast = time.perf_counter() - started
    db = naive_db(folder / "scale-naive.sqlite")
    with db:
        db.executemany(
            "INSERT INTO papers VALUES (?, ?, ?)",
            ((p.key, p.title, p.abstract) for p in base.papers),
        )
    started = time.perf_counter()
    naive_new = naive_ingest(db, dump)
    naive = time.perf_counter() - started
    assert fast_new == naive_new == dump_size - dump_size // 2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{dump_size:,}-paper dump against a store of {store_size:,} papers:")
    print(
        f"  digest {fast:.3f} s   naive {naive:.3f} s   ratio {naive / fast:.1f}x"
        f"   (peak RSS of this whole script {peak_mb:,.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store-size", type=int, default=200_000)
    parser.add_argument("--dump-size", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if ARXIV.exists():
            days = [load_snapshot(p) for p in sorted(ARXIV.glob("*.jsonl"))]
            bench_days(folder, days)
        bench_scale(folder, args.store_size, args.dump_size)


if __name__ == "__main__":
    main()
