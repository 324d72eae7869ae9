"""Library import of hostile files: what each costs `read_library` (seconds, peak memory of a
fresh process) against an honest BibTeX library of 4,000 entries (6.4 MB, see
bench_library.py) read in the same run. A hostile file must cost no more than a large honest
one; before the caps came first, the `{}` file took 35 s and 705 MB, the macro titles 14 s.

    .venv/bin/python benchmarks/bench_library_hostile.py
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import time
from pathlib import Path

from digest.errors import LibraryError
from digest.library import read_library

MACRO = b"\\foo{x}"


def hostile(kind: str) -> tuple[str, bytes]:
    if kind == "CSL-JSON, 9 MB of {}":
        return "l.json", b"[" + b"{}," * 3_000_000 + b"{}]"
    if kind == "CSL-JSON, 2.7 MB of {} (under the object cap)":
        return "l.json", b"[" + b"{}," * 900_000 + b"{}]"
    if kind == "CSL-JSON nested 60,000 deep":
        return "l.json", b"[" * 60_000
    if kind == "BibTeX, 1 MB of 10 KB \\foo{x} titles":
        return "l.bib", b"".join(
            b"@article{k%d,\n title={%s}\n}\n" % (n, MACRO * 1500) for n in range(94)
        )
    if kind == "BibTeX, 1 MB of 1 KB \\foo{x} titles":
        return "l.bib", b"".join(
            b"@article{k%d,\n title={%d %s}\n}\n" % (n, n, MACRO * 140) for n in range(990)
        )
    if kind == "BibTeX, 2.1 MB of 10 KB \\foo{x} titles":
        return "l.bib", b"".join(
            b"@article{k%d,\n title={%s}\n}\n" % (n, MACRO * 1500) for n in range(199)
        )
    if kind == "RIS, 32 MB of author lines":
        return "l.ris", b"TY  - JOUR\nTI  - t\n" + b"AU  - x\n" * 4_000_000 + b"ER  - \n"
    if kind == "honest BibTeX, 4,000 entries":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_library import library

        return "l.bib", library(4000)
    raise SystemExit(kind)


def measure(kind: str) -> str:
    name, data = hostile(kind)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    try:
        read = read_library(name, data)
        outcome = f"{len(read.entries):,} entries, {len(read.skipped):,} skipped"
    except LibraryError as error:
        outcome = str(error)[:70]
    except Exception as error:  # what an unbounded reader raised: a 500, a traceback
        outcome = f"{type(error).__name__} (not a LibraryError)"
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{kind:48} {len(data) / 1e6:5.1f} MB {took:6.2f} s"
        f"  peak {peak:4.0f} MB (input {before:.0f})  {outcome}"
    )


if __name__ == "__main__":
    kinds = [
        "honest BibTeX, 4,000 entries",
        "CSL-JSON, 9 MB of {}",
        "CSL-JSON, 2.7 MB of {} (under the object cap)",
        "CSL-JSON nested 60,000 deep",
        "BibTeX, 1 MB of 10 KB \\foo{x} titles",
        "BibTeX, 1 MB of 1 KB \\foo{x} titles",
        "BibTeX, 2.1 MB of 10 KB \\foo{x} titles",
        "RIS, 32 MB of author lines",
    ]
    context = multiprocessing.get_context("spawn")  # a fresh process each: its own peak
    for kind in kinds:
        with context.Pool(1) as pool:
            print(pool.apply(measure, (kind,)), flush=True)
