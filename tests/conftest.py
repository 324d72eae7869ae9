"""Shared fixtures: real SQLite files, a real aiosmtpd server on 127.0.0.1, settings files."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from digest.demo import free_port
from digest.store import Store

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
CORPORA = SHARED / "corpora"
EXAMPLES = REPO / "examples"
FIXED_NOW = dt.datetime(2026, 11, 22, 6, 30, tzinfo=dt.UTC)


def shared_or_skip(path: Path) -> Path:
    """../shared is beside the checkout in CI; a bare clone skips these tests, CI never does."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def seeds() -> list[Path]:
    return sorted(shared_or_skip(SEEDS).glob("*.txt"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "digest.sqlite") as opened:
        yield opened


def fixed_clock(moment: dt.datetime = FIXED_NOW) -> Callable[[], dt.datetime]:
    return lambda: moment


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records every message; optional faults per recipient."""

    messages: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted"


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


SUBSCRIBERS_TOML = """
[[subscribers]]
email = "ada@example.org"
name = "Ada"
interests = ["graph neural networks", "weather forecasting"]
exclude = ["survey"]
max_items = 5

[[subscribers]]
email = "grace@example.org"
name = "Grace"
interests = ["language models", "quantization", "attention"]
max_items = 6
"""


def write_settings(
    folder: Path,
    *,
    port: int = 2525,
    extra: str = "",
    timezone: str = "UTC",
    subscribers: str = SUBSCRIBERS_TOML,
) -> Path:
    path = folder / "settings.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            database = "digest.sqlite"
            timezone = "{timezone}"
            {extra}
            [smtp]
            host = "127.0.0.1"
            port = {port}
            security = "none"
            timeout = 5

            [sender]
            from = "Trending Papers <digest@digest.test>"
            base_url = "https://digest.test"
            """
        )
        + subscribers,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    secret = "test-secret-key-0123456789abcdef"
    monkeypatch.setenv("DIGEST_SECRET_KEY", secret)
    return secret
