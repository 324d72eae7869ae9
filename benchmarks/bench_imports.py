"""Start-up: how long `digest --help` and `from digest.store import Store` take in a fresh
interpreter, against `python -c pass` and against importing the whole package eagerly (what
every command paid before the names were made lazy), all measured in one run.

    .venv/bin/python benchmarks/bench_imports.py            # 15 runs of each, medians
    .venv/bin/python benchmarks/bench_imports.py --runs 31
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": ["-c", "pass"],
    "digest --help": ["-m", "digest", "--help"],
    "from digest.store import Store": ["-c", "from digest.store import Store"],
    "eager: every module of the CLI": [
        "-c",
        "import digest.cli, digest.editions, digest.deliver, digest.rank, digest.render,"
        " digest.settings, digest.store",
    ],
}


def median_seconds(arguments: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *arguments], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    found = {name: median_seconds(arguments, runs) for name, arguments in CASES.items()}
    base, eager = found["python -c pass"], found["eager: every module of the CLI"]
    for name, seconds in found.items():
        print(
            f"{name:32} {seconds:6.3f} s  {seconds / base:5.1f}x python -c pass"
            f"  {seconds / eager:5.2f} of eager"
        )


if __name__ == "__main__":
    main()
