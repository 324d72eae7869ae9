"""The daemon's bounce mailbox on a real IMAP and POP3 server (Dovecot, over TLS): unread
reports are processed once and flagged seen (IMAP), or deleted once read (POP3); a wrong
password is one clear line."""

from __future__ import annotations

import mailbox
import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from digest.editions import Editions, Runtime
from digest.errors import BounceError
from digest.settings import load_settings

from .conftest import FIXED_NOW
from .dovecotserver import PASSWORD
from .test_bounces import _reader_store, report


def _deliver(maildir: Path, *messages: bytes) -> None:
    box = mailbox.Maildir(maildir, create=True)
    for data in messages:
        box.add(data)
    nobody = pwd.getpwnam("nobody")
    for folder, _, files in os.walk(maildir):
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        for name in files:
            os.chown(Path(folder) / name, nobody.pw_uid, nobody.pw_gid)


def _editions(tmp_path: Path, mailbox_url: str) -> Editions:
    path = tmp_path / "settings.toml"
    text = path.read_text().split("\n[bounces]")[0]
    path.write_text(text + f'\n[bounces]\nmailbox = "{mailbox_url}"\n', encoding="utf-8")
    return Editions(load_settings(path), runtime=Runtime(clock=lambda: FIXED_NOW))


def test_imap_flags_what_it_read_and_pop3_deletes_only_after_reading(
    dovecot: Any, tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reader_store(tmp_path)
    monkeypatch.setenv("DIGEST_BOUNCES__PASSWORD", PASSWORD)
    _deliver(
        dovecot.maildir,
        report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown"),
        report("bounces@digest.test", "grace@example.org", "4.2.2", "452 mailbox full"),
    )
    imap = _editions(tmp_path, f"imaps://bounces@localhost:{dovecot.imaps}/INBOX")
    done, _ = imap.poll_bounces()
    assert sorted((d.reader, d.action) for d in done) == [
        ("ada@example.org", "suppressed"),
        ("grace@example.org", "counted"),
    ]
    assert imap.poll_bounces()[0] == []  # flagged seen: nothing unread
    box = mailbox.Maildir(dovecot.maildir, create=False)
    assert len(box) == 2 and all("S" in box.get_message(k).get_flags() for k in box.iterkeys())
    # POP3 has no flags: it reads every message, the ones read before count once, and each
    # is deleted after it was read.
    _deliver(
        dovecot.maildir,
        report("bounces@digest.test", "grace@example.org", "4.2.2", "452 mailbox full, again"),
    )
    pop3 = _editions(tmp_path, f"pop3s://bounces@localhost:{dovecot.pop3s}")
    done, _ = pop3.poll_bounces()
    assert sorted(d.note for d in done) == ["", "processed before", "processed before"]
    assert len(mailbox.Maildir(dovecot.maildir, create=False)) == 0
    monkeypatch.setenv("DIGEST_BOUNCES__PASSWORD", "wrong")
    wrong = _editions(tmp_path, f"imaps://bounces@localhost:{dovecot.imaps}/INBOX")
    with pytest.raises(BounceError, match="check DIGEST_BOUNCES__PASSWORD"):
        wrong.poll_bounces()
