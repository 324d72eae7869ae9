"""The whole daily run at scale: import N diverse readers from CSV, ingest a week of arXiv
listings and today's, then send today's edition (rank, render, MIME, ledger, SMTP to a local
aiosmtpd in its own process). Prints each stage's time and the process's peak memory after it.

Readers are diverse (2-4 phrases each from a pool of real title phrases, see bench_send.py), so
nearly every one gets different papers. Targets (issue 15): 100,000 readers in under 10 minutes
on a 2-core machine, peak memory under 2 GB.

    .venv/bin/python benchmarks/bench_daily.py                    # 100,000 readers
    .venv/bin/python benchmarks/bench_daily.py --readers 5000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import resource
import tempfile
import time
from pathlib import Path

from bench_send import ARXIV, NOW, phrase_pool, settings_file, start_sink

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.settings import load_settings
from digest.store import Store
from digest.subscribers import read_csv


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_readers(path: Path, count: int, pool: list[str]) -> None:
    rng = random.Random(5)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "interests", "max_items"])
        for n in range(count):
            writer.writerow(
                [f"reader{n}@example.org", ";".join(rng.sample(pool, rng.randint(2, 4))), 10]
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    sink, port, counter, stop = start_sink()
    stages: list[tuple[str, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = load_settings(settings_file(folder, port, args.concurrency))
            files = sorted(ARXIV.glob("*.jsonl"))
            history, today = files[:6], files[6]
            csv_path = folder / "readers.csv"
            write_readers(csv_path, args.readers, phrase_pool(history))
            started = time.perf_counter()
            rows = read_csv(csv_path)
            with Store.open(settings.database) as store:
                store.readers.upsert_subscribers(rows, NOW)
            del rows
            stages.append(
                ("import readers (CSV, validated)", time.perf_counter() - started, peak_mb())
            )
            started = time.perf_counter()
            with Store.open(settings.database) as store:
                ingest_paths(store, history, lambda: NOW - dt.timedelta(days=8))
                ingest_paths(store, [today], lambda: NOW)
            stages.append(("ingest 7 arXiv days", time.perf_counter() - started, peak_mb()))
            started = time.perf_counter()
            with Store.open(settings.database) as store:
                connections = [SmtpTransport(settings.smtp) for _ in range(args.concurrency)]
                report = send_edition(store, settings, connections, lambda: NOW)
            seconds = time.perf_counter() - started
            stages.append(
                (
                    f"send: rank, render, MIME, ledger, SMTP ({len(report.sent):,} mailed)",
                    seconds,
                    peak_mb(),
                )
            )
            assert counter.value == len(report.sent)
    finally:
        stop.set()
        sink.join()
    print(f"daily run for {args.readers:,} diverse readers, {args.concurrency} SMTP connection(s)")
    for name, seconds, memory in stages:
        print(f"  {name:<60} {seconds:8.1f} s   peak {memory:,.0f} MB")
    total = sum(seconds for _, seconds, _ in stages)
    print(
        f"  {'total':<60} {total:8.1f} s   ({len(report.sent) / stages[-1][1]:,.0f} msg/s sending)"
    )


if __name__ == "__main__":
    main()
