"""Sign-up answers whatever the address: `digest serve` (waitress, its mail worker running) on
127.0.0.1 mailing through a local aiosmtpd relay; POST /api/subscribe alternately for a new
address and for a confirmed reader's, over real HTTP. Prints each kind's answer times and
their ratio, next to what one SMTP send to the same relay costs (what a request used to
spend inside itself for a new address only).

    .venv/bin/python benchmarks/bench_signup.py               # 200 requests of each kind
    .venv/bin/python benchmarks/bench_signup.py --requests 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from digest.clock import utc_now
from digest.deliver import SmtpTransport
from digest.demo import free_port
from digest.diff import ingest_paths
from digest.profile import ProfileInput, validated_row
from digest.settings import load_settings
from digest.signup import confirmation
from digest.store import Store
from digest.web import WebServer, mailer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class _Sink:
    """Takes every message (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def _settings(folder: Path, smtp_port: int, requests: int) -> Path:
    path = folder / "settings.toml"
    path.write_text(
        f'database = "{folder / "digest.sqlite"}"\n'
        "[signup]\nproof_of_work = false\n"
        f"per_ip_hourly = {4 * requests}\nglobal_hourly = {4 * requests}\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        '[sender]\nfrom = "Digest <digest@digest.test>"\nbase_url = "https://digest.test"\n',
        encoding="utf-8",
    )
    return path


def _quantiles(times: list[float]) -> str:
    cut = statistics.quantiles(times, n=10)
    return f"median {statistics.median(times) * 1e3:5.1f} ms, p90 {cut[-1] * 1e3:5.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    requests = parser.parse_args().requests
    os.environ.setdefault("DIGEST_SECRET_KEY", "benchmark-secret-key-0123456789")
    sink = _Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(_settings(Path(folder), relay.port, requests))
        with Store.open(settings.database) as store:
            ingest_paths(store, [EXAMPLES / "dumps"], utc_now)
            reader = validated_row(ProfileInput(email="known@example.org", interests=["llm"]))
            store.readers.upsert_subscribers([reader], utc_now())
        server = WebServer(settings, "127.0.0.1", free_port()).start()
        times: dict[str, list[float]] = {"new": [], "reader": []}
        try:
            with httpx.Client(base_url=server.url) as client:
                for n in range(requests):
                    for kind, address in (("new", f"new{n}@example.org"), ("reader", reader.email)):
                        started = time.perf_counter()
                        answer = client.post("/api/subscribe", json={"email": address})
                        times[kind].append(time.perf_counter() - started)
                        assert answer.status_code == 202, answer.text
            assert mailer(server.app).wait_idle(120)
        finally:
            server.stop()
        transport = SmtpTransport(settings.smtp)
        message, _ = confirmation(
            "digest@digest.test", "x@example.org", "https://digest.test/confirm/x", "Digest",
            dt.datetime.now(dt.UTC), "digest.test",
        )  # fmt: skip
        sends = []
        with transport:
            for _ in range(50):
                started = time.perf_counter()
                transport.send("digest@digest.test", "x@example.org", bytes(message))
                sends.append(time.perf_counter() - started)
    relay.stop()
    new, known = times["new"], times["reader"]
    print(f"POST /api/subscribe, {requests} of each kind, over HTTP to waitress:")
    print(f"  a new address:      {_quantiles(new)}")
    print(f"  a confirmed reader: {_quantiles(known)}")
    ratio = statistics.median(new) / statistics.median(known)
    print(f"  new / reader, medians: {ratio:.2f} (1.00: the answer says nothing)")
    print(f"one SMTP send of a confirmation to the same relay: {_quantiles(sends)}")
    print(f"confirmations the worker sent after the answers: {sink.count - len(sends)}")


if __name__ == "__main__":
    main()
