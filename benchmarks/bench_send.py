"""Sending: `send_edition` end to end versus replaying pre-built bytes, to one local aiosmtpd.

The sink's own limit is measured first: the same messages, already built, replayed over the
same number of reused smtplib connections (no ranking, rendering, MIME building or ledger
writes). Then digest plans, ranks, renders, builds and sends N personalised digests to the same
server, recording every step in the ledger. Same run, same server, same messages. A third line
runs the send once more with every message's bytes built beforehand: what planning, claims,
the ledger's transaction per message and SMTP alone allow (the bound rendering never beats).

Readers are "diverse" by default: 2-4 interest phrases each, drawn from a pool of a few hundred
phrases taken from real arXiv titles (earlier days than the one sent), so nearly every reader
gets different papers and no rendering is shared. `--profiles shared` gives the old case (six
profiles, shared renderings); `both` prints both lines.

    .venv/bin/python benchmarks/bench_send.py          # 10,000 diverse readers, 2 connections
    .venv/bin/python benchmarks/bench_send.py --readers 1000 --profiles both
    .venv/bin/python benchmarks/bench_send.py --senders 1,2   # PostgreSQL: 1 vs 2 processes

With `--senders`, the store is on a PostgreSQL server started for the run, and that many real
`digest send` processes (each with `--concurrency` connections) share one edition; the line
compares them with one process, in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import multiprocessing
import smtplib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from digest.deliver import FileTransport, SmtpTransport
from digest.demo import free_port
from digest.diff import ingest_paths
from digest.editions import SendReport, send_edition
from digest.settings import load_settings
from digest.store import Store

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"
NOW = dt.datetime(2025, 3, 20, 7, 0, tzinfo=dt.UTC)
PHRASES = ("language models", "diffusion", "segmentation", "robot", "reasoning", "benchmark")
POOL_SIZE = 300
STOP_WORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "based", "by", "for", "from", "in", "into"),
        *("is", "of", "on", "or", "the", "to", "via", "with", "without", "towards", "toward"),
        *("using", "its", "their", "our", "we", "do", "does", "can", "more", "than", "over"),
    }
)


class Usage:
    """CPU seconds spent over a stretch of a run, from /proc (Linux): the whole machine's busy
    time, the sink's, this process's (every thread) and its finished children's (senders)."""

    def __init__(self, sink_pid: int) -> None:
        self.sink_pid = sink_pid
        self.started = self._now()
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        import os
        import resource

        ticks = os.sysconf("SC_CLK_TCK")
        cpu = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        sink = Path(f"/proc/{self.sink_pid}/stat").read_text().rsplit(")", 1)[1].split()
        own, children = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "machine": (sum(cpu) - cpu[3] - cpu[4]) / ticks,  # all but idle and iowait
            "capacity": sum(cpu) / ticks,
            "sink": (int(sink[11]) + int(sink[12])) / ticks,
            "digest": own.user + own.system + children.ru_utime + children.ru_stime,
        }

    def stop(self) -> Usage:
        now = self._now()
        self.spent = {key: now[key] - self.started[key] for key in now}
        return self

    def line(self, messages: int, who: str) -> str:
        """CPU a message (ms) of the sink, of `who` and of the whole machine (the database
        server's too), how busy the machine was, and the rate its cores allow at that cost:
        the ceiling of this way of sending on this machine, every core busy."""
        import os

        per = {key: seconds / messages * 1000 for key, seconds in self.spent.items()}
        busy = self.spent["machine"] / self.spent["capacity"]
        ceiling = (os.cpu_count() or 1) / per["machine"] * 1000
        return (
            f"CPU a message: sink {per['sink']:.2f} ms, {who} {per['digest']:.2f} ms, machine"
            f" {per['machine']:.2f} ms ({busy:.0%} busy): at most {ceiling:,.0f} msg/s with"
            " every core busy"
        )


def phrase_pool(days: list[Path], size: int = POOL_SIZE) -> list[str]:
    """The `size` most frequent two-word phrases of these days' titles (no stop words)."""
    import collections
    import itertools
    import re

    from digest.sources import load_snapshot

    counts: collections.Counter[str] = collections.Counter()
    for day in days:
        for paper in load_snapshot(day).papers:
            words = re.findall(r"[a-z][a-z-]+", paper.title.lower())
            for first, second in itertools.pairwise(words):
                if first not in STOP_WORDS and second not in STOP_WORDS:
                    counts[f"{first} {second}"] += 1
    return [phrase for phrase, _ in counts.most_common(size)]


def readers(count: int, profiles: str, pool: list[str]) -> list[Any]:
    """Subscriber rows: diverse (2-4 phrases from the pool each) or shared (six profiles)."""
    import random

    from digest.profile import ProfileInput, validated_row

    rng = random.Random(11)
    rows = []
    for n in range(count):
        if profiles == "shared":
            interests = [PHRASES[n % len(PHRASES)], PHRASES[(n * 7) % len(PHRASES)]]
        else:
            interests = rng.sample(pool, rng.randint(2, 4))
        rows.append(
            validated_row(
                ProfileInput(email=f"reader{n}@example.org", interests=interests, max_items=10)
            )
        )
    return rows


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


