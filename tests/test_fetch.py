"""Fetching over HTTP: the HF daily-papers API by date and arXiv feeds, from a real local server
serving recorded files (never the internet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.diff import ingest_paths
from digest.errors import DumpError
from digest.sources.fetch import arxiv_feed_url, fetch, hf_daily_url, make_client
from digest.store import Store

from .conftest import CORPORA, HttpServer, assert_clean_error, fixed_clock, run, shared_or_skip
from .conftest import write_settings as base_settings


def fetch_settings(database: Path | str, folder: Path, server: HttpServer) -> Path:
    return base_settings(
        folder,
        database=database,
        extra=f"""
[sources]
hf_api_url = "{server.url}/api/daily_papers"
arxiv_feed_url = "{server.url}/atom/{{category}}"
timeout = 5
""",
    )


def test_hf_url_carries_the_date() -> None:
    import datetime as dt

    url = hf_daily_url("https://huggingface.co/api/daily_papers", dt.date(2025, 1, 10))
    assert url == "https://huggingface.co/api/daily_papers?date=2025-01-10"


def test_fetch_hf_days_through_the_cli(
    database: Path | str, tmp_path: Path, http_server: HttpServer
) -> None:
    shared_or_skip(CORPORA / "hf-daily")
    settings = fetch_settings(database, tmp_path, http_server)
    args = ("--settings", settings, "fetch", "hf", "--date", "2025-01-10", "--date", "2025-01-13")
    first = run(*args, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    reports = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["format"] for r in reports] == ["hf-json", "hf-json"]
    assert all(r["new"] for r in reports)
    assert [path for path, _ in http_server.requests] == [
        "/api/daily_papers?date=2025-01-10",
        "/api/daily_papers?date=2025-01-13",
    ]
    assert all(agent.startswith("digest") for _, agent in http_server.requests)
    again = run(*args, "--json", cwd=tmp_path)
    assert [json.loads(line)["duplicate_dump"] for line in again.stdout.splitlines()] == [
        True,
        True,
    ]


def test_a_missing_day_is_one_line_and_stores_nothing(
    database: Path | str, tmp_path: Path, http_server: HttpServer
) -> None:
    shared_or_skip(CORPORA / "hf-daily")
    settings = fetch_settings(database, tmp_path, http_server)
    # The first day exists, the second does not: nothing at all may be stored.
    result = run(
        "--settings",
        settings,
        "fetch",
        "hf",
        "--date",
        "2025-01-10",
        "--date",
        "1999-01-01",
        cwd=tmp_path,
    )
    assert_clean_error(result, 3, "HTTP 404")
    assert "date=1999-01-01" in result.stderr
    with Store.open(database) as store:
        assert store.counts()["snapshots"] == 0


def test_fetch_arxiv_feed_and_ingest_a_url(
    database: Path | str, tmp_path: Path, http_server: HttpServer
) -> None:
    settings = fetch_settings(database, tmp_path, http_server)
    fetched = run("--settings", settings, "fetch", "arxiv", "cs.CL", "--json", cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    report = json.loads(fetched.stdout)
    assert report["format"] == "arxiv-feed"
    assert [p["id"] for p in report["new"]] == ["2611.01234", "2611.02345", "2611.03456"]
    # The RSS flavour of the same category, by URL: one paper already known, one new.
    rss = run(
        "--settings", settings, "ingest", f"{http_server.url}/rss/cs.CL", "--json", cwd=tmp_path
    )
    assert rss.returncode == 0, rss.stderr
    report = json.loads(rss.stdout)
    assert [p["id"] for p in report["new"]] == ["2611.04567"]
    assert report["seen_again"] == 1


def test_server_errors_and_refused_connections_are_clean(
    database: Path | str, tmp_path: Path, http_server: HttpServer
) -> None:
    settings = fetch_settings(database, tmp_path, http_server)
    broken = run("--settings", settings, "ingest", f"{http_server.url}/broken", cwd=tmp_path)
    assert_clean_error(broken, 3, "HTTP 500")
    from digest.demo import free_port

    closed = f"http://127.0.0.1:{free_port()}/api"
    refused = run("--settings", settings, "ingest", closed, cwd=tmp_path)
    assert_clean_error(refused, 3, "is the server reachable?")
    bad = run("--settings", settings, "fetch", "arxiv", "cs.CL/../x", cwd=tmp_path)
    assert_clean_error(bad, 3, "not valid")


def test_library_fetch_uses_the_client_passed_in(http_server: HttpServer, store: Store) -> None:
    with make_client(timeout=5) as client:
        body = fetch(arxiv_feed_url(f"{http_server.url}/rss/{{category}}", "cs.CL"), client)
        assert body.startswith(b"<?xml")
        results = ingest_paths(
            store, [f"{http_server.url}/atom/cs.CL"], fixed_clock(), None, client
        )
    assert len(results[0].new) == 3
    with pytest.raises(DumpError, match="not an http"), make_client() as client:
        fetch("file:///etc/passwd", client)
