"""Bounces that arrive after the relay said yes: an edition sent over real SMTP (aiosmtpd) with
VERP return paths, a report for one reader processed from a Maildir, that reader suppressed in
the next edition and nobody else; the soft-bounce count and what resets it; complaints; the
command line and hostile input (a forged VERP token, a stranger, a huge message, a broken mbox)."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from digest.bounces import Kind
from digest.bounces.verp import read_return_path, return_path
from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import Editions, Runtime, send_edition
from digest.settings import Settings, load_settings
from digest.store import Store

from .conftest import (
    EXAMPLES,
    FIXED_NOW,
    TEST_SECRET,
    SmtpServer,
    assert_clean_error,
    fixed_clock,
    run,
    write_settings,
)

VERP = '[sender]\nreturn_path = "bounces@digest.test"\n'


def _settings(tmp_path: Path, port: int = 2525, database: Path | str = "") -> Settings:
    path = write_settings(tmp_path, port=port, database=database or tmp_path / "d.sqlite")
    text = path.read_text().replace("[sender]\n", VERP, 1)
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def report(to: str, recipient: str, status: str, said: str, action: str = "failed") -> bytes:
    """A delivery status notification as an MTA writes one (RFC 3464)."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"
        f"To: {to}\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\nThe message to <{recipient}> was not delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {said}\n\n--b--\n"
    ).encode()


def _maildir(folder: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(folder, create=True)
    for data in messages:
        box.add(data)
    return folder


def test_a_bounce_to_the_verp_address_suppresses_that_reader_only(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str, database: Path | str
) -> None:
    settings = _settings(tmp_path, smtp_server.port, database)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    senders = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.handler.messages}
    ada = senders["ada@example.org"]
    assert ada.startswith("bounces+") and ada.endswith("@digest.test") and len(ada) < 64 + 13
    assert ada != senders["grace@example.org"]
    # Ada's server bounces it later: to the VERP address, naming an alias of hers.
    bounce = report(ada, "ada.lovelace@mail.example.org", "5.1.1", "550 5.1.1 no such user")
    editions = Editions(settings, runtime=Runtime(clock=lambda: FIXED_NOW))
    [done] = editions.process_bounces([_maildir(tmp_path / "Maildir", bounce)])
    assert (done.kind, done.reader, done.action) == ("hard", "ada@example.org", "suppressed")
    assert done.edition == FIXED_NOW.date().isoformat()
    # Processing the same mailbox again changes nothing.
    [again] = editions.process_bounces([tmp_path / "Maildir"])
    assert again.note == "processed before"
    status = editions.status()
    assert status.bounces == {"hard": 1} and status.rates()["hard_rate"] == 0.5
    assert any("hard bounces at 50.00%" in w for w in status.warnings(0.001, 0.02))
    with Store.open(settings.database) as store:
        assert (store.readers.suppressed("ada@example.org") or "").startswith("bounced: 5.1.1")
        assert store.readers.suppressed("grace@example.org") is None
        [event] = store.bounces.events("ada@example.org")
        assert (event.kind, event.action, event.status) == ("hard", "suppressed", "5.1.1")
        later = FIXED_NOW + dt.timedelta(days=1)
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: later)
        next_day = send_edition(store, settings, SmtpTransport(settings.smtp), lambda: later)
    assert "ada@example.org" in next_day.suppressed
    assert "ada@example.org" not in next_day.sent


