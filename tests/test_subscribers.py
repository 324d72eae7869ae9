"""Subscribers in the store: `digest subscribers add|list|remove|import|export` through the CLI,
against a real SQLite file; settings and store merged; unsubscribes respected."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from digest.models import interests
from digest.settings import load_settings
from digest.store import Store
from digest.subscribers import all_subscribers, read_csv

from .conftest import FIXED_NOW, assert_clean_error, run, write_settings


@pytest.fixture
def settings_path(database: Path | str, tmp_path: Path) -> Path:
    return write_settings(tmp_path, database=database)


def _count(folder: Path) -> int:
    """Subscribers in the store the folder's settings name (either engine)."""
    database = load_settings(folder / "settings.toml").database
    if not Store.exists(database):
        return 0  # refused before the store was even opened
    with Store.open(database) as store:
        return store.readers.count_subscribers()


def _list(settings_path: Path) -> list[dict[str, object]]:
    result = run(
        "--settings", settings_path, "subscribers", "list", "--json", cwd=settings_path.parent
    )
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def test_add_list_update_remove(settings_path: Path) -> None:
    folder = settings_path.parent
    added = run(
        "--settings",
        settings_path,
        "subscribers",
        "add",
        "Lin@Example.ORG",
        "--name",
        "Lin",
        "--interest",
        "protein folding^2",
        "--interest",
        "docking",
        "--send-at",
        "6:05",
        "--timezone",
        "Asia/Tokyo",
        "--weekdays-only",
        cwd=folder,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added Lin@example.org"
    lin = next(p for p in _list(settings_path) if p["email"] == "Lin@example.org")
    # The weights as they were given (they were dropped from the listing).
    assert lin["interests"] == ["protein folding^2", "docking"]
    table = run("--settings", settings_path, "subscribers", "list", cwd=folder).stdout
    assert "protein folding^2; docking" in table
    assert (lin["send_at"], lin["timezone"], lin["weekdays_only"]) == ("06:05", "Asia/Tokyo", True)
    assert lin["source"] == "store"
    again = run("--settings", settings_path, "subscribers", "add", "lin@example.org", cwd=folder)
    assert again.stdout.strip() == "updated lin@example.org" and _count(folder) == 1
    removed = run(
        "--settings", settings_path, "subscribers", "remove", "LIN@example.org", cwd=folder
    )
    assert removed.returncode == 0 and _count(folder) == 0
    missing = run(
        "--settings", settings_path, "subscribers", "remove", "lin@example.org", cwd=folder
    )
    assert_clean_error(missing, 7, "no subscriber 'lin@example.org'")


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        (["not-an-address"], "is not a valid address"),
        (["a@example.org", "--max-items", "0"], "max_items 0 must be between 1 and 100"),
        (["a@example.org", "--send-at", "25:00"], "is not HH:MM"),
        (["a@example.org", "--timezone", "Mars/Base"], "unknown time zone"),
        (["a@example.org", "--interest", "x^0"], "weight after ^"),
        (["josé@example.org"], "non-ASCII characters before the @"),  # needs SMTPUTF8
        (["a@example.org", *[f"--interest=t{n}" for n in range(51)]], "51 interests is too many"),
        (["a@example.org", "--exclude", "x" * 201], "longer than 200 characters"),
    ],
)
def test_add_refuses_bad_input_in_one_line(
    settings_path: Path, arguments: list[str], needle: str
) -> None:
    result = run(
        "--settings", settings_path, "subscribers", "add", *arguments, cwd=settings_path.parent
    )
    assert_clean_error(result, 7, needle)
    assert _count(settings_path.parent) == 0


def test_import_is_all_or_nothing_with_bad_rows_named_by_line(settings_path: Path) -> None:
    folder = settings_path.parent
    bad = folder / "people.csv"
    bad.write_text(
        "email,name,interests,max_items\n"
        "one@example.org,One,llm;rag,5\n"
        "\n"
        "two@@example.org,Two,,\n"
        "three@example.org,Three,,many\n"
        "ONE@example.org,Again,,\n",
        encoding="utf-8",
    )
    result = run("--settings", settings_path, "subscribers", "import", bad, cwd=folder)
    assert_clean_error(result, 7, "3 bad row(s), nothing imported")
    message = result.stderr
    assert "line 4: 'two@@example.org'" in message
    assert "line 5: max_items 'many'" in message
    assert "line 6: ONE@example.org is already on line 2" in message
    assert _count(folder) == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("name\nx\n", "with at least 'email'"),
        ("email,colour\na@example.org,red\n", "unknown column(s) 'colour'"),
        ("email\na@example.org,extra\n", "more cells than columns"),
    ],
)
def test_import_refuses_malformed_files(settings_path: Path, content: str, needle: str) -> None:
    path = settings_path.parent / "bad.csv"
    path.write_text(content, encoding="utf-8")
    result = run(
        "--settings", settings_path, "subscribers", "import", path, cwd=settings_path.parent
    )
    assert_clean_error(result, 7, needle)


def test_import_latin1_file_is_refused(settings_path: Path) -> None:
    path = settings_path.parent / "latin.csv"
    path.write_bytes("email,name\nj@example.org,Jos\xe9\n".encode("latin-1"))
    result = run(
        "--settings", settings_path, "subscribers", "import", path, cwd=settings_path.parent
    )
    assert_clean_error(result, 7, "not UTF-8")


