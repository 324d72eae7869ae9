"""Sending: `send_edition` end to end versus replaying pre-built bytes, to one local aiosmtpd.

The sink's own limit is measured first: the same messages, already built, replayed over one
reused smtplib connection (no ranking, rendering, MIME building or ledger writes). Then digest
plans, ranks, renders, builds and sends N personalised digests to the same server, recording
every step in the ledger. Same run, same server, same message sizes.

    .venv/bin/python benchmarks/bench_send.py                      # 5,000 readers, 4 connections
    .venv/bin/python benchmarks/bench_send.py --readers 300 --concurrency 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from digest.deliver import FileTransport, SmtpTransport, send_edition
from digest.demo import free_port
from digest.diff import ingest_paths
from digest.settings import load_settings
from digest.store import Store

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"
NOW = dt.datetime(2025, 3, 20, 7, 0, tzinfo=dt.UTC)
PHRASES = ("language models", "diffusion", "segmentation", "robot", "reasoning", "benchmark")


class Sink:
    """Accepts and counts; keeps nothing (like a relay that queues to disk elsewhere)."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def serve(port: int, counter: Any, stop: Any) -> None:
    """The sink runs in its own process, as a real relay would: it does not share the GIL."""
    controller = Controller(Sink(counter), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def settings_file(folder: Path, port: int, readers: int, concurrency: int) -> Path:
    people = "".join(
        f'[[subscribers]]\nemail = "reader{n}@example.org"\n'
        f'interests = ["{PHRASES[n % len(PHRASES)]}", "{PHRASES[(n * 7) % len(PHRASES)]}"]\n'
        "max_items = 10\n\n"
        for n in range(readers)
    )
    path = folder / "settings.toml"
    path.write_text(
        'database = "digest.sqlite"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nconcurrency = {concurrency}\n'
        "max_messages_per_connection = 100000\n"
        '[sender]\nfrom = "Digest <digest@example.org>"\nbase_url = "https://d.example.org"\n'
        + people
    )
    return path


def timed_replay(port: int, messages: list[bytes], connections: int) -> float:
    """Seconds to replay pre-built messages over `connections` reused connections at once."""

    def replay(share: list[tuple[int, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for n, data in share:
                smtp.sendmail("digest@example.org", [f"reader{n}@example.org"], data)

    numbered = list(enumerate(messages))
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(replay, [numbered[k::connections] for k in range(connections)]))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    import os

    os.environ.setdefault("DIGEST_SECRET_KEY", "bench-secret-key-0123456789")
    spawn = multiprocessing.get_context("spawn")
    counter, stop = spawn.Value("i", 0), spawn.Event()
    port = free_port()
    sink = spawn.Process(target=serve, args=(port, counter, stop))
    sink.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = load_settings(settings_file(folder, port, args.readers, args.concurrency))
            days = sorted(ARXIV.glob("*.jsonl"))[:2]
            with Store.open(settings.database) as store:
                ingest_paths(store, days, lambda: NOW)
            # The exact bytes digest sends, built once through the file transport (not timed).
            outbox = folder / "outbox"
            with Store.open(folder / "scratch.sqlite") as scratch:
                ingest_paths(scratch, days, lambda: NOW)
                send_edition(scratch, settings, FileTransport(outbox), lambda: NOW)
            messages = [p.read_bytes() for p in sorted(outbox.glob("*.eml"))]
            assert len(messages) == args.readers

            replay = timed_replay(port, messages, 1)
            replay_same = timed_replay(port, messages, args.concurrency)

            before = counter.value
            started = time.perf_counter()
            with Store.open(settings.database) as store:
                connections = [SmtpTransport(settings.smtp) for _ in range(args.concurrency)]
                report = send_edition(store, settings, connections, lambda: NOW)
            digest_seconds = time.perf_counter() - started
            assert len(report.sent) == args.readers and counter.value - before == args.readers
    finally:
        stop.set()
        sink.join()
    size = sum(map(len, messages)) / len(messages)
    replay_rate, digest_rate = args.readers / replay, args.readers / digest_seconds
    same_rate = args.readers / replay_same
    print(
        f"{args.readers:,} personalised digests, {size / 1024:.0f} KB each,"
        " local aiosmtpd in its own process"
    )
    print(f"  replay of pre-built bytes, one connection: {replay_rate:,.0f} msg/s (the baseline)")
    print(f"  replay of pre-built bytes, {args.concurrency} connection(s): {same_rate:,.0f} msg/s")
    print(
        f"  digest end to end (rank, render, MIME, ledger, {args.concurrency} connection(s)):"
        f" {digest_rate:,.0f} msg/s = {digest_rate / replay_rate:.0%} of the one-connection"
        f" replay, {digest_rate / same_rate:.0%} of the {args.concurrency}-connection replay"
    )


if __name__ == "__main__":
    main()
