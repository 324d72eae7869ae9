"""Shared fixtures: real SQLite files, a real aiosmtpd server on 127.0.0.1, settings files."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from digest.demo import free_port
from digest.errors import StoreError
from digest.store import Store
from digest.store.postgres import close_pools

from . import pgserver
from .localnet import serving

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
CORPORA = SHARED / "corpora"
EXAMPLES = REPO / "examples"
FIXED_NOW = dt.datetime(2026, 11, 22, 6, 30, tzinfo=dt.UTC)


# The integration tier: what needs a real server or a process of its own. A test is in it
# when it uses one of these fixtures, runs on PostgreSQL, or is marked `integration` itself
# (it starts processes: the daemon, signals, kill -9, a closed pipe, another user).
SERVER_FIXTURES = frozenset(
    {
        "smtp_server",
        "faulty",
        "postgres_server",
        "server_database",
        "browser",
        "exim",
        "dovecot",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_server = callspec is not None and callspec.params.get("database") == "postgresql"
        if on_server or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


@contextlib.contextmanager
def running_postgres() -> Iterator[pgserver.PostgresServer]:
    """A real PostgreSQL server, started here (initdb + pg_ctl on a temporary folder and a
    free port) and stopped afterwards. Where it cannot start, its tests are skipped; never in
    CI."""
    try:
        server = pgserver.start(free_port())
    except StoreError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        close_pools()
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pgserver.PostgresServer]:
    """The PostgreSQL server of the whole run."""
    with running_postgres() as server:
        yield server


@contextlib.contextmanager
def fresh_schema(server: pgserver.PostgresServer) -> Iterator[str]:
    """The URL of a new, empty schema on the server, dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield server.url(schema)
    finally:
        close_pools()
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