def test_verp_tokens_are_short_signed_and_survive_case_folding() -> None:
    keys = ["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    made = return_path("bounces@example.org", keys[1:], "2026-11-22", "Ada@Example.org")
    assert len(made.split("@")[0]) <= 64
    found = read_return_path(made.upper(), "bounces@example.org", keys)
    assert found is not None and found.edition_id == "2026-11-22"
    forged = made.replace(made.split(".")[-2][-3:], "aaa", 1)
    assert read_return_path(forged, "bounces@example.org", keys) is None
    assert read_return_path(made, "bounces@example.org", keys[:1]) is None  # key dropped
    assert read_return_path("ada@example.org", "bounces@example.org", keys) is None


def _reader_store(tmp_path: Path, database: Path | str = "") -> Settings:
    """A store with the example readers; no VERP (reports name their readers by recipient)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    where = database or tmp_path / "d.sqlite"
    settings = load_settings(write_settings(tmp_path, database=where))
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    return settings


def _process(settings: Settings, moment: dt.datetime, *messages: bytes, name: str) -> list[str]:
    base = settings.database
    root = base.parent if isinstance(base, Path) else Path(tempfile.mkdtemp(prefix="bounces-"))
    folder = _maildir(root / name, *messages)
    editions = Editions(settings, runtime=Runtime(clock=lambda: moment))
    return [done.action for done in editions.process_bounces([folder])]


def test_soft_bounces_suppress_at_the_limit_unless_a_delivery_came_between(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    settings = _reader_store(tmp_path, database)
    full = "552 5.2.2 mailbox full"

    def soft(n: int) -> bytes:
        return report("bounces@digest.test", "grace@example.org", "5.2.2", f"{full} ({n})")

    day = dt.timedelta(days=1)
    assert _process(settings, FIXED_NOW, soft(1), name="a") == ["counted"]
    assert _process(settings, FIXED_NOW + day, soft(2), name="b") == ["counted"]
    delivered = report("bounces@digest.test", "grace@example.org", "2.0.0", "250 ok", "delivered")
    assert _process(settings, FIXED_NOW + 2 * day, delivered, name="c") == ["none"]
    # The delivery reset the count: two more are still only counted; the third suppresses.
    assert _process(settings, FIXED_NOW + 3 * day, soft(3), soft(4), name="d") == ["counted"] * 2
    assert _process(settings, FIXED_NOW + 4 * day, soft(5), name="e") == ["suppressed"]
    with Store.open(settings.database) as store:
        why = store.readers.suppressed("grace@example.org") or ""
    assert why.startswith("bounced: 3 soft bounces in 14 days")
    # Bounces older than soft_days do not count.
    settings2 = _reader_store(tmp_path / "other")
    far = dt.timedelta(days=settings2.bounces.soft_days + 1)
    actions = [
        _process(settings2, FIXED_NOW + k * far, soft(10 + k), name=f"f{k}")[0] for k in range(4)
    ]
    assert actions == ["counted"] * 4


def test_a_complaint_unsubscribes_and_delays_never_count(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    settings = _reader_store(tmp_path, database)
    complaint = (
        b"From: feedback@isp.example\nTo: bounces@digest.test\nSubject: Complaint\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; b"
        b'oundary="b"\n\n--b\nContent-Type: text/plain\n\nA user marked this as spam.\n'
        b"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n"
        b"Original-Rcpt-To: <ada@example.org>\n\n--b--\n"
    )
    delayed = report("bounces@digest.test", "grace@example.org", "4.4.1", "no answer", "delayed")
    away = (
        b"From: Grace <grace@example.org>\nSubject: Out of office\n"
        b"Auto-Submitted: auto-replied\n\nAway.\n"
    )
    actions = _process(settings, FIXED_NOW, complaint, delayed, away, name="m")
    assert sorted(actions) == ["none", "none", "unsubscribed"]
    with Store.open(settings.database) as store:
        assert (store.readers.suppressed("ada@example.org") or "").startswith("complained")
        assert store.readers.suppressed("grace@example.org") is None
        kinds = {e.kind for e in store.bounces.events("grace@example.org")}
    assert kinds == {Kind.DELAYED, Kind.AUTO_REPLY}


def test_the_command_line_and_hostile_input(tmp_path: Path, secret_env: str) -> None:
    settings = _reader_store(tmp_path)
    settings_file = tmp_path / "settings.toml"
    stranger = report("bounces@digest.test", "nobody@else.example", "5.1.1", "550 no such user")
    forged = report(
        "bounces+261122aaaaaaaa.bbbbbbbb@digest.test", "nobody@else.example", "5.1.1", "550 x"
    )
    huge = b"From: MAILER-DAEMON@x.example\nSubject: Undelivered\n\n" + b"x" * (17 * 2**20)
    hard = report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown")
    mbox = tmp_path / "bounces.mbox"
    mbox.write_bytes(
        b"From MAILER-DAEMON Mon Nov 23 10:00:00 2026\n" + stranger
        + b"\nFrom nobody-broken-line\n" + forged
        + b"\nFrom MAILER-DAEMON Mon Nov 23 10:00:01 2026\n" + hard + b"\n"
    )  # fmt: skip
    (tmp_path / "huge.eml").write_bytes(huge)
    dry = run("--settings", settings_file, "bounces", "process", "--json", "--dry-run", mbox,
              cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    lines = [json.loads(line) for line in dry.stdout.splitlines()]
    assert [line["reader"] for line in lines][-1] == "ada@example.org"
    assert [line["action"] for line in lines][-1] == "suppressed"  # what it would do
    assert all(line["reader"] is None for line in lines[:-1])
    with Store.open(settings.database) as store:
        assert store.readers.suppressed("ada@example.org") is None  # a dry run changes nothing
    done = run("--settings", settings_file, "bounces", "process", mbox, tmp_path / "huge.eml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ada@example.org: suppressed" in done.stdout
    assert "huge.eml: unrecognised, no reader: none (not read: larger than 16 MB)" in done.stdout
    refused = run("--settings", settings_file, "bounces", "process", tmp_path / "missing",
                  cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 9 and refused.stderr.count("\n") == 1, refused.stderr


@pytest.mark.parametrize("kind", ["hard", "complaint"])
def test_confirming_again_lifts_a_bounce_or_complaint(
    tmp_path: Path, secret_env: str, kind: str
) -> None:
    settings = _reader_store(tmp_path)
    with Store.open(settings.database) as store:
        store.readers.unsubscribe("ada@example.org", FIXED_NOW, reason=f"{kind}: test")
        assert not store.readers.unsuppress("ada@example.org", only_unsubscribed=True)
        assert store.readers.unsuppress("ada@example.org")  # what a confirmed sign-up does


def test_the_reader_and_the_operator_are_told_why_mail_stopped(
    tmp_path: Path, secret_env: str
) -> None:
    from digest.tokens import make_token
    from digest.web import create_app

    settings = _reader_store(tmp_path)
    hard = report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown")
    assert _process(settings, FIXED_NOW, hard, name="h") == ["suppressed"]
    client = create_app(settings, lambda: FIXED_NOW).test_client()
    page = client.get(f"/preferences/{make_token(secret_env, 'ada@example.org', 'preferences')}")
    assert "We stopped mailing you on 22 November 2026: your mail server said the mailbox" in (
        page.text
    )
    listed = run("--settings", tmp_path / "settings.toml", "subscribers", "list", "--json",
                 cwd=tmp_path)  # fmt: skip
    [ada] = [row for row in json.loads(listed.stdout) if row["email"] == "ada@example.org"]
    assert ada["status"].startswith("bounced: 5.1.1")
    assert [(b["kind"], b["action"]) for b in ada["bounces"]] == [("hard", "suppressed")]


def test_the_daemon_reads_its_maildir_once_and_marks_what_it_read(
    tmp_path: Path, secret_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.schedule import run_bounces

    _reader_store(tmp_path)
    folder = _maildir(
        tmp_path / "Bounces",
        report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown"),
        report("bounces@digest.test", "grace@example.org", "4.2.2", "452 mailbox full"),
    )
    path = tmp_path / "settings.toml"
    path.write_text(
        path.read_text() + f'\n[bounces]\nmailbox = "{folder}"\npoll_minutes = 5\n', "utf-8"
    )
    with caplog.at_level("INFO", logger="digest.daemon"):
        run_bounces(str(path))
        run_bounces(str(path))  # the next poll: nothing unread
    polls = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bounces:")]
    assert polls == [
        f"bounces: 2 message(s) from {folder}, 2 acted on"
        " (ada@example.org suppressed, grace@example.org counted)"
    ]
    box = mailbox.Maildir(folder, create=False)
    assert [sorted(box.get_message(k).get_flags()) for k in list(box.iterkeys())] == [["S"], ["S"]]
    assert len(box) == 2  # read and flagged, never deleted
    path.write_text(path.read_text().replace(str(folder), "ftp://nowhere"), "utf-8")
    with caplog.at_level("ERROR", logger="digest.daemon"):
        run_bounces(str(path))
    assert "use a Maildir path, imaps://user@host/INBOX or pop3s://user@host" in caplog.text


def test_the_operator_preview_shows_what_came_back(
    tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.web import create_app

    from .test_web import ADMIN

    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", ADMIN)
    settings = _reader_store(tmp_path)
    soft = report("bounces@digest.test", "grace@example.org", "4.2.2", "452 mailbox full")
    assert _process(settings, FIXED_NOW, soft, name="s") == ["counted"]
    client = create_app(settings, lambda: FIXED_NOW).test_client()
    listed = client.get("/preview", headers={"Authorization": f"Bearer {ADMIN}"})
    assert "last came back: soft 4.2.2, counted, 2026-11-22" in listed.text


def test_with_verp_a_made_up_report_names_nobody(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    """Anyone may mail the bounce address: with VERP on, a report that carries neither our
    signed token nor one of our Message-IDs unsubscribes nobody, whoever it names."""
    settings = _settings(tmp_path, smtp_server.port)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        [row] = [r for r in store.ledger.deliveries("2026-11-22") if r.email == "ada@example.org"]
    made_up = report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 no such user")
    editions = Editions(settings, runtime=Runtime(clock=lambda: FIXED_NOW))
    [done] = editions.process_bounces([_maildir(tmp_path / "forged", made_up)])
    assert (done.kind, done.reader, done.action) == ("hard", None, "none")
    # One that returns our message (its Message-ID) still names its reader.
    returned = made_up.replace(b"--b--", f"--b\nContent-Type: text/rfc822-headers\n\n"
                               f"Message-ID: {row.message_id}\n\n--b--".encode())  # fmt: skip
    [done] = editions.process_bounces([_maildir(tmp_path / "returned", returned)])
    assert (done.reader, done.action) == ("ada@example.org", "suppressed")


def test_a_complaint_with_the_recipient_redacted_finds_its_reader_by_message_id(
    tmp_path: Path, secret_env: str
) -> None:
    """Large mailbox providers redact the complainer's address in their feedback reports; the
    returned message's Message-ID (one of ours) still names the reader."""
    from digest.deliver import MemoryTransport

    settings = _reader_store(tmp_path)
    with Store.open(settings.database) as store:
        send_edition(store, settings, MemoryTransport(), fixed_clock())
        [row] = [r for r in store.ledger.deliveries("2026-11-22") if r.email == "grace@example.org"]
    complaint = (
        "From: staff@fbl.example.net\nTo: fbl@digest.test\nSubject: complaint about message\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; "
        'boundary="b"\n\n--b\nContent-Type: text/plain\n\nThis is an email abuse report.\n'
        "--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n"
        "User-Agent: SomeProvider-FBL/1.0\nOriginal-Mail-From: <digest@digest.test>\n\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: digest@digest.test\n"
        f"To: redacted@example.net\nMessage-ID: {row.message_id}\nSubject: papers\n\nx\n--b--\n"
    ).encode()
    assert _process(settings, FIXED_NOW, complaint, name="fbl") == ["unsubscribed"]
    with Store.open(settings.database) as store:
        assert (store.readers.suppressed("grace@example.org") or "").startswith("complained")
        assert store.readers.suppressed("ada@example.org") is None


def _nested(levels: int) -> bytes:
    """A report whose MIME parts nest `levels` deep (5,000: ~280 KB)."""
    opened = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (n, n) for n in range(levels)
    )
    return b"From: MAILER-DAEMON@x.example\nSubject: Undelivered\nMIME-Version: 1.0\n" + opened


