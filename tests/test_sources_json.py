from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from digest.errors import DumpError
from digest.sources import load_snapshot, parse_snapshot
from digest.store import Store

from .conftest import CORPORA, shared_or_skip


def _hf_item(paper_id: str, title: str, upvotes: int = 3) -> dict[str, object]:
    return {
        "paper": {
            "id": paper_id,
            "title": title,
            "summary": "An abstract.",
            "authors": [{"name": "A. Author"}, {"name": "B. Author"}],
            "publishedAt": "2025-01-14T18:50:05.000Z",
            "upvotes": upvotes,
            "githubRepo": "https://github.com/example/code",
        },
        "title": title,
    }


def test_hf_list_and_wrapped_forms() -> None:
    items = [_hf_item("2501.00001", "First"), _hf_item("2501.00002", "Second", 9)]
    plain = parse_snapshot(json.dumps(items).encode(), "hf.json")
    wrapped = parse_snapshot(json.dumps({"status": "ok", "data": items}).encode(), "hf.json")
    assert plain.format == wrapped.format == "hf-json"
    assert [p.key for p in plain.papers] == ["arxiv:2501.00001", "arxiv:2501.00002"]
    second = plain.papers[1]
    assert second.upvotes == 9
    assert second.authors == ("A. Author", "B. Author")
    assert second.code_url == "https://github.com/example/code"


def test_hf_python_repr_items_are_parsed_without_eval() -> None:
    item = repr(_hf_item("2501.00003", "Repr Paper"))
    snapshot = parse_snapshot(json.dumps([item]).encode(), "repr.json")
    assert snapshot.papers[0].arxiv_id == "2501.00003"
    hostile = json.dumps(["__import__('os').system('echo pwned')"]).encode()
    with pytest.raises(DumpError, match="neither an object nor a Python literal"):
        parse_snapshot(hostile, "evil.json")


def test_real_hf_corpus_files_parse() -> None:
    folder = shared_or_skip(CORPORA / "hf-daily")
    files = sorted(folder.glob("*.json"))
    assert len(files) == 84
    for path in files:
        snapshot = load_snapshot(path)
        assert snapshot.papers, path
        assert all(p.arxiv_id for p in snapshot.papers)


def test_arxiv_jsonl_dedupes_cross_listings() -> None:
    folder = shared_or_skip(CORPORA / "arxiv-daily")
    path = sorted(folder.glob("*.jsonl"))[0]
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    snapshot = load_snapshot(path)
    assert snapshot.format == "arxiv-jsonl"
    assert len(snapshot.papers) == len({row["id"] for row in lines})


def test_bad_json_reports_line() -> None:
    with pytest.raises(DumpError, match="line 2"):
        parse_snapshot(b'{"id": "2501.00001", "title": "x"}\n{"id": broken\n', "a.jsonl")
    with pytest.raises(DumpError, match="invalid JSON"):
        parse_snapshot(b'[{"paper": ', "b.json")


def test_a_ten_megabyte_single_line_api_response_is_fine() -> None:
    items = [
        {"paper": {"id": f"2501.{i:05d}", "title": f"Paper {i}", "summary": "word " * 400}}
        for i in range(5000)
    ]
    data = json.dumps(items).encode()
    assert b"\n" not in data and len(data) > 10_000_000
    assert len(parse_snapshot(data, "big.json").papers) == 5000


def test_hf_keywords_are_kept_and_stored_and_bad_ones_dropped(tmp_path: Path) -> None:
    items = [_hf_item(f"2501.0001{n}", title) for n, title in enumerate(("Keyed", "Odd", "None"))]
    keywords = ["Video Generation", " world\nmodels ", "video generation", 7, "x" * 81]
    items[0]["paper"]["ai_keywords"] = keywords  # type: ignore[index]
    items[1]["paper"]["ai_keywords"] = "not a list"  # type: ignore[index]
    snapshot = parse_snapshot(json.dumps(items).encode(), "hf.json")
    keyed, odd, none = snapshot.papers
    assert keyed.keywords == ("Video Generation", "world models", "video generation")
    assert odd.keywords == none.keywords == ()
    now = dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    with Store.open(tmp_path / "k.sqlite") as store:
        store.catalog.ingest(snapshot, now)
        ids = [p.id for p in store.catalog.recent_papers(now)]
        assert store.catalog.keywords(ids) == {
            ids[0]: ("Video Generation", "video generation", "world models")
        }