# The test files whose stores exercise what differs between the engines (their SQL, claims and
# locks, read-only sessions, the daemon's job store, bulk writes): their tests that store
# anything run once on each engine. Elsewhere (pages, messages, parsing, the CLI's wording) the
# store is a means, and a SQLite file is enough.
BOTH_ENGINES = frozenset(
    {
        "test_store_diff",
        "test_delivery_faults",
        "test_schedule",
        "test_web_methods",
        "test_replay",
        "test_subscribers",
        "test_history",
        "test_rank_store",
        "test_feedback",
        "test_signup",
        "test_bounces",
        "test_meaning_store",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        engines = ["sqlite", "postgresql"] if module in BOTH_ENGINES else ["sqlite"]
        metafunc.parametrize("database", engines, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a test's store lives: a SQLite file, or a fresh schema on the PostgreSQL server
    (in the BOTH_ENGINES files, every test that stores anything runs once on each)."""
    if request.param == "sqlite":
        yield tmp_path / "digest.sqlite"
        return
    with fresh_schema(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
def server_database(postgres_server: pgserver.PostgresServer) -> Iterator[str]:
    """A store on the PostgreSQL server only: for what only a server does (several senders)."""
    with fresh_schema(postgres_server) as url:
        yield url


@pytest.fixture
def store(database: Path | str) -> Iterator[Store]:
    with Store.open(database) as opened:
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
    with serving(handler) as port:
        yield SmtpServer("127.0.0.1", port, handler)


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
    database: Path | str = "digest.sqlite",
    extra: str = "",
    timezone: str = "UTC",
    subscribers: str = SUBSCRIBERS_TOML,
) -> Path:
    path = folder / "settings.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            database = "{database}"
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


@pytest.fixture(autouse=True)
def quick_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingests embed their papers with wordllama (~900 papers/s) rather than the default MiniLM
    (~20/s): tests of MiniLM itself set `[ranking] embedding_model` or call digest.rank.encoders."""
    monkeypatch.setenv("DIGEST_RANKING__EMBEDDING_MODEL", "wordllama")


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    secret = "test-secret-key-0123456789abcdef"
    monkeypatch.setenv("DIGEST_SECRET_KEY", secret)
    return secret


TEST_SECRET = "cli-test-secret-key-123456"


class _Flushed(FlaskClient):
    """A test client after whose every request the app's mail worker has sent what it queued
    (waiting for the worker to say so, never a sleep)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from digest.web import mailer

        response = super().open(*args, **kwargs)
        assert mailer(self.application).flush(), "the mail worker did not finish its pass"
        return response


@contextlib.contextmanager
def mailing(app: Flask) -> Iterator[FlaskClient]:
    """A test client of `app` with its mail worker running (as `digest serve` runs it):
    each request's mail has been sent by the time the request returns. Stopped afterwards."""
    from digest.web import mailer

    worker = mailer(app).start()
    app.test_client_class = _Flushed
    try:
        yield app.test_client()
    finally:
        worker.stop()


@dataclass(frozen=True, slots=True)
class Ran:
    """What a `digest` command did: as subprocess.CompletedProcess reports it."""

    returncode: int
    stdout: str
    stderr: str


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> Ran:
    """`digest ARGS` in this process (click's CliRunner): the command's exit code, stdout and
    stderr, as a process would give them (an unexpected exception is a traceback on stderr
    and exit 1). For what needs a process of its own (signals, a closed pipe, a daemon),
    `run_process`."""
    import signal
    import traceback

    from click.testing import CliRunner

    from digest.cli import cli

    full_env: dict[str, str | None] = {"DIGEST_SETTINGS": None, "DIGEST_SECRET_KEY": TEST_SECRET}
    full_env.update(env or {})
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner(env=full_env).invoke(cli, [str(a) for a in args], prog_name="digest")
    finally:
        os.chdir(before)
        for sig, handler in handlers.items():  # `digest send` installs its own
            signal.signal(sig, handler)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        info = result.exc_info
        assert info is not None
        stderr += "".join(traceback.format_exception(*info))
    return Ran(result.exit_code, result.stdout, stderr)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """`python -c CODE` in a fresh interpreter (what it imports, what it logs); fails on a
    non-zero exit."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )


def run_process(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m digest ARGS` in a process of its own."""
    full_env = {k: v for k, v in os.environ.items() if k != "DIGEST_SETTINGS"}
    full_env.update({"DIGEST_SECRET_KEY": TEST_SECRET, **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "digest", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_clean_error(
    result: Ran | subprocess.CompletedProcess[str], code: int, needle: str
) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("digest: error: ") and needle in lines[0]


DATA = REPO / "tests" / "data"


@dataclass
class HttpServer:
    """A real HTTP server on 127.0.0.1 serving recorded files; it logs every request."""

    url: str
    requests: list[tuple[str, str]]  # (path with query, User-Agent)


def _recorded_response(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    if path == "/api/daily_papers":
        day = query.get("date", [""])[0]
        recorded = CORPORA / "hf-daily" / f"{day}.json"
        if day and recorded.is_file():
            return 200, recorded.read_bytes()
        return 404, b'{"error": "no papers for that date"}'
    if path == "/atom/cs.CL":
        return 200, (DATA / "arxiv-api.atom").read_bytes()
    if path == "/rss/cs.CL":
        return 200, (DATA / "arxiv-cs.CL.rss").read_bytes()
    if path == "/broken":
        return 500, b"internal error"
    return 404, b"not found"


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    log: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            log.append((self.path, self.headers.get("User-Agent", "")))
            parts = urlsplit(self.path)
            status, body = _recorded_response(parts.path, parse_qs(parts.query))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test log is `log`."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpServer(f"http://127.0.0.1:{server.server_address[1]}", log)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FaultyHandler:
    """Records every accepted message; faults are set per test."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    temporary_once: set[str] = field(default_factory=set)  # 451 on the first RCPT only
    always: dict[str, str] = field(default_factory=dict)  # reply to every RCPT
    refuse_data: dict[str, str] = field(default_factory=dict)  # reply to DATA, per recipient
    drop_after: int | None = None  # close the connection instead of accepting message N+1
    slow_first: float = 0.0  # seconds to wait before answering the first DATA
    delay: float = 0.0  # seconds to wait before answering every DATA
    seen: set[str] = field(default_factory=set)
    greetings: int = 0  # EHLOs: one per connection
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each message

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.always:
            return self.always[address]
        if address in self.temporary_once and address not in self.seen:
            self.seen.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.slow_first:
            wait, self.slow_first = self.slow_first, 0.0
            await asyncio.sleep(wait)
        if self.delay:
            await asyncio.sleep(self.delay)
        if envelope.rcpt_tos[0] in self.refuse_data:
            return self.refuse_data[envelope.rcpt_tos[0]]
        if self.drop_after is not None and len(self.messages) >= self.drop_after:
            self.drop_after = None
            server.transport.close()
            return "421 closing"
        self.messages.append((envelope.rcpt_tos[0], envelope.original_content))
        self.accepted_at.append(time.monotonic())
        return "250 Message accepted"


@pytest.fixture
def faulty() -> Iterator[tuple[FaultyHandler, int]]:
    handler = FaultyHandler()
    with serving(handler) as port:
        yield handler, port


def reader_subscribers(count: int) -> str:
    """`count` settings subscribers reader00@example.org, reader01@... with no interests."""
    return "".join(
        f'\n[[subscribers]]\nemail = "reader{n:02d}@example.org"\ninterests = []\nmax_items = 3\n'
        for n in range(count)
    )


def readers_ready(
    database: Path | str, folder: Path, port: int, readers: int
) -> tuple[list[str], dict[str, str]]:
    """Settings with `readers` subscribers, the example dumps ingested through the CLI; returns
    the `digest --settings …` command and its environment, for tests that run real processes."""
    path = write_settings(
        folder, database=database, port=port, subscribers=reader_subscribers(readers)
    )
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SETTINGS"}
    env["DIGEST_SECRET_KEY"] = "process-test-secret-0123456789"
    command = [sys.executable, "-m", "digest", "--settings", str(path)]
    ingest = subprocess.run(
        [*command, "ingest", str(EXAMPLES / "dumps")], env=env, capture_output=True, timeout=60
    )
    assert ingest.returncode == 0, ingest.stderr
    return command, env


# -- headless Chromium (Debian's package; never a downloaded browser) ------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def _server_folder(name: str, available: bool) -> Iterator[Path]:
    """A folder of /tmp (reachable by the server's own user) for a Debian mail server that
    `python3 run.py test` installs as root; skipped without it (failed in CI), removed after."""
    if not available or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; python3 run.py test installs it as root")
        pytest.skip(f"{name} not installed (python3 run.py test installs it as root)")
    root = Path(tempfile.mkdtemp(prefix=f"digest-{name}-", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def exim() -> Iterator[Any]:
    """A real Exim (Debian's exim4-daemon-light) on a folder of its own and a free port: it
    accepts, then bounces (tests/eximserver.py)."""
    from . import eximserver

    with (
        _server_folder("exim4", eximserver.available()) as root,
        eximserver.running_exim(root, free_port()) as server,
    ):
        yield server


@pytest.fixture
def dovecot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real Dovecot (IMAPS and POP3S; Debian's dovecot-imapd and dovecot-pop3d, which
    `python3 run.py test` installs) with its own certificate, trusted through SSL_CERT_FILE."""
    from . import dovecotserver

    with (
        _server_folder("dovecot", dovecotserver.available()) as root,
        dovecotserver.running_dovecot(root, free_port(), free_port()) as server,
    ):
        monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate))
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; python3 run.py test installs it")
        pytest.skip("chromium not installed (python3 run.py test installs it as root)")
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()
