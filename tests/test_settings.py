from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import SettingsError
from digest.models import Interest
from digest.settings import load_settings

from .conftest import REPO, write_settings


def test_example_settings_file_is_valid() -> None:
    settings = load_settings(REPO / "settings.example.toml")
    assert settings.smtp.port == 25
    assert settings.subscribers[0].email == "ada@example.org"
    assert settings.database == REPO / "digest.sqlite"  # relative to the file's folder


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"settings file .*nope\.toml not found"):
        load_settings(tmp_path / "nope.toml")


def test_invalid_toml_names_the_position(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("database = \n")
    with pytest.raises(SettingsError, match=r"not valid TOML.*line 1"):
        load_settings(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[smtp]\nport = "abc"\n', r"smtp\.port: .*integer.*'abc'"),
        ('[smtp]\nsecurity = "tls"\n', r"smtp\.security"),
        ('[[subscribers]]\nemail = "not-an-address"\n', r"subscribers\[0\]\.email"),
        (
            '[[subscribers]]\nemail = "a@example.org"\nmax_items = 0\n',
            r"subscribers\[0\]\.max_items",
        ),
        ("typo_key = 1\n", r"typo_key: Extra inputs"),
        ('timezone = "Mars/Olympus"\n', r"timezone: .*unknown time zone"),
        ('[sender]\nbase_url = "ftp://x"\n', r"sender\.base_url"),
        (
            '[[subscribers]]\nemail = "a@example.org"\n'
            'interests = [{ phrase = "x", weight = -1 }]\n',
            r"subscribers\[0\]\.interests\[0\]",
        ),
        ("[ranking]\ndiversity = 2\n", r"ranking\.diversity"),
        ('[sources]\nhf_api_url = "file:///etc"\n', r"sources\.hf_api_url"),
        (
            '[[subscribers]]\nemail = "a@example.org"\nname = "A\\r\\nBcc: x@y.z"\n',
            r"name.*single line",
        ),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(extra)
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(path)
    assert "\n" not in str(caught.value)


def test_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[smtp]\npassword = "hunter2"\n')
    with pytest.raises(SettingsError, match="DIGEST_SMTP__PASSWORD"):
        load_settings(path)
    path.write_text('secret_key = "abc"\n')
    with pytest.raises(SettingsError, match="DIGEST_SECRET_KEY"):
        load_settings(path)


def test_environment_overrides_any_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_settings(tmp_path, port=2525)
    monkeypatch.setenv("DIGEST_SMTP__PORT", "2600")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "s3cret")
    monkeypatch.setenv("DIGEST_DATABASE", "/var/tmp/other.sqlite")
    settings = load_settings(path)
    assert settings.smtp.port == 2600
    assert settings.smtp.host == "127.0.0.1"  # the rest of [smtp] still comes from the file
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.database == Path("/var/tmp/other.sqlite")


def test_digest_settings_env_picks_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_settings(tmp_path, port=2999)
    monkeypatch.setenv("DIGEST_SETTINGS", str(path))
    assert load_settings().smtp.port == 2999


def test_weighted_interests_and_ranking_section(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[ranking]\ndiversity = 0.5\n[[subscribers]]\nemail = "a@example.org"\n'
        'interests = ["plain", { phrase = "heavy", weight = 2.5 }]\nauthors = ["Ada"]\n'
        'liked = ["2501.00001"]\nmin_score = 0.2\n'
    )
    from digest.editions import subscribers_from, weights_from

    settings = load_settings(path)
    [person] = subscribers_from(settings)
    assert person.interests == (Interest("plain"), Interest("heavy", 2.5))
    assert (person.authors, person.liked, person.min_score) == (("Ada",), ("2501.00001",), 0.2)
    assert weights_from(settings).diversity == 0.5


def test_the_ranking_weights_have_one_set_of_defaults() -> None:
    """[ranking] and the ranker's Weights are one declaration: every weight is a settings key
    and the section's defaults are the ranker's (they were written twice, and could differ)."""
    import dataclasses

    from digest.models import Weights
    from digest.settings import RankingSettings

    assert {f.name for f in dataclasses.fields(Weights)} <= set(RankingSettings.model_fields)
    assert RankingSettings().weights() == Weights()
    assert RankingSettings(diversity=0.7).weights().diversity == 0.7


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_items", "0", "max_items 0 must be between 1 and 100"),
        ("weekday", '"someday"', "weekday 'someday' must be one of"),
        ("quiet", '"loud"', "quiet 'loud' must be one of trending, note, skip"),
        ("send_at", '"25:00"', "send time '25:00' is not HH:MM"),
    ],
)
def test_a_reader_is_checked_alike_in_the_settings_and_in_a_csv(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    """One reader schema (digest.profile): the settings' [[subscribers]] and a CSV row say the
    same thing about the same bad value."""
    from digest.errors import SubscriberError
    from digest.subscribers import read_csv

    path = tmp_path / "s.toml"
    path.write_text(f'[[subscribers]]\nemail = "a@example.org"\n{field} = {value}\n')
    with pytest.raises(SettingsError, match=rf"subscribers\[0\]\.{field}: .*{message}"):
        load_settings(path)
    table = tmp_path / "people.csv"
    table.write_text(f"email,{field}\na@example.org,{value.strip(chr(34))}\n", encoding="utf-8")
    with pytest.raises(SubscriberError, match=message):
        read_csv(table)


def test_a_weekly_weekend_edition_for_a_weekdays_only_reader_is_refused_in_the_settings(
    tmp_path: Path,
) -> None:
    """It never comes; the CSV and the form refused it already, the settings let it through."""
    path = tmp_path / "s.toml"
    path.write_text(
        '[[subscribers]]\nemail = "a@example.org"\nfrequency = "weekly"\nweekday = "sun"\n'
        "weekdays_only = true\n"
    )
    with pytest.raises(SettingsError, match="never comes with weekdays_only"):
        load_settings(path)


def test_an_interest_in_the_readers_own_words_is_kept_as_written(tmp_path: Path) -> None:
    """A sentence, with its `not …` part, is a settings interest like any phrase: kept as the
    reader wrote it (digest.rank.words reads it when ranking)."""
    sentence = "memory mechanisms for LLM agents; not GPU memory"
    path = tmp_path / "s.toml"
    path.write_text(
        f'[[subscribers]]\nemail = "a@example.org"\ninterests = ["{sentence}", '
        f'{{ phrase = """planning for agents,\nnot robotics""", weight = 2 }}]\n'
    )
    from digest.editions import subscribers_from
    from digest.rank import Profile
    from digest.rank.words import as_read

    [person] = subscribers_from(load_settings(path))
    assert person.interests == (
        Interest(sentence),
        Interest("planning for agents,\nnot robotics", 2),
    )
    read = as_read(Profile(person.interests))
    assert [(i.phrase, i.weight) for i in read.interests] == [
        ("memory mechanisms for LLM agents", 1.0),
        ("planning for agents", 2.0),
    ]
    assert read.exclude == ("GPU memory", "robotics")
