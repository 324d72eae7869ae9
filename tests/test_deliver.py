from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

import pytest
from hypothesis import given
from hypothesis import settings as settings_profile
from hypothesis import strategies as st

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.errors import DeliveryError, SettingsError
from digest.models import Edition, Email
from digest.render import Links
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.tokens import read_token

from .conftest import EXAMPLES, FIXED_NOW, SmtpServer, fixed_clock, write_settings


def _parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _setup(
    database: Path | str, tmp_path: Path, port: int, timezone: str = "UTC"
) -> tuple[Settings, Store]:
    settings = load_settings(
        write_settings(tmp_path, database=database, port=port, timezone=timezone)
    )
    store = Store.open(settings.database)
    ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    return settings, store


def test_send_delivers_once_per_subscriber_and_edition(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        assert sorted(report.sent) == ["ada@example.org", "grace@example.org"]
        again = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    assert again.sent == ()
    assert sorted(again.already_sent) == ["ada@example.org", "grace@example.org"]
    received = smtp_server.handler.messages
    assert len(received) == 2
    assert {r.rcpt_tos[0] for r in received} == {"ada@example.org", "grace@example.org"}
    assert all(r.mail_from == "digest@digest.test" for r in received)


def test_received_message_is_well_formed(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    grace = next(r for r in smtp_server.handler.messages if r.rcpt_tos == ["grace@example.org"])
    message = _parse(grace.data)
    assert message.defects == []
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    for header in ("Date", "Message-ID", "From", "To", "Subject", "List-Id"):
        assert message[header], header
    assert message["Message-ID"].startswith("<digest.2026-11-22.")
    assert message["Message-ID"].endswith("@digest.test>")
    assert message["To"] == "Grace <grace@example.org>"
    assert message["Subject"].startswith("6 new papers · Sun 22 Nov")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://digest.test/unsubscribe/") and unsubscribe.endswith(">")
    token = unsubscribe.rsplit("/", 1)[1].rstrip(">")
    assert read_token(secret_env, token) == "grace@example.org"
    html_body = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text_body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The example dump's hostile title arrives escaped in HTML and literal in text.
    assert "Attention &lt;Is&gt; Not All You Need &amp; Other" in html_body
    assert "<script>" not in html_body
    assert 'Attention <Is> Not All You Need & Other "Myths"' in text_body
    for line in grace.data.split(b"\r\n"):
        assert len(line) <= 998


def test_hostile_header_values_cannot_inject(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    dump = tmp_path / "evil.txt"
    dump.write_text(
        "Get trending papers in your email inbox!\n"
        "Quantization\u2028Bcc: victim@evil.test\u0085X-Evil: yes language models\n"
        "Language models and quantization, an abstract.\n",
        encoding="utf-8",
    )
    settings = load_settings(write_settings(tmp_path, database=database, port=smtp_server.port))
    with Store.open(settings.database) as store:
        ingest_paths(store, [dump], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    [received] = [r for r in smtp_server.handler.messages if r.rcpt_tos == ["grace@example.org"]]
    message = _parse(received.data)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "Bcc: victim@evil.test" in message["Subject"]
    assert received.rcpt_tos == ["grace@example.org"]


class SimulatedCrash(BaseException):
    """Like a killed process: not an error of one reader, the end of the run."""


class CrashingTransport:
    """Wraps a real transport and dies (like a killed process) after N messages, or raises an
    ordinary exception for one message (`error`), as a broken library call would."""

    def __init__(
        self, inner: SmtpTransport, crash_after: int, error: BaseException | None = None
    ) -> None:
        self.inner, self.left, self.error = inner, crash_after, error

    def __enter__(self) -> CrashingTransport:
        self.inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        if self.left == 0:
            self.left = -1
            raise self.error or SimulatedCrash()
        self.left -= 1
        self.inner.send(sender, recipient, data)


def test_send_that_stops_halfway_resumes_without_duplicates(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        with pytest.raises(SimulatedCrash):
            send_edition(
                store, settings, CrashingTransport(SmtpTransport(settings.smtp), 1), fixed_clock()
            )
        assert len(smtp_server.handler.messages) == 1
        states = {row.email: row.state for row in store.ledger.deliveries("2026-11-22")}
        assert sorted(states.values()) == ["sending", "sent"]
        resumed = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    assert len(resumed.sent) == 1 and len(resumed.already_sent) == 1
    recipients = sorted(r.rcpt_tos[0] for r in smtp_server.handler.messages)
    assert recipients == ["ada@example.org", "grace@example.org"]


def test_one_bad_reader_is_recorded_failed_and_the_others_are_sent(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    settings, store = _setup(database, tmp_path, smtp_server.port)
    broken = UnicodeEncodeError("ascii", "jörg", 1, 2, "ordinal not in range(128)")
    with store:
        report = send_edition(
            store,
            settings,
            CrashingTransport(SmtpTransport(settings.smtp), 0, broken),
            fixed_clock(),
        )
        states = {row.email: row.state for row in store.ledger.deliveries("2026-11-22")}
    [(failed, reason)] = report.failed
    assert "UnicodeEncodeError" in reason and states[failed] == "failed"
    assert len(report.sent) == 1 and states[report.sent[0]] == "sent"
    assert len(smtp_server.handler.messages) == 1


def test_permanent_rejection_is_recorded_and_others_still_sent(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    smtp_server.handler.reject["ada@example.org"] = "550 5.1.1 No such user"
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        row = store.ledger.delivery("2026-11-22", "ada@example.org")
    assert report.sent == ("grace@example.org",)
    assert report.failed[0][0] == "ada@example.org" and "550" in report.failed[0][1]
    assert row is not None and row.state == "failed"


def test_unreachable_server_is_a_clear_error(
    database: Path | str, tmp_path: Path, secret_env: str
) -> None:
    from digest.demo import free_port

    settings, store = _setup(database, tmp_path, free_port())
    with store, pytest.raises(DeliveryError, match=r"cannot connect to SMTP server 127\.0\.0\.1"):
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    with Store.open(settings.database) as reopened:
        assert reopened.counts()["deliveries"] == 0


def test_missing_secret_key_refuses_before_sending(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET_KEY", raising=False)
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store, pytest.raises(SettingsError, match="DIGEST_SECRET_KEY"):
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    assert smtp_server.handler.messages == []


def test_edition_date_follows_the_configured_time_zone(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    settings, store = _setup(database, tmp_path, smtp_server.port, timezone="Pacific/Auckland")
    with store:
        report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock(FIXED_NOW))
    assert report.edition_id == "2026-11-22"  # 06:30 UTC is 19:30 in Auckland, same day
    late = FIXED_NOW.replace(hour=13)  # 02:00 the next day in Auckland
    settings2 = load_settings(
        write_settings(
            tmp_path, database=database, port=smtp_server.port, timezone="Pacific/Auckland"
        )
    )
    with Store.open(settings2.database) as store2:
        report2 = send_edition(store2, settings2, SmtpTransport(settings2.smtp), fixed_clock(late))
    assert report2.edition_id == "2026-11-23"


def test_empty_edition_is_skipped_unless_asked_for(
    tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    extra = '[email]\nsend_empty = true\nsubject = "{papers} for {date}"\n'
    for send_empty in (False, True):
        folder = tmp_path / str(send_empty)
        folder.mkdir()
        path = write_settings(folder, port=smtp_server.port, extra=extra if send_empty else "")
        settings = load_settings(path)
        with Store.open(settings.database) as store:  # nothing ingested: nothing new for anyone
            report = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
        if not send_empty:
            assert report.sent == () and len(report.empty) == 2
    assert len(smtp_server.handler.messages) == 2  # only the send_empty run mailed anyone
    message = _parse(smtp_server.handler.messages[0].data)
    # An edition without papers says so as a quiet day does, whatever the subject's pattern.
    assert message["Subject"] == "Nothing matched your interests today · Sun 22 Nov"
    for part in ("html", "plain"):
        body = message.get_body((part,))
        assert body is not None and "Nothing matched your interests today" in body.get_content()


def test_subject_placeholders_are_checked(database: Path | str, tmp_path: Path) -> None:
    path = write_settings(tmp_path, database=database, extra='[email]\nsubject = "{title} today"\n')
    with pytest.raises(SettingsError, match=r"email\.subject: .*\{count\}"):
        load_settings(path)


def test_non_ascii_subjects_are_encoded_words_within_78_characters() -> None:
    import datetime as dt

    from digest.deliver import build_message
    from digest.models import Email

    subject = "5 new papers · Sun 22 Nov: Ünïcode títles, emoji 🚀 and a tail that keeps going on"
    data = build_message(
        Email(subject, "pre", "<p>x</p>", "t"),
        sender="Digest <d@example.org>",
        recipient="r@example.org",
        recipient_name="Rëader",
        message_id="<m@example.org>",
        unsubscribe_url="https://example.org/u",
        date=dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
    )
    head = data.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head if not line.startswith(b"List-Unsubscribe:"))
    assert _parse(data)["Subject"] == subject


def test_dkim_signature_covers_the_unsubscribe_headers_and_verifies(
    database: Path | str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    secret_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64
    import subprocess

    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "2048"],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    monkeypatch.setenv("DIGEST_DKIM__PRIVATE_KEY", key.read_text())
    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    data = smtp_server.handler.messages[0].data
    signature = _parse(data)["DKIM-Signature"]
    assert "d=digest.test" in signature and "s=digest" in signature
    signed = signature.split("h=")[1].split(";")[0].replace(" ", "").lower().split(":")
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= set(signed)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)
    assert not dkim.verify(
        data.replace(b"Subject: ", b"Subject: X"), dnsfunc=lambda n, timeout=5: record
    )


def test_optional_mailto_unsubscribe_carries_the_same_signed_token(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    path = write_settings(tmp_path, database=database, port=smtp_server.port)
    path.write_text(
        path.read_text().replace(
            'base_url = "https://digest.test"',
            'base_url = "https://digest.test"\nunsubscribe_mailto = "leave@digest.test"',
        )
    )
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    message = _parse(smtp_server.handler.messages[0].data)
    https, mailto = (part.strip(" <>") for part in message["List-Unsubscribe"].split(","))
    token = https.rsplit("/", 1)[-1]
    assert mailto == f"mailto:leave@digest.test?subject=unsubscribe%20{token}"
    assert read_token(secret_env, token, "unsubscribe") == message["To"].addresses[0].addr_spec


def test_unsubscribe_mailto_must_be_a_plain_address(database: Path | str, tmp_path: Path) -> None:
    path = write_settings(tmp_path, database=database)
    path.write_text(
        path.read_text().replace(
            'base_url = "https://digest.test"',
            'base_url = "https://digest.test"\nunsubscribe_mailto = "x@y>, <http://evil"',
        )
    )
    with pytest.raises(SettingsError, match=r"sender\.unsubscribe_mailto"):
        load_settings(path)


@settings_profile(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30),
        max_size=25,
    ),
    # Values reach _header through header_safe, which has already dropped control characters
    # and lone surrogates (category C).
    st.text(
        alphabet=st.characters(
            min_codepoint=32, max_codepoint=0x1F680, blacklist_categories=("Cs", "Cc")
        ),
        min_size=1,
    ),
)
def test_header_folding_round_trips_and_keeps_lines_short(words: list[str], unicode: str) -> None:
    """Long ASCII values fold at spaces (unfolding gives them back); other values become
    RFC 2047 words that never split a character. Found necessary when the email package's
    Header was replaced by a faster folder."""
    from email.header import decode_header, make_header

    from digest.deliver.message import _header

    value = " ".join(words)
    line = _header("Subject", value).decode("ascii")
    assert line.endswith("\r\n")
    assert line[:-2].replace("\r\n", "") == f"Subject: {value}"
    for part in line[:-2].split("\r\n"):
        # Only a single word longer than the line (or trailing blanks, which cannot be
        # folded without leaving a blank line) may overflow it.
        assert len(part.rstrip()) <= 78 or " " not in part.strip()
    if not unicode.isascii():
        encoded = _header("Subject", unicode).decode("ascii")[len("Subject: ") : -2]
        assert all(len(part.strip()) <= 75 for part in encoded.split("\r\n"))
        assert str(make_header(decode_header(encoded.replace("\r\n", "")))) == unicode


def test_a_crash_while_building_the_next_message_still_records_the_one_in_flight(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    """The message in flight when the loop dies is settled in a finally: recorded `sent`, so
    the resume does not mail that reader twice (it was left `sending` before)."""
    from digest.render import Renderer

    class Dying(Renderer):
        calls = 0

        def render(self, edition: Edition, links: Links) -> Email:
            Dying.calls += 1
            if Dying.calls == 2:
                raise SimulatedCrash
            return super().render(edition, links)

    settings, store = _setup(database, tmp_path, smtp_server.port)
    with store:
        with pytest.raises(SimulatedCrash):
            send_edition(
                store, settings, SmtpTransport(settings.smtp), fixed_clock(), renderer=Dying()
            )
        states = sorted(row.state for row in store.ledger.deliveries("2026-11-22"))
        assert states == ["pending", "sent"]
        send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    recipients = sorted(r.rcpt_tos[0] for r in smtp_server.handler.messages)
    assert recipients == ["ada@example.org", "grace@example.org"]


@settings_profile(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"=2E"]), max_size=12))
def test_dot_stuffing_doubles_every_leading_dot(parts: list[bytes]) -> None:
    """As RFC 5321 4.5.2 says (the reference: a regular expression over lines)."""
    import re

    from digest.deliver.transports import _dot_stuffed

    data = b"".join(parts)
    expected = re.sub(rb"(?m)^\.", b"..", data)
    expected += b"" if expected.endswith(b"\r\n") else b"\r\n"
    assert _dot_stuffed(data) == expected + b".\r\n"


class IntervalRecordingTransport(CrashingTransport):
    """Records the interpreter's thread switch interval while each message goes out."""

    seen: list[float]

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        import sys

        self.seen.append(sys.getswitchinterval())
        super().send(sender, recipient, data)


def test_threads_take_short_turns_while_messages_go_out_and_not_after(
    database: Path | str, tmp_path: Path, smtp_server: SmtpServer, secret_env: str
) -> None:
    """A connection whose relay answered gets the interpreter within SWITCH_INTERVAL, not
    Python's 5 ms; the process's setting is back as it was once the send is over."""
    import sys

    from digest.deliver.dispatch import SWITCH_INTERVAL

    settings, store = _setup(database, tmp_path, smtp_server.port)
    transport = IntervalRecordingTransport(SmtpTransport(settings.smtp), 100)
    transport.seen = []
    before = sys.getswitchinterval()
    with store:
        report = send_edition(store, settings, transport, fixed_clock())
    assert len(report.sent) == 2
    assert transport.seen == pytest.approx([SWITCH_INTERVAL] * 2)  # kept in microseconds
    assert sys.getswitchinterval() == before > SWITCH_INTERVAL


def test_the_date_header_keeps_the_clocks_offset_for_equal_instants() -> None:
    """The Date header is cached per second; an instant seen in two zones is one datetime to
    a cache, so the offset is part of the key."""
    import datetime as dt

    from digest.deliver.message import _date

    utc = dt.datetime(2026, 11, 22, 6, 0, 0, 999_999, tzinfo=dt.UTC)
    berlin = utc.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert _date(utc) == "Sun, 22 Nov 2026 06:00:00 +0000"
    assert _date(berlin) == "Sun, 22 Nov 2026 07:00:00 +0100"


def test_a_reader_who_unsubscribes_during_the_send_is_suppressed_not_served_elsewhere(
    tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader whose row an unsubscribe withdrew before this sender claimed it was reported
    as served "by other senders"; they are counted as suppressed."""
    from digest.deliver import MemoryTransport
    from digest.editions import sending

    settings, store = _setup(tmp_path / "digest.sqlite", tmp_path, 2525)
    monkeypatch.setattr(sending, "CLAIM_BATCH_ALONE", 1)  # one row claimed at a time

    class Unsubscribing(MemoryTransport):
        """Grace unsubscribes while Ada's message goes out (her row not claimed yet)."""

        def send(self, sender: str, recipient: str, data: bytes) -> None:
            super().send(sender, recipient, data)
            with Store.open(settings.database) as other:
                other.readers.unsubscribe("grace@example.org", FIXED_NOW)

    transport = Unsubscribing()
    with store:
        report = send_edition(store, settings, transport, fixed_clock())
    assert [to for _, to, _ in transport.outbox] == ["ada@example.org"]
    assert report.sent == ("ada@example.org",)
    assert report.suppressed == ("grace@example.org",) and report.elsewhere == ()
