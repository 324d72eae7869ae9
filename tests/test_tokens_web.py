"""Sealed link tokens in the web app (issue 32, item 7): links name nobody in clear; links of
the old form (the address in base64), already in inboxes, open their page for `[web]
old_links_days` after the store moved to sealed tokens, then answer 410."""

from __future__ import annotations

import base64
import datetime as dt
import sqlite3
from pathlib import Path

from itsdangerous import Signer

from digest.editions import make_token
from digest.settings import load_settings
from digest.store import Store
from digest.store.schema import SEALED_LINKS_SINCE
from digest.web import create_app

from .conftest import FIXED_NOW, fixed_clock, write_settings


def _old_link(secret: str, address: str, purpose: str) -> str:
    payload = base64.urlsafe_b64encode(address.encode()).rstrip(b"=")
    return Signer(secret, salt=f"digest.{purpose}").sign(payload).decode("ascii")


def _upgraded_store(path: Path) -> None:
    """A store as version 11 left it, then opened by this version (the upgrade)."""
    Store.open(path).close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM meta WHERE key = ?", (SEALED_LINKS_SINCE,))
    db.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with Store.open(path) as store:
        since = store.sealed_links_since()
    assert since is not None
    db = sqlite3.connect(path)  # the upgrade happened at FIXED_NOW, for the test's clock
    db.execute(
        "UPDATE meta SET value = ? WHERE key = ?", (FIXED_NOW.isoformat(), SEALED_LINKS_SINCE)
    )
    db.commit()
    db.close()


def test_old_links_open_their_page_until_old_links_days(tmp_path: Path, secret_env: str) -> None:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "digest.sqlite"))
    _upgraded_store(settings.database)  # type: ignore[arg-type]
    old = _old_link(secret_env, "ada@example.org", "preferences")
    sealed = make_token(secret_env, "ada@example.org", "preferences")
    assert "ada" not in base64.urlsafe_b64decode(sealed.split(".")[1] + "==").decode("latin-1")
    soon = create_app(settings, fixed_clock(FIXED_NOW + dt.timedelta(days=89))).test_client()
    assert soon.get(f"/preferences/{old}").status_code == 200
    assert soon.get(f"/preferences/{sealed}").status_code == 200
    late = create_app(settings, fixed_clock(FIXED_NOW + dt.timedelta(days=91))).test_client()
    gone = late.get(f"/preferences/{old}")
    assert gone.status_code == 410 and b"expired" in gone.data
    assert late.get(f"/preferences/{sealed}").status_code == 200


def test_a_store_made_with_sealed_links_takes_no_old_ones(tmp_path: Path, secret_env: str) -> None:
    settings = load_settings(write_settings(tmp_path, database=tmp_path / "digest.sqlite"))
    with Store.open(settings.database) as store:
        assert store.sealed_links_since() is None
    client = create_app(settings, fixed_clock()).test_client()
    assert (
        client.get(
            f"/preferences/{_old_link(secret_env, 'ada@example.org', 'preferences')}"
        ).status_code
        == 410
    )
    sealed = make_token(secret_env, "ada@example.org", "preferences")
    assert client.get(f"/preferences/{sealed}").status_code == 200
