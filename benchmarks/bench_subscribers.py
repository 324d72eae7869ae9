"""Subscribers at scale: `digest subscribers import` of a 100,000-row CSV, and reading everyone
back for a send, versus the naive way, measured in one run.

Naive = what a first version would do: validate each row, then INSERT it in a transaction of its
own (as calling `digest subscribers add` once per row would, minus the process start-up).
digest validates every row first (so a bad row imports nothing), then writes them all with one
executemany in one transaction. Both end with the same rows in the table.

    .venv/bin/python benchmarks/bench_subscribers.py                  # 100,000 rows
    .venv/bin/python benchmarks/bench_subscribers.py --rows 20000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from digest.profile import ProfileInput, validated_row
from digest.settings import Settings
from digest.store import Store
from digest.subscribers import all_subscribers, read_csv

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
TOPICS = ("language models", "diffusion", "robot learning", "graph neural networks", "speech")


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "interests", "max_items", "send_at", "timezone"])
        for n in range(rows):
            writer.writerow(
                [
                    f"reader{n}@example.org",
                    f"Reader {n}",
                    f"{TOPICS[n % 5]};{TOPICS[(n * 3) % 5]}^2",
                    5 + n % 10,
                    f"{6 + n % 3:02d}:30",
                    ("UTC", "Europe/Berlin", "America/New_York")[n % 3],
                ]
            )


def naive_import(path: Path, database: Path) -> None:
    with Store.open(database):
        pass  # the same schema
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            row = validated_row(
                ProfileInput(
                    email=record["email"],
                    name=record["name"],
                    interests=record["interests"].split(";"),
                    max_items=record["max_items"],
                    send_at=record["send_at"],
                    timezone=record["timezone"],
                )
            )
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO subscribers(email, name, profile, send_at, timezone, weekdays_only,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.email,
                    row.name,
                    json.dumps(row.profile),
                    row.send_at,
                    row.timezone,
                    row.weekdays_only,
                    NOW.isoformat(),
                    NOW.isoformat(),
                ),
            )
            db.execute("COMMIT")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "subscribers.csv"
        write_csv(source, args.rows)

        started = time.perf_counter()
        naive_import(source, folder / "naive.sqlite")
        naive = time.perf_counter() - started

        started = time.perf_counter()
        rows = read_csv(source)
        with Store.open(folder / "digest.sqlite") as store:
            added = store.readers.upsert_subscribers(rows, NOW)
        digest = time.perf_counter() - started
        assert added == args.rows

        started = time.perf_counter()
        with Store.open(folder / "digest.sqlite") as store:
            people = all_subscribers(Settings(), store)
        load = time.perf_counter() - started
        assert len(people) == args.rows
        with Store.open(folder / "naive.sqlite") as naive_store:
            assert len(naive_store.readers.subscriber_rows()) == args.rows
    print(f"{args.rows:,} subscribers from CSV (validated addresses, zones, send times)")
    print(f"  naive (a transaction per row): {naive:.2f} s")
    print(
        f"  digest import (validate all, one transaction): {digest:.2f} s -> {naive / digest:.1f}x"
    )
    print(f"  reading all {args.rows:,} back as Subscriber records for a send: {load:.2f} s")


if __name__ == "__main__":
    main()
