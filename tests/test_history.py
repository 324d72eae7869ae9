"""History through the CLI: `digest history`, `changes`, and `export` read back by `ingest`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import EXAMPLES, assert_clean_error, run, write_settings

DUMPS = sorted((EXAMPLES / "dumps").glob("*.txt"))


def test_history_and_changes(database: Path | str, tmp_path: Path) -> None:
    write_settings(tmp_path, database=database)
    assert run("ingest", *DUMPS, cwd=tmp_path).returncode == 0
    listing = json.loads(run("history", "--json", cwd=tmp_path).stdout)
    assert [row["snapshot"] for row in listing] == [3, 2, 1]  # newest first
    assert [row["new"] for row in listing] == [3, 4, 5]
    latest = json.loads(run("changes", "--json", cwd=tmp_path).stdout)
    assert latest["snapshot"] == 3 and len(latest["new"]) == 3 and latest["seen_again"] == 3
    first = json.loads(run("changes", "1", "--json", cwd=tmp_path).stdout)
    assert len(first["new"]) == 5 and first["seen_again"] == 0
    # The middle example dump carries upvotes that the last one moves.
    human = run("changes", cwd=tmp_path)
    assert human.returncode == 0 and "3 new" in human.stdout
    assert_clean_error(run("changes", "99", cwd=tmp_path), 4, "no dump #99")


@pytest.mark.parametrize("format", ["page", "hf-json", "arxiv-feed"])
def test_export_then_ingest_elsewhere_finds_the_same_papers(
    database: Path | str, tmp_path: Path, format: str
) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    for folder in (source, target):
        folder.mkdir()
    write_settings(source, database=database)
    write_settings(target)  # a store of its own
    assert run("ingest", *DUMPS, cwd=source).returncode == 0
    exported = run("export", "--format", format, "--out", tmp_path / "all.dump", cwd=source)
    assert exported.returncode == 0, exported.stderr
    again = run("ingest", tmp_path / "all.dump", "--json", cwd=target)
    assert again.returncode == 0, again.stderr
    titles = [p["title"] for p in json.loads(again.stdout)["new"]]
    stored = json.loads(run("export", "--format", "hf-json", cwd=source).stdout)
    assert titles == [item["paper"]["title"] for item in stored]
    assert len(titles) == 12


def test_titles_with_brackets_print_verbatim(tmp_path: Path) -> None:
    """Regression: rich read "[/x]" in a title as markup and crashed the table output."""
    dump = tmp_path / "d.txt"
    dump.write_text(
        "Get trending papers in your email inbox!\n\n[/x] Brackets [bold]in titles\n\nAbstract.\n"
    )
    result = run("rank", dump, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[/x] Brackets [bold]in titles" in result.stdout