def _poll_maildir(tmp_path: Path, folder: Path) -> Path:
    """The settings of `_reader_store(tmp_path)` with `folder` as [bounces] mailbox."""
    path = tmp_path / "settings.toml"
    path.write_text(path.read_text() + f'\n[bounces]\nmailbox = "{folder}"\n', "utf-8")
    return path


def test_every_poll_makes_progress_past_seen_messages_and_a_mime_bomb(
    tmp_path: Path, secret_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    """500 messages flagged seen used to fill every poll (MAX_PER_POLL counted them), and a
    message nested 5,000 deep raised RecursionError on every poll: nothing after it was read.
    Now the seen ones are never opened, the bomb is kept aside (flagged) once, and the rest
    is read."""
    from digest.schedule import run_bounces

    _reader_store(tmp_path)
    folder = tmp_path / "Bounces"
    box = mailbox.Maildir(folder, create=True)
    for n in range(500):
        seen = mailbox.MaildirMessage(b"Subject: read before %d\n\nhello\n" % n)
        seen.set_subdir("cur")
        seen.add_flag("S")
        box.add(seen)
    bomb_key = box.add(_nested(5000))
    box.add(report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown"))
    path = _poll_maildir(tmp_path, folder)
    with caplog.at_level("INFO", logger="digest.daemon"):
        run_bounces(str(path))
        run_bounces(str(path))  # the next poll: nothing unread, the bomb not tried again
    polls = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bounces:")]
    assert polls[0] == (
        f"bounces: 2 message(s) from {folder}, 1 acted on (ada@example.org suppressed),"
        " 1 kept aside unread"
    )
    assert polls[1] == f"bounces: {folder}:{bomb_key} kept aside, not read: more than 64" + (
        " multipart or message parts"
    )
    assert len(polls) == 2
    names = sorted(p.name for p in (folder / "cur").iterdir())
    assert len(names) == 502 and not any((folder / "new").iterdir())
    assert all(name.endswith((":2,S", ":2,FS")) for name in names)
    [kept] = (folder / "cur").glob(f"{bomb_key}:*")
    assert kept.name.endswith(":2,FS")  # flagged: kept aside
    done = run("--settings", path, "bounces", "process", kept, cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "unrecognised, no reader: none (not read: more than 64 multipart" in done.stdout


_POLL = (
    "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout,"
    " format='%(message)s'); from digest.schedule import run_bounces; run_bounces(sys.argv[1])"
)


def _unprivileged(root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in `root`, in a process of its own, as a user file modes hold for: the
    tests' own, or `nobody` when they run as root (root reads a mode-000 file)."""
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SETTINGS"}
    env["DIGEST_SECRET_KEY"] = TEST_SECRET
    command = [sys.executable, *map(str, args)]
    if os.geteuid() != 0:
        return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
    nobody = pwd.getpwnam("nobody")
    for folder, _, files in os.walk(root):
        for name in [Path(folder), *(Path(folder) / f for f in files)]:
            os.chown(name, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False, user=nobody.pw_uid, group=nobody.pw_gid,
                          extra_groups=[])  # fmt: skip


def test_a_file_that_cannot_be_read_is_one_line_and_the_rest_is_read() -> None:
    """A mode-000 file in a Maildir was a PermissionError traceback (exit 1, the rest unread,
    the daemon's poll likewise), a FIFO hung `bounces process`, /dev/zero or a FIFO as PATH
    said "no such file" and /proc/self/mem gave a traceback. Now each is one line: in a
    folder, "not read" and the rest is read (exit 0); as a PATH, exit 9 (BounceError)."""
    root = Path(tempfile.mkdtemp(prefix="digest-bounces-", dir="/tmp"))  # nobody reaches it
    try:
        _reader_store(root)
        folder = _maildir(
            root / "Bounces",
            report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown"),
        )
        locked = folder / "new" / "locked"
        locked.write_bytes(report("b@digest.test", "grace@example.org", "5.1.1", "no such user"))
        locked.chmod(0)
        os.mkfifo(folder / "new" / "pipe")
        (folder / "new" / "zero").symlink_to("/dev/zero")
        (folder / "new" / "gone").symlink_to(root / "nowhere")
        digest = ("-m", "digest", "--settings", root / "settings.toml", "bounces", "process")
        done = _unprivileged(root, *digest, "--dry-run", folder)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert done.stdout.splitlines()[1:] == [
            f"{folder}:gone: unrecognised, no reader: none (not read: no such file)",
            f"{folder}:locked: unrecognised, no reader: none"
            " (not read: cannot open it (Permission denied))",
            f"{folder}:pipe: unrecognised, no reader: none"
            " (not read: is not a regular file (a pipe, socket or device))",
            f"{folder}:zero: unrecognised, no reader: none"
            " (not read: is not a regular file (a pipe, socket or device))",
            "read 5 message(s): hard 1, not read (kept aside) 4; none 4, suppressed 1 (dry run)",
        ]
        assert done.stdout.startswith(f"{folder}:") and "ada@example.org: suppressed" in done.stdout
        for path, says in (
            ("/dev/zero", "/dev/zero: is not a regular file (a pipe, socket or device); name a"),
            (folder / "new" / "pipe", "pipe: is not a regular file (a pipe, socket or device)"),
            ("/proc/self/mem", "/proc/self/mem: cannot read it (Input/output error)"),
            (locked, "locked: cannot open it (Permission denied)"),
        ):
            refused = _unprivileged(root, *digest, path)
            assert_clean_error(refused, 9, says)
        # The daemon's poll: the same four kept aside (flagged), the report acted on.
        settings = _poll_maildir(root, folder)
        polled = _unprivileged(root, "-c", _POLL, settings)
        assert (
            f"bounces: 5 message(s) from {folder}, 1 acted on (ada@example.org suppressed),"
            " 4 kept aside unread"
        ) in polled.stdout.splitlines(), polled.stdout + polled.stderr
        flagged = sorted(p.name for p in (folder / "cur").iterdir() if p.name.endswith(":2,FS"))
        assert flagged == ["gone:2,FS", "locked:2,FS", "pipe:2,FS", "zero:2,FS"]
        assert "Traceback" not in polled.stdout + polled.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_huge_message_in_an_mbox_is_not_read_whole(tmp_path: Path, secret_env: str) -> None:
    """An mbox message of 300 MB read 662 MB before "larger than 16 MB" (the mailbox module
    reads a line, and a message, whole). An mbox is now read as a stream: never more than the
    first 16 MB of a message, and the messages after it are read."""
    import tracemalloc

    settings = _reader_store(tmp_path)
    mbox = tmp_path / "big.mbox"
    with mbox.open("wb") as handle:
        handle.write(b"From MAILER-DAEMON Mon Nov 23 10:00:00 2026\nSubject: huge\n\n")
        handle.seek(120 * 2**20)  # a sparse file: 120 MB of NUL bytes, one line, no disk
        hard = report("bounces@digest.test", "ada@example.org", "5.1.1", "550 5.1.1 user unknown")
        handle.write(b"\nFrom MAILER-DAEMON Mon Nov 23 10:00:01 2026\n" + hard)
    editions = Editions(settings, runtime=Runtime(clock=lambda: FIXED_NOW))
    tracemalloc.start()
    try:
        done = list(editions.process_bounces([mbox], dry_run=True))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(d.note, d.reader) for d in done] == [
        ("not read: larger than 16 MB", None),
        ("", "ada@example.org"),
    ]
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB"


def _old_message_id(edition_id: str, email: str) -> str:
    """The Message-ID digest gave before it was signed: anyone could compute it."""
    import hashlib

    digest = hashlib.sha256(f"{edition_id}\0{email.casefold()}".encode()).hexdigest()[:20]
    return f"<digest.{edition_id}.{digest}@digest.test>"


def _returning(message_id: str, *, complaint: bool = False, referenced: bool = False) -> bytes:
    """A report to the bounce address (no VERP token) returning a message by its ID: a DSN
    with the returned headers, an ARF complaint with the returned message, or an Exim-style
    report that names it only in References."""
    if referenced:
        return (
            "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nTo: bounces@digest.test\n"
            f"Subject: Mail delivery failed\nReferences: {message_id}\nX-Failed-Recipients:"
            " nobody@example.org\n\nThis message was created automatically by mail delivery"
            " software.\n  nobody@example.org\n    Unrouteable address\n"
        ).encode()
    if complaint:
        return (
            "From: fbl@isp.example\nTo: bounces@digest.test\nSubject: complaint\nMIME-Version:"
            ' 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nThis is an abuse report.\n--b\nContent-Type:"
            " message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\n--b\nContent-Type:"
            " message/rfc822\n\nFrom: digest@digest.test\nTo: redacted@isp.example\nMessage-ID:"
            f" {message_id}\n\nx\n--b--\n"
        ).encode()
    dsn = report("bounces@digest.test", "nobody@example.org", "5.1.1", "550 5.1.1 no such")
    headers = f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\n\n--b--"
    return dsn.replace(b"--b--", headers.encode())


def test_with_verp_a_report_made_without_the_secret_names_nobody(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    """Message-IDs were a hash of the edition and the address, so with VERP on a DSN whose
    returned headers carried reader A's computed ID suppressed A, an ARF report carrying B's
    unsubscribed B, and an Exim-style report with only `References: <id>` did the same. Now
    a Message-ID is an HMAC under the secret key; with VERP on only a signed one (or our
    signed return path) names a reader. Without VERP, an old ID in the ledger still finds
    its reader (replies in flight), and `digest status` says reports are trusted on their
    word."""
    from digest.deliver.message import signed_message_id

    settings = _settings(tmp_path, smtp_server.port)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        rows = {r.email: r for r in store.ledger.deliveries("2026-11-22")}
        for email in ("ada@example.org", "grace@example.org"):  # sent before IDs were signed
            old = _old_message_id("2026-11-21", email)
            store.ledger.plan_delivery("2026-11-21", email, old, [], FIXED_NOW, send_empty=True)
    sent = {m.rcpt_tos[0]: m.data for m in smtp_server.handler.messages}
    ada, grace = rows["ada@example.org"], rows["grace@example.org"]
    assert f"Message-ID: {ada.message_id}".encode() in sent["ada@example.org"]
    assert ada.message_id != _old_message_id("2026-11-22", "ada@example.org")
    assert signed_message_id(ada.message_id, "2026-11-22", "ada@example.org", [secret_env])
    assert not signed_message_id(ada.message_id, "2026-11-22", "grace@example.org", [secret_env])
    assert not signed_message_id(ada.message_id, "2026-11-22", "ada@example.org", ["x" * 16])
    forged = [
        _returning(_old_message_id("2026-11-21", "ada@example.org")),
        _returning(_old_message_id("2026-11-21", "grace@example.org"), complaint=True),
        _returning(_old_message_id("2026-11-21", "ada@example.org"), referenced=True),
        _returning(_old_message_id("2026-11-22", "ada@example.org")),
    ]
    editions = Editions(settings, runtime=Runtime(clock=lambda: FIXED_NOW))
    done = editions.process_bounces([_maildir(tmp_path / "forged", *forged)])
    assert [(d.kind, d.reader, d.action) for d in done] == [
        ("hard", None, "none"), ("complaint", None, "none"),
        ("hard", None, "none"), ("hard", None, "none"),
    ]  # fmt: skip
    # A provider's feedback loop returns our message: its signed ID names its reader.
    returned = _returning(grace.message_id, complaint=True)
    [fbl] = editions.process_bounces([_maildir(tmp_path / "fbl", returned)])
    assert (fbl.kind, fbl.reader, fbl.action) == ("complaint", "grace@example.org", "unsubscribed")
    status = run("--settings", tmp_path / "settings.toml", "status", "--json", cwd=tmp_path)
    assert json.loads(status.stdout)["bounce_trust"] == "signed"
    # Without VERP a report is trusted on its word; an old ID still finds its reader.
    (tmp_path / "plain").mkdir()
    plain = write_settings(tmp_path / "plain", database=settings.database)
    trusting = Editions(load_settings(plain), runtime=Runtime(clock=lambda: FIXED_NOW))
    [found] = trusting.process_bounces([_maildir(tmp_path / "in-flight", forged[0])])
    assert (found.reader, found.edition, found.action) == (
        "ada@example.org",
        "2026-11-21",
        "suppressed",
    )
    status = run("--settings", plain, "status", "--json", cwd=tmp_path)
    assert json.loads(status.stdout)["bounce_trust"] == "unverified"
    text = run("--settings", plain, "status", cwd=tmp_path)
    assert "note: bounce mail is trusted on its word" in text.stdout


def test_a_plain_folder_is_read_and_status_says_why_addresses_are_dropped(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str, database: Path | str
) -> None:
    """Issue 33: a folder of .eml files (an export's layout) was refused as "no Maildir";
    `--json` carried no reason and `digest status` only counts per kind."""
    settings = _settings(tmp_path, smtp_server.port, database)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    verp = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.handler.messages}
    export = tmp_path / "export"
    export.mkdir()
    (export / "a.eml").write_bytes(
        report(verp["ada@example.org"], "ada@example.org", "5.0.0", "550 No such user here")
    )
    (export / "b.eml").write_bytes(
        report(verp["grace@example.org"], "grace@example.org", "5.2.2", "552 5.2.2 Over quota")
    )
    (export / "c.txt").write_bytes(
        b"Return-Path: <>\nFrom: Ada <ada@example.org>\nSubject: Automatic reply: papers\n"
        b"Auto-Submitted: auto-replied\n\nAway.\n"
    )
    (export / ".hidden").write_bytes(b"not a message")
    config, env = tmp_path / "settings.toml", {"DIGEST_SECRET_KEY": secret_env}
    done = run("--settings", config, "bounces", "process", "--json", export, cwd=tmp_path,
               env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["kind"], x["reason"], x["action"]) for x in lines] == [
        ("hard", "user unknown", "suppressed"),
        ("soft", "mailbox full", "counted"),
        ("auto-reply", "", "none"),
    ]
    assert done.stderr == (
        "read 3 message(s): auto-reply 1, hard 1, soft 1; counted 1, none 1, suppressed 1\n"
    )
    with Store.open(settings.database) as store:
        assert store.bounces.events("ada@example.org")[0].reason == "user unknown"
    status = run("--settings", config, "status", "--json", cwd=tmp_path, env=env)
    assert json.loads(status.stdout)["bounce_reasons"] == {
        "hard": {"user unknown": 1}, "soft": {"mailbox full": 1}
    }  # fmt: skip
    said = run("--settings", config, "status", cwd=tmp_path, env=env).stdout
    assert "  hard: user unknown 1\n" in said and "  soft: mailbox full 1\n" in said


def test_a_schema_11_store_gains_the_bounce_reason(
    tmp_path: Path, secret_env: str, database: Path | str
) -> None:
    """Schema 12 on either engine: events kept before say no reason; new ones keep theirs."""
    from digest.store import BounceEvent
    from digest.store.schema import SCHEMA_VERSION

    settings = _reader_store(tmp_path, database)
    with Store.open(settings.database) as store:
        db = store.database
        with store.transaction():
            db.execute("ALTER TABLE bounce_events DROP COLUMN reason")
            db.execute(
                "INSERT INTO bounce_events(event_key, email, at, kind, status, action)"
                " VALUES ('old', 'ada@example.org', ?, 'hard', '5.1.1', 'suppressed')",
                (FIXED_NOW.isoformat(),),
            )
            db.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")
    with Store.open(settings.database) as store:
        version = store.database.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
        [old] = store.bounces.events("ada@example.org")
        assert (old.kind, old.reason) == ("hard", "")
        later = FIXED_NOW + dt.timedelta(hours=1)
        store.bounces.record(BounceEvent("new", "ada@example.org", later, "soft", reason="spam"))
        assert [e.reason for e in store.bounces.events("ada@example.org")] == ["spam", ""]


def test_an_opt_out_report_and_a_dead_domain_are_told_in_their_own_words(
    tmp_path: Path, secret_env: str
) -> None:
    """An RFC 5965 opt-out is the reader's own wish, not a spam complaint; a domain that does
    not exist said under a generic 5.0.0 was told "the mailbox does not exist"."""
    from digest.tokens import make_token
    from digest.web import create_app

    settings = _reader_store(tmp_path)
    opt_out = (
        b"From: fbl@isp.example\nTo: bounces@digest.test\nSubject: Opt-out\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nThe recipient asked to be unsubscribed.\n"
        b"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: opt-out\nVersion: 1\n"
        b"Original-Rcpt-To: <ada@example.org>\n\n--b--\n"
    )
    dead = report("bounces@digest.test", "grace@example.org", "5.0.0",
                  'unrouteable mail domain "example.org"')  # fmt: skip
    assert sorted(_process(settings, FIXED_NOW, opt_out, dead, name="o")) == [
        "suppressed", "unsubscribed"
    ]  # fmt: skip
    client = create_app(settings, lambda: FIXED_NOW).test_client()

    def page(address: str) -> str:
        return client.get(f"/preferences/{make_token(secret_env, address, 'preferences')}").text

    assert "you asked your mail provider to unsubscribe you" in page("ada@example.org")
    assert "your mail server said the domain does not exist" in page("grace@example.org")
    with Store.open(settings.database) as store:
        why = store.readers.suppressed("ada@example.org") or ""
    assert why.startswith("complained: asked their mail provider to unsubscribe them")
