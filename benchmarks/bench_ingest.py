"""Ingest + diff: digest's set-based SQL merge versus the naive way, measured in one run.

Naive = what a first version would do: load every stored key (arXiv id and folded title) into
Python, compare the dump's papers against them one by one, and INSERT each new paper and each
sighting with its own statement. Both sides start from the same parsed Snapshot and the same
store file, and must find exactly the same new papers.

    .venv/bin/python benchmarks/bench_ingest.py                   # 60 arXiv days + 10k vs 1M
    .venv/bin/python benchmarks/bench_ingest.py --store-size 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from digest.identity import normalise_title, paper_key, title_key
from digest.models import Paper, Snapshot
from digest.sources import load_snapshot
from digest.store import Store

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"
NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
CHUNK = 100_000


def naive_ingest(db: sqlite3.Connection, snapshot: Snapshot, snapshot_id: int) -> int:
    """Load every stored key into Python, then compare and insert one paper at a time."""
    by_id: dict[str, int] = {}
    by_title: dict[str, int] = {}
    for paper_id, arxiv_id, key in db.execute("SELECT id, arxiv_id, title_key FROM papers"):
        if arxiv_id:
            by_id[arxiv_id] = paper_id
        by_title.setdefault(key, paper_id)
    new = 0
    with db:
        for position, paper in enumerate(snapshot.papers):
            key = title_key(paper.title)
            found = by_id.get(paper.arxiv_id or "") or by_title.get(key)
            if found is None:
                found = db.execute(
                    "INSERT INTO papers(arxiv_id, title_key, title, abstract, authors,"
                    " first_snapshot_id, first_seen) VALUES (?, ?, ?, ?, '[]', ?, ?)",
                    (paper.arxiv_id, key, paper.title, paper.abstract, snapshot_id, NOW),
                ).lastrowid
                assert found is not None
                by_title[key] = found
                if paper.arxiv_id:
                    by_id[paper.arxiv_id] = found
                new += 1
            db.execute(
                "INSERT OR IGNORE INTO sightings(snapshot_id, paper_id, position, upvotes)"
                " VALUES (?, ?, ?, ?)",
                (snapshot_id, found, position, paper.upvotes),
            )
    return new


def arxiv_id(i: int) -> str:
    return f"{2000 + i // 100000:04d}.{i % 100000:05d}"


def synthetic(start: int, count: int) -> Snapshot:
    papers = tuple(
        Paper(
            key=paper_key(f"Synthetic paper {i}", arxiv_id(i)),
            title=f"Synthetic paper {i}: graphs, language models and the weather",
            abstract="A short synthetic abstract about graphs and language models.",
            arxiv_id=arxiv_id(i),
            upvotes=i % 97,
        )
        for i in range(start, start + count)
    )
    return Snapshot(
        source=f"synthetic-{start}", format="test", content_hash=f"h{start}-{count}", papers=papers
    )


def build_store(path: str, size: int) -> None:
    """Fill a store with `size` papers through the public API, one chunk per snapshot.

    Runs in a child process, so building the big store does not count towards the memory
    the measured ingest needs."""
    with Store.open(path) as store:
        for start in range(0, size, CHUNK):
            store.catalog.ingest(synthetic(start, min(CHUNK, size - start)), NOW)


def peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss would survive the exec
    of a spawned child and report its parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digest_run(path: str, store_size: int, dump_size: int) -> tuple[float, int, float]:
    """One timed digest ingest, in its own process so its peak memory is its own."""
    dump = synthetic(store_size - dump_size // 2, dump_size)
    with Store.open(path) as store:
        started = time.perf_counter()
        new = len(store.catalog.ingest(dump, NOW).new)
        seconds = time.perf_counter() - started
    return seconds, new, peak_rss_mb()


def timed_runs(
    folder: Path, base: Path, dump: Snapshot, store_size: int, runs: int
) -> Iterator[tuple[float, float, float]]:
    """Time digest and naive on fresh copies of the same store file, interleaved."""
    spawn = multiprocessing.get_context("spawn")
    for run in range(runs):
        fast_file, naive_file = folder / f"fast-{run}.sqlite", folder / f"naive-{run}.sqlite"
        shutil.copyfile(base, fast_file)
        shutil.copyfile(base, naive_file)
        os.sync()  # flush the copies now, not during a timed section
        with spawn.Pool(1) as pool:
            fast, fast_new, fast_rss = pool.apply(
                digest_run, (str(fast_file), store_size, len(dump.papers))
            )
        db = sqlite3.connect(naive_file)
        snapshot_id = db.execute(
            "INSERT INTO snapshots(source, format, content_hash, ingested_at, paper_count)"
            " VALUES ('naive', 'test', 'naive', '', 0)"
        ).lastrowid
        db.commit()
        assert snapshot_id is not None
        normalise_title.cache_clear()  # the digest child started cold too
        started = time.perf_counter()
        naive_new = naive_ingest(db, dump, snapshot_id)
        naive = time.perf_counter() - started
        db.close()
        assert fast_new == naive_new, "both ways must find the same new papers"
        fast_file.unlink()
        naive_file.unlink()
        yield fast, naive, fast_rss


def bench_days(folder: Path, days: Sequence[Snapshot]) -> None:
    with Store.open(folder / "fast.sqlite") as store:
        started = time.perf_counter()
        fast_new = [len(store.catalog.ingest(day, NOW).new) for day in days]
        fast = time.perf_counter() - started
    with Store.open(folder / "naive.sqlite"):
        pass  # same schema, empty
    db = sqlite3.connect(folder / "naive.sqlite")
    started = time.perf_counter()
    naive_new = []
    for number, day in enumerate(days, 1):
        db.execute(
            "INSERT INTO snapshots(id, source, format, content_hash, ingested_at, paper_count)"
            " VALUES (?, 'naive', 'test', ?, '', 0)",
            (number, str(number)),
        )
        naive_new.append(naive_ingest(db, day, number))
    naive = time.perf_counter() - started
    assert fast_new == naive_new, "both ways must find the same new papers"
    papers = sum(len(d.papers) for d in days)
    print(f"60 arXiv days ({papers:,} listed, {sum(fast_new):,} new), whole replay:")
    print(f"  digest {fast:.3f} s   naive {naive:.3f} s   ratio {naive / fast:.1f}x")


def bench_scale(folder: Path, store_size: int, dump_size: int, runs: int) -> None:
    base = folder / "base.sqlite"
    started = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=build_store, args=(str(base), store_size)
    )
    child.start()
    child.join()
    assert child.exitcode == 0
    print(f"(built a {store_size:,}-paper store in {time.perf_counter() - started:.0f} s)")
    # Half the dump is already stored, half is new: the diff has to get both right.
    dump = synthetic(store_size - dump_size // 2, dump_size)
    results = list(timed_runs(folder, base, dump, store_size, runs))
    fast = statistics.median(r[0] for r in results)
    naive = statistics.median(r[1] for r in results)
    ratios = ", ".join(f"{n / f:.0f}x" for f, n, _ in results)
    print(f"{dump_size:,}-paper dump ({dump_size - dump_size // 2:,} new) against {store_size:,}")
    print(
        f"  digest {fast:.3f} s   naive {naive:.3f} s   ratio {naive / fast:.1f}x"
        f" (median of {runs}; each run {ratios})"
    )
    print(
        f"  peak RSS: digest's ingest process {max(r[2] for r in results):,.0f} MB;"
        f" the naive way's process {peak_rss_mb():,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store-size", type=int, default=1_000_000)
    parser.add_argument("--dump-size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if ARXIV.exists():
            days = [load_snapshot(p) for p in sorted(ARXIV.glob("*.jsonl"))]
            bench_days(folder, days)
        bench_scale(folder, args.store_size, args.dump_size, args.runs)


if __name__ == "__main__":
    main()
