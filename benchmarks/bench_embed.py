"""Embedding a day of papers at ingest: papers per second of MiniLM (int8 ONNX, 256 tokens) the
way digest runs it (sorted-by-length batches, 2 intra-op threads), the naive ways (one paper
at a time; batches in listing order), and wordllama, the fallback. Run it pinned to one core
for the issue's "1,000 papers in under 20 s on one core" (50 papers/s):

    taskset -c 1 .venv/bin/python benchmarks/bench_embed.py --papers 1000
    .venv/bin/python benchmarks/bench_embed.py --papers 200        # a quicker look

Each figure is wall-clock time over the same papers (title + abstract, as stored); CPU time is
printed beside it (on a shared machine it is the steadier figure).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from digest.rank import encoders
from digest.rank.vectors import text_of
from digest.sources import load_snapshot

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"


def _texts(count: int) -> list[str]:
    texts: list[str] = []
    for day in sorted(ARXIV.glob("*.jsonl")):
        texts.extend(text_of(p) for p in load_snapshot(day).papers)
        if len(texts) >= count:
            break
    return texts[:count]


def _measure(name: str, embed: Callable[[Sequence[str]], np.ndarray], texts: list[str]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = embed(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(vectors) == len(texts)
    print(
        f"{name:48} {len(texts) / wall:8.1f} papers/s  ({wall:6.1f} s wall, {cpu:6.1f} s CPU,"
        f" {len(texts) / cpu:6.1f} papers per CPU-second)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--naive-papers", type=int, default=100, help="for the slow naive ways")
    args = parser.parse_args()
    texts = _texts(args.papers)
    print(f"{len(texts)} arXiv papers, {np.mean([len(t) for t in texts]):.0f} characters mean")
    minilm = encoders.minilm()
    minilm.embed(texts[:4])  # the session's first run allocates
    _measure("minilm, sorted batches of 32, 2 threads", minilm.embed, texts)
    encoders.THREADS = 1
    single = encoders.minilm()
    _measure("minilm, sorted batches of 32, 1 thread", single.embed, texts)
    naive = texts[: args.naive_papers]

    def one_at_a_time(chunk: Sequence[str]) -> np.ndarray:
        return np.concatenate([minilm.embed([t]) for t in chunk])

    def listing_order(chunk: Sequence[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(chunk), encoders.BATCH):
            rows.append(minilm.embed(chunk[start : start + encoders.BATCH]))  # pads to its longest
        return np.concatenate(rows)

    _measure(f"minilm, one paper at a time ({len(naive)})", one_at_a_time, naive)
    _measure(f"minilm, batches in listing order ({len(naive)})", listing_order, naive)
    wordllama = encoders.wordllama()
    if wordllama is not None:
        _measure("wordllama", wordllama.embed, texts)


if __name__ == "__main__":
    main()