def test_export_then_import_round_trips(
    database: Path | str, settings_path: Path, tmp_path: Path
) -> None:
    folder = settings_path.parent
    source = folder / "in.csv"
    source.write_text(
        "email,name,interests,exclude,authors,max_items,send_at,timezone,weekdays_only\n"
        'ana@example.org,"Ana, PhD",diffusion^3;video,survey,Ho,4,06:00,Europe/Lisbon,yes\n'
        "bo@example.org,Bö,,,,,,,\n",
        encoding="utf-8",
    )
    assert (
        run("--settings", settings_path, "subscribers", "import", source, cwd=folder).returncode
        == 0
    )
    exported = run("--settings", settings_path, "subscribers", "export", cwd=folder)
    assert exported.returncode == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert rows[0]["name"] == "Ana, PhD" and rows[0]["interests"] == "diffusion^3;video"
    other = tmp_path / "other"
    other.mkdir()
    copy = write_settings(other, database=database)
    (other / "out.csv").write_text(exported.stdout, encoding="utf-8")
    assert (
        run("--settings", copy, "subscribers", "import", other / "out.csv", cwd=other).returncode
        == 0
    )
    again = run("--settings", copy, "subscribers", "export", cwd=other)
    assert again.stdout == exported.stdout


def test_store_rows_override_settings_and_unsubscribed_stay_unsubscribed(
    settings_path: Path,
) -> None:
    settings = load_settings(settings_path)
    rows = read_csv(
        _write(
            settings_path.parent / "p.csv",
            "email,interests\nada@example.org,robots\nnew@example.org,llm\n",
        )
    )
    with Store.open(settings.database) as store:
        store.readers.unsubscribe("new@example.org", FIXED_NOW)
        store.readers.upsert_subscribers(rows, FIXED_NOW)
        people = all_subscribers(settings, store)
    assert [p.email for p in people] == ["ada@example.org", "grace@example.org", "new@example.org"]
    assert people[0].interests == interests(
        "robots"
    )  # the store's row wins over the settings entry
    listed = {p["email"]: p for p in _list(settings_path)}
    assert listed["new@example.org"]["status"] == "unsubscribed"
    assert listed["grace@example.org"]["source"] == "settings"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_of_many_subscribers_is_one_transaction(settings_path: Path) -> None:
    """10,000 rows land together (the benchmark goes to 100,000)."""
    lines = ["email,interests"] + [f"reader{n}@example.org,topic {n % 50}" for n in range(10_000)]
    path = _write(settings_path.parent / "many.csv", "\n".join(lines) + "\n")
    result = run(
        "--settings", settings_path, "subscribers", "import", path, cwd=settings_path.parent
    )
    assert result.returncode == 0, result.stderr
    assert "10000 new" in result.stdout
    assert _count(settings_path.parent) == 10_000


def test_send_schedules_come_from_both_sources_without_loading_everyone(
    settings_path: Path,
) -> None:
    """The daemon's groups: store rows (unset fields take the defaults) plus settings entries
    that no store row overrides."""
    from digest.profile import ProfileInput, validated_row
    from digest.subscribers import schedules

    settings = load_settings(settings_path)
    with Store.open(settings.database) as store:
        assert schedules(settings, store) == {("07:30", "UTC", False)}
        store.readers.upsert_subscribers(
            [
                validated_row(ProfileInput("ada@example.org", send_at="06:00")),  # overrides
                validated_row(ProfileInput("x@example.org", timezone="Asia/Tokyo")),
                validated_row(ProfileInput("y@example.org", weekdays_only=True)),
            ],
            FIXED_NOW,
        )
        assert schedules(settings, store) == {
            ("06:00", "UTC", False),  # ada, from the store
            ("07:30", "UTC", False),  # grace, still from the settings
            ("07:30", "Asia/Tokyo", False),
            ("07:30", "UTC", True),
        }
        assert {p.email for p in all_subscribers(settings, store)} == {
            "ada@example.org",
            "grace@example.org",
            "x@example.org",
            "y@example.org",
        }


def test_resubscribe_undoes_an_unsubscribe_only(settings_path: Path) -> None:
    folder = settings_path.parent
    with Store.open(load_settings(settings_path).database) as store:
        store.readers.unsubscribe("grace@example.org", FIXED_NOW)
    assert {p["email"]: p["status"] for p in _list(settings_path)}["grace@example.org"] != "active"
    back = run(
        "--settings", settings_path, "subscribers", "resubscribe", "grace@example.org", cwd=folder
    )
    assert back.returncode == 0, back.stderr
    assert {p["email"]: p["status"] for p in _list(settings_path)}["grace@example.org"] == "active"
    again = run(
        "--settings", settings_path, "subscribers", "resubscribe", "grace@example.org", cwd=folder
    )
    assert_clean_error(again, 7, "is not unsubscribed")


def test_international_domains_are_stored_in_their_ascii_form(settings_path: Path) -> None:
    folder = settings_path.parent
    added = run("--settings", settings_path, "subscribers", "add", "kai@Bücher.de", cwd=folder)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added kai@xn--bcher-kva.de"


def test_list_pages_and_filters_without_loading_everyone(settings_path: Path) -> None:
    folder = settings_path.parent
    lines = ["email"] + [f"r{n:03d}@example.org" for n in range(30)]
    path = _write(folder / "some.csv", "\n".join(lines) + "\n")
    assert (
        run("--settings", settings_path, "subscribers", "import", path, cwd=folder).returncode == 0
    )
    page = run(
        "--settings", settings_path, "subscribers", "list", "--json", "--offset", "1",
        "--limit", "3", cwd=folder,
    )  # fmt: skip
    assert [p["email"] for p in json.loads(page.stdout)] == [
        "grace@example.org",  # the settings' readers come first
        "r000@example.org",
        "r001@example.org",
    ]
    found = run(
        "--settings", settings_path, "subscribers", "list", "--containing", "R02", cwd=folder
    )
    assert "10 of 10 subscriber(s)" in found.stderr