def settings_file(
    folder: Path, port: int, concurrency: int, database: str = "digest.sqlite"
) -> Path:
    path = folder / "settings.toml"
    path.write_text(
        f'database = "{database}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nconcurrency = {concurrency}\n'
        "max_messages_per_connection = 100000\n"
        '[sender]\nfrom = "Digest <digest@example.org>"\nbase_url = "https://d.example.org"\n'
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


@dataclass(frozen=True)
class Measured:
    digest: float  # msg/s end to end
    replay: float  # msg/s replaying the same bytes over as many connections
    distinct: int  # distinct pick sets
    size: float  # KB a message
    bound: tuple[float, float]  # the ledger's bound: see _ledger_bound
    cpu: tuple[str, str]  # where the CPU went: replay, then digest (see Usage.line)


def measure(
    port: int, counter: Any, profiles: str, count: int, concurrency: int, sink_pid: int
) -> Measured:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(settings_file(folder, port, concurrency))
        files = sorted(ARXIV.glob("*.jsonl"))
        history, today = files[:6], files[6]  # a Monday: a full listing
        people = readers(count, profiles, phrase_pool(history))
        for database in (settings.database, folder / "scratch.sqlite", folder / "bound.sqlite"):
            with Store.open(database) as store:
                ingest_paths(store, history, lambda: NOW - dt.timedelta(days=8))
                ingest_paths(store, [today], lambda: NOW)
                store.readers.upsert_subscribers(people, NOW)
        # The exact bytes digest sends, built once through the file transport (not timed).
        outbox = folder / "outbox"
        with Store.open(folder / "scratch.sqlite") as scratch:
            send_edition(scratch, settings, FileTransport(outbox), lambda: NOW)
            distinct = len(
                {
                    tuple(p.paper_id for p in r.picks)
                    for r in scratch.ledger.deliveries(NOW.date().isoformat())
                }
            )
        # Readers for whom nothing cleared the bar get no email (and are not counted).
        messages = [p.read_bytes() for p in sorted(outbox.glob("*.eml"))]
        sent = len(messages)
        usage = Usage(sink_pid)
        replay = timed_replay(port, messages, concurrency)
        replay_cpu = usage.stop().line(sent, "replay client")
        before = counter.value
        usage = Usage(sink_pid)
        report, seconds = _timed_send(settings.database, settings, concurrency)
        digest_cpu = usage.stop().line(sent, "digest")
        assert len(report.sent) == sent and counter.value - before == sent
        bound = _ledger_bound(folder / "bound.sqlite", settings, outbox, concurrency)
    size = sum(map(len, messages)) / sent / 1024
    return Measured(sent / seconds, sent / replay, distinct, size, bound, (replay_cpu, digest_cpu))


def _timed_send(database: Path | str, settings: Any, concurrency: int) -> tuple[SendReport, float]:
    """`send_edition` to the sink over `concurrency` connections: its report and seconds."""
    started = time.perf_counter()
    with Store.open(database) as store:
        connections = [SmtpTransport(settings.smtp) for _ in range(concurrency)]
        report = send_edition(store, settings, connections, lambda: NOW)
    return report, time.perf_counter() - started


def _ledger_bound(
    database: Path, settings: Any, outbox: Path, concurrency: int
) -> tuple[float, float]:
    """(msg/s overall, msg/s once planned) of the same run with every message's bytes already
    built: planning, claims, the ledger's transaction per message and SMTP only. What the send
    path could reach if rendering and MIME cost nothing."""
    import re

    from digest.deliver.dispatch import Outgoing
    from digest.editions import sending

    built = {}
    for path in outbox.glob("*.eml"):
        data = path.read_bytes()
        match = re.search(rb"\r\nTo: (?:.*<)?([^<>\r]+)>?\r\n", data)
        assert match is not None
        built[match.group(1).decode()] = data
    planning: list[float] = []
    plan, build = sending._plan, sending._Builder.build

    def timed_plan(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return plan(*args, **kwargs)
        finally:
            planning.append(time.perf_counter() - started)

    # A benchmark-only stand-in: the builder hands over the bytes built before.
    sending._plan = timed_plan
    sending._Builder.build = lambda self, edition, row: Outgoing(row, built[row.email])  # type: ignore[method-assign]
    try:
        report, seconds = _timed_send(database, settings, concurrency)
    finally:
        sending._plan, sending._Builder.build = plan, build  # type: ignore[method-assign]
    assert len(report.sent) == len(built)
    return len(built) / seconds, len(built) / (seconds - planning[0])


def _same(moment: dt.datetime) -> dt.datetime:
    return moment


def measure_senders(
    port: int, counter: Any, count: int, concurrency: int, senders: list[int], sink_pid: int
) -> dict[str, float]:
    """Messages a second of real `digest send` processes: one on a SQLite file, then with the
    store on PostgreSQL, each number of processes sharing the edition (each run a fresh copy
    of the same store)."""
    import os
    import subprocess
    import sys

    import psycopg

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: tests/
    from tests import pgserver

    server = pgserver.start(free_port())
    rates: dict[str, float] = {}
    try:
        files = sorted(ARXIV.glob("*.jsonl"))
        history, today = files[:6], files[6]
        people = readers(count, "diverse", phrase_pool(history))
        for engine, number in [("sqlite", 1)] + [("postgresql", n) for n in senders]:
            with tempfile.TemporaryDirectory() as tmp:
                url = str(Path(tmp) / "digest.sqlite")
                if engine == "postgresql":
                    schema = f"bench_{number}"
                    with psycopg.connect(server.url(), autocommit=True) as connection:
                        connection.execute(f"CREATE SCHEMA {schema}")
                    url = server.url(schema)
                path = settings_file(Path(tmp), port, concurrency, url)
                # `digest send` runs on the real clock: the papers arrive today.
                now = dt.datetime.now(dt.UTC)
                earlier = now - dt.timedelta(days=8)
                with Store.open(url) as store:
                    ingest_paths(store, history, functools.partial(_same, earlier))
                    ingest_paths(store, [today], functools.partial(_same, now))
                    store.readers.upsert_subscribers(people, now)
                env = {**os.environ, "DIGEST_SETTINGS": str(path)}
                command = [sys.executable, "-m", "digest", "send"]
                before = counter.value
                usage = Usage(sink_pid)
                started = time.perf_counter()
                # Each sender's progress lines go to a file, shown only if it fails.
                logs = [Path(tmp) / f"sender{n}.log" for n in range(number)]
                with contextlib.ExitStack() as outputs:
                    processes = [
                        subprocess.Popen(
                            command,
                            env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=outputs.enter_context(log.open("wb")),
                        )
                        for log in logs
                    ]
                    exits = [process.wait() for process in processes]
                seconds = time.perf_counter() - started
                for code, log in zip(exits, logs, strict=True):
                    if code != 0:
                        raise SystemExit(f"a sender failed:\n{log.read_text()[-2000:]}")
                sent = counter.value - before
                label = f"{engine}, {number} sender{'s' if number > 1 else ''}"
                rates[label] = sent / seconds
                # The database server's CPU counts in the machine's, not in the senders'.
                cpu = usage.stop().line(sent, "senders")
                print(f"    {label}: {sent:,} messages in {seconds:.1f} s; {cpu}")
    finally:
        from digest.store.postgres import close_pools

        close_pools()
        server.stop()
    return rates


def start_sink() -> tuple[Any, int, Any, Any]:
    """The sink in its own process, answering: (process, port, message counter, stop event).
    Also sets the signing key the benchmarks use."""
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
    return sink, port, counter, stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--profiles", choices=["diverse", "shared", "both"], default="diverse")
    parser.add_argument("--senders", help="PostgreSQL: numbers of processes to compare, e.g. 1,2")
    args = parser.parse_args()
    sink, port, counter, stop = start_sink()
    if args.senders:
        try:
            numbers = [int(n) for n in args.senders.split(",")]
            print(
                f"{args.readers:,} diverse readers, one arXiv day, real `digest send` processes"
                f" ({args.concurrency} connection(s) each), local aiosmtpd in its own process"
            )
            rates = measure_senders(
                port, counter, args.readers, args.concurrency, numbers, sink.pid
            )
            base = next(rate for label, rate in rates.items() if label.startswith("postgresql"))
            for label, rate in rates.items():
                print(f"  {label}: {rate:,.0f} msg/s, {rate / base:.2f}x postgresql's first")
        finally:
            stop.set()
            sink.join()
        return
    kinds = ["diverse", "shared"] if args.profiles == "both" else [args.profiles]
    try:
        print(
            f"{args.readers:,} readers, one arXiv day, local aiosmtpd in its own process,"
            f" {args.concurrency} connection(s)"
        )
        for kind in kinds:
            m = measure(port, counter, kind, args.readers, args.concurrency, sink.pid)
            (bound, planned), replay = m.bound, m.replay
            print(
                f"  {kind:>7} readers ({m.distinct:,} distinct pick sets, {m.size:.0f} KB a"
                f" message): digest end to end {m.digest:,.0f} msg/s, replay of the same bytes"
                f" {replay:,.0f} msg/s: {m.digest / replay:.0%}"
            )
            print(
                f"          the same with every message built beforehand (plan, claims, ledger,"
                f" SMTP): {bound:,.0f} msg/s ({bound / replay:.0%}); once planned"
                f" {planned:,.0f} msg/s ({planned / replay:.0%})"
            )
            print(f"          replay: {m.cpu[0]}")
            print(f"          digest: {m.cpu[1]}")
    finally:
        stop.set()
        sink.join()


if __name__ == "__main__":
    main()
