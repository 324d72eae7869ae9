"""Each route's own body limit, through `digest serve`'s real waitress on 127.0.0.1: the welcome
page takes library exports of megabytes, the webhooks provider batches of up to 1 MiB, every
other route 64 KiB; a body over its route's limit is one clear 413 (JSON on the API and the
webhooks) sent as soon as the headers are read, before the body is received."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.editions import make_token
from digest.settings import load_settings
from digest.store import Store
from digest.web import WebServer, create_app

from .conftest import EXAMPLES, write_settings

START = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC)
MiB = 1024 * 1024


@pytest.fixture
def served(tmp_path: Path, secret_env: str) -> Iterator[tuple[str, str]]:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "digest.sqlite"))
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: START - dt.timedelta(hours=2))
    app = create_app(settings, lambda: START, transports=lambda: [MemoryTransport()])
    server = WebServer(settings, "127.0.0.1", 0, app=app).start()
    try:
        yield server.url, secret_env
    finally:
        server.stop()


def _headers_only(url: str, path: str, length: int, content_type: str) -> tuple[int, str]:
    """Send a POST's headers announcing `length` bytes and no body: the status line and the
    body of the answer (which comes without the body ever being sent)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := connection.recv(65536):  # an error closes the connection
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_a_library_of_megabytes_is_taken_by_the_welcome_page(served: tuple[str, str]) -> None:
    """waitress took 1 MiB at most from any route, so a library export above it never reached
    the page that reads it ("exceeds max_body")."""
    url, secret = served
    token = make_token(secret, "ada@example.org", "preferences")
    entries = b"".join(
        b"@misc{k%d, title={Paper number %d on graph neural networks}, abstract={%s}}\n"
        % (n, n, b"message passing " * 200)
        for n in range(700)
    )
    assert len(entries) > 2 * MiB
    done = httpx.post(
        f"{url}/welcome/{token}", files={"library": ("big.bib", entries)}, timeout=120
    )
    assert done.status_code == 200, done.text[:300]
    assert "read 700 entries" in done.text


def test_a_sendgrid_batch_over_64_kib_reaches_the_webhook(served: tuple[str, str]) -> None:
    url, _ = served
    batch = json.dumps([{"event": "delivered", "email": f"r{n}@example.org"} for n in range(3000)])
    assert len(batch) > 128 * 1024
    answer = httpx.post(
        f"{url}/webhooks/sendgrid", content=batch, headers={"Content-Type": "application/json"}
    )
    # Not 413: the webhook read the body and refused it for its missing signature.
    assert answer.status_code == 403 and "SendGrid" in answer.json()["error"]


@pytest.mark.parametrize(
    ("path", "length", "json_error"),
    [
        ("/subscribe", 64 * 1024 + 1, False),
        ("/unsubscribe/some-token", 10 * MiB, False),
        ("/api/subscribe", 64 * 1024 + 1, True),
        ("/webhooks/sendgrid", MiB + 1, True),
        ("/webhooks/ses", 50 * MiB, True),
        ("/welcome/some-token", 65 * MiB, False),
        ("/no/such/page", 64 * 1024 + 1, False),
    ],
)
def test_a_body_over_its_routes_limit_is_413_before_it_is_sent(
    served: tuple[str, str], path: str, length: int, json_error: bool
) -> None:
    url, _ = served
    status, body = _headers_only(url, path, length, "application/json")
    assert status == 413
    assert "bytes" in body and path in body and "waitress" not in body
    if json_error:
        assert "bytes" in json.loads(body)["error"]


def test_a_chunked_body_over_its_routes_limit_is_413(served: tuple[str, str]) -> None:
    url, _ = served

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    answer = httpx.post(f"{url}/subscribe", content=chunks())
    assert answer.status_code == 413
