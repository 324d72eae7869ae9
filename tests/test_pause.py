"""A reader's pause (issue 32): `pause_until` on the preferences page, in the CSV, as
`--pause-until` and in `[[subscribers]]`. No edition before that date; they resume on it by
themselves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from digest.clock import iso_day, utc_now
from digest.deliver import MemoryTransport
from digest.diff import ingest_paths
from digest.editions import make_token, send_edition
from digest.models import Subscriber
from digest.profile import check_pause_until
from digest.settings import load_settings
from digest.store import Store
from digest.subscribers import read_csv, write_csv
from digest.web import create_app

from .conftest import EXAMPLES, assert_clean_error, fixed_clock, run, write_settings

PAUSED = """
[[subscribers]]
email = "away@example.org"
interests = []
max_items = 50
pause_until = "2026-11-22"

[[subscribers]]
email = "here@example.org"
interests = []
max_items = 50
"""


def test_no_edition_while_paused_and_back_on_the_date(tmp_path: Path, secret_env: str) -> None:
    settings = load_settings(
        write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers=PAUSED)
    )
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
        before = MemoryTransport()
        send_edition(store, settings, before, utc_now, date=dt.date(2026, 11, 21))
        assert [to for _, to, _ in before.outbox] == ["here@example.org"]
        back = MemoryTransport()
        send_edition(store, settings, back, utc_now, date=dt.date(2026, 11, 22))
        assert "away@example.org" in [to for _, to, _ in back.outbox]


def test_the_pause_rule() -> None:
    person = Subscriber("a@example.org", pause_until=dt.date(2026, 12, 24))
    assert not person.due_on(dt.date(2026, 12, 23)) and person.due_on(dt.date(2026, 12, 24))
    assert Subscriber("b@example.org").due_on(dt.date(2026, 12, 23))


def test_the_csv_keeps_the_pause(tmp_path: Path) -> None:
    people = [
        Subscriber("a@example.org", pause_until=dt.date(2026, 12, 24)),
        Subscriber("b@example.org"),
    ]
    path = tmp_path / "readers.csv"
    path.write_text(write_csv(people))
    rows = {row.email: row.profile.get("pause_until") for row in read_csv(path)}
    assert rows == {"a@example.org": "2026-12-24", "b@example.org": None}
    path.write_text("email,pause_until\nc@example.org,next week\n")
    try:
        read_csv(path)
    except Exception as exc:  # a SubscriberError naming the line and the value
        assert "line 2" in str(exc) and "pause_until 'next week' must be a date" in str(exc)
    else:
        raise AssertionError("a bad pause_until was accepted")


def test_the_cli_sets_shows_and_clears_a_pause(tmp_path: Path, secret_env: str) -> None:
    settings = write_settings(tmp_path)
    added = run(
        "--settings", settings, "subscribers", "add", "c@example.org", "--interest", "graphs",
        "--pause-until", "2026-12-24", cwd=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = run("--settings", settings, "subscribers", "list", "--json", cwd=tmp_path)
    [entry] = [e for e in json.loads(listed.stdout) if e["email"] == "c@example.org"]
    assert entry["pause_until"] == "2026-12-24"
    shown = run("--settings", settings, "subscribers", "list", cwd=tmp_path)
    assert "paused until 2026-12-24" in shown.stdout
    assert_clean_error(
        run(
            "--settings",
            settings,
            "subscribers",
            "add",
            "c@example.org",
            "--pause-until",
            "soon",
            cwd=tmp_path,
        ),
        7,
        "pause_until 'soon' must be a date",
    )


def test_the_preferences_page_sets_and_clears_a_pause(tmp_path: Path, secret_env: str) -> None:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "digest.sqlite"))
    client = create_app(settings, fixed_clock()).test_client()
    url = f"/preferences/{make_token(secret_env, 'ada@example.org', 'preferences')}"
    assert b'name="pause_until"' in client.get(url).data
    form = {"interests": "graph neural networks", "pause_until": "2026-12-24"}
    assert client.post(url, data=form).status_code == 200
    with Store.open(settings.database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert row.profile["pause_until"] == "2026-12-24"
    assert b'value="2026-12-24"' in client.get(url).data
    refused = client.post(url, data={**form, "pause_until": "24/12/2026"})
    assert refused.status_code == 400 and b"must be a date" in refused.data
    assert client.post(url, data={**form, "pause_until": ""}).status_code == 200
    with Store.open(settings.database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert row.profile["pause_until"] is None


@pytest.mark.parametrize("written", ["2025-W30-1", "20250725", "2025-02-30", "2025-7-25"])
def test_a_day_is_written_as_yyyy_mm_dd_only(written: str) -> None:
    """Python's parser takes ISO week dates and basic forms; no reader means those."""
    assert iso_day(written) is None
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        check_pause_until(written)
    assert check_pause_until("2025-07-25") == "2025-07-25"
