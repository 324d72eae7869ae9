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
from .test_bounces import _nested, _reader_store, report


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


def _hard(who: str) -> bytes:
    return report("bounces@digest.test", who, "5.1.1", "550 5.1.1 user unknown")


HUGE = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered\n\n" + (b"x" * 998 + b"\n") * 17_000


def test_pop3_reads_long_lines_keeps_aside_what_it_cannot_read_and_always_quits(
    dovecot: Any, tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One 3,000-byte line made poplib raise "line too long" on every poll and QUIT was
    never sent. Now lines of any length are read; a message over 16 MB (as LIST says) or
    nested 5,000 deep is kept aside: left on the server, remembered by its UIDL, never fetched
    again; the messages read are deleted, as QUIT ends every session."""
    _reader_store(tmp_path)
    monkeypatch.setenv("DIGEST_BOUNCES__PASSWORD", PASSWORD)
    long_line = _hard("ada@example.org").replace(b"was not delivered.", b"x" * 3000)
    _deliver(dovecot.maildir, long_line, _nested(5000), HUGE, _hard("grace@example.org"))
    pop3 = _editions(tmp_path, f"pop3s://bounces@localhost:{dovecot.pop3s}")
    done, _ = pop3.poll_bounces()
    assert [(d.reader, d.action, d.note) for d in done] == [
        ("ada@example.org", "suppressed", ""),
        (None, "none", "not read: more than 64 multipart or message parts"),
        (None, "none", "not read: larger than 16 MB"),
        ("grace@example.org", "suppressed", ""),
    ]
    assert len(mailbox.Maildir(dovecot.maildir, create=False)) == 2  # the two kept aside
    assert pop3.poll_bounces()[0] == []  # nothing fetched again


def test_imap_flags_what_it_cannot_read_and_never_fetches_it_again(
    dovecot: Any, tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message nested 5,000 deep raised RecursionError on every poll of an IMAP mailbox:
    nothing after it was read. Now it, and one over 16 MB (never fetched: RFC822.SIZE comes
    first), are flagged seen and flagged, and the rest is read."""
    _reader_store(tmp_path)
    monkeypatch.setenv("DIGEST_BOUNCES__PASSWORD", PASSWORD)
    _deliver(dovecot.maildir, _nested(5000), HUGE, _hard("grace@example.org"))
    imap = _editions(tmp_path, f"imaps://bounces@localhost:{dovecot.imaps}/INBOX")
    done, _ = imap.poll_bounces()
    assert [(d.reader, d.note) for d in done] == [
        (None, "not read: more than 64 multipart or message parts"),
        (None, "not read: larger than 16 MB"),
        ("grace@example.org", ""),
    ]
    assert imap.poll_bounces()[0] == []
    flags = sorted(p.name.rsplit(":2,", 1)[1] for p in (dovecot.maildir / "cur").iterdir())
    assert flags == ["FS", "FS", "S"]


@pytest.mark.parametrize("body", ["none", "huge"])
def test_a_hostile_imap_server_costs_nothing_and_flags_nothing(
    body: str, tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FETCH answered without a body was processed as an empty message and flagged seen;
    a literal announced at 300 MB was read whole (368 MB). Now the first is left unread and
    the second refused as soon as it is announced, in one line."""
    from digest.bounces import mailboxes

    from .imapfake import hostile_imap

    _reader_store(tmp_path)
    monkeypatch.setenv("DIGEST_BOUNCES__PASSWORD", "any")
    monkeypatch.setattr(mailboxes, "TIMEOUT", 5.0)  # a client that waits for the rest fails
    with hostile_imap(tmp_path, body) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate))
        editions = _editions(tmp_path, f"imaps://bounces@localhost:{server.port}/INBOX")
        if body == "none":
            done, _ = editions.poll_bounces()
            assert [(d.kept_aside, d.note) for d in done] == [
                (True, "not read: the server sent no body; left unread")
            ]
        else:
            with pytest.raises(BounceError, match="314,572,800 bytes for one message"):
                editions.poll_bounces()
    assert not any(c.upper().startswith("UID STORE") for c in server.commands), server.commands
