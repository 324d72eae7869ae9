"""Issue 33: what comes back, in the shapes the corpus lacks, written here from the formats'
public descriptions (RFC 5965 feedback reports, RFC 6591 DMARC failure reports, RFC 3464
delivery reports, RFC 3834 auto-replies, RFC 8098 and the mail clients' own receipts, Amazon
SES's notifications, the vendors' report layouts): complaints in every shape, the messages that
must never count, and failures judged by what the server says (code, enhanced status, words)."""

from __future__ import annotations

import email
import json
import logging

import pytest

from digest.bounces import Kind, Reason, classify, understand
from digest.bounces.parsing import parse

OURS = "Message-ID: <e1.ada@digest.test>\nFrom: Digest <digest@digest.test>\n"


def _read(text: str) -> tuple[Kind, Reason, tuple[str, ...]]:
    found = classify(parse(text.encode("utf-8")))
    return found.kind, found.reason, found.recipients


def _arf(feedback: str, *, part_type: str = "message/feedback-report", extra: str = "") -> str:
    """A feedback report as RFC 5965 lays one out: a human part, the machine fields, the
    message complained about."""
    return (
        "From: <abuse@isp.example>\nTo: <fbl@digest.test>\nSubject: FW: Your daily papers\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="part"\n\n'
        "--part\nContent-Type: text/plain\n\nThis is an email abuse report for an email"
        " message received from IP 192.0.2.1.\n\n"
        f"--part\nContent-Type: {part_type}\n\nFeedback-Type: {feedback}\n"
        "User-Agent: SomeGenerator/1.0\nVersion: 1\nOriginal-Mail-From: <bounces@digest.test>\n"
        f"Original-Rcpt-To: <ada@example.org>\nArrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\n{extra}"
        "Reported-Domain: digest.test\n\n"
        f"--part\nContent-Type: message/rfc822\n\n{OURS}To: ada@example.org\n"
        "Subject: Your daily papers\n\nToday's papers.\n--part--\n"
    )


@pytest.mark.parametrize(
    ("feedback", "reason"),
    [("abuse", Reason.ABUSE), ("fraud", Reason.ABUSE), ("opt-out", Reason.OPT_OUT),
     ("unsubscribe", Reason.OPT_OUT)],
)  # fmt: skip
def test_feedback_reports_are_complaints_and_opt_out_is_unsubscribing(
    feedback: str, reason: Reason
) -> None:
    assert _read(_arf(feedback)) == (Kind.COMPLAINT, reason, ("ada@example.org",))


def test_a_feedback_report_whose_part_is_typed_as_text_is_still_a_complaint() -> None:
    """Some feedback loops type the machine part text/plain inside a multipart/report that
    says report-type=feedback-report: it was read as a delivery report about nobody."""
    assert _read(_arf("abuse", part_type="text/plain")) == (
        Kind.COMPLAINT, Reason.ABUSE, ("ada@example.org",)
    )  # fmt: skip


def test_a_dmarc_failure_report_is_logged_and_never_a_complaint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 6591: Feedback-Type auth-failure, about our own mail failing DMARC somewhere."""
    with caplog.at_level(logging.INFO, logger="digest.bounces"):
        found = _read(_arf("auth-failure", extra="Auth-Failure: dmarc\nDelivery-Result: reject\n"))
    assert found[0] is Kind.UNRECOGNISED
    assert any("auth-failure" in r.getMessage() for r in caplog.records)


def test_hotmails_complaint_mail_names_the_reader_in_the_returned_headers() -> None:
    """The older non-ARF shape: a notice 'complaint about message from <IP>' with the
    original attached, which carries X-HmXmrOriginalRecipient."""
    text = (
        "From: staff@hotmail.com\nTo: fbl@digest.test\nSubject: complaint about message from"
        ' 192.0.2.1\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\nThis is a complaint about a message sent from your"
        " IP address.\n--x\nContent-Type: message/rfc822\n\n"
        f"X-HmXmrOriginalRecipient: <grace@hotmail.com>\n{OURS}To: <redacted>\n"
        "Subject: Your daily papers\n\nToday's papers.\n--x--\n"
    )
    assert _read(text) == (Kind.COMPLAINT, Reason.ABUSE, ("grace@hotmail.com",))


def _sns_mail(body: str, *, sender: str = "no-reply@sns.amazonaws.com") -> str:
    return (
        f"From: AWS Notifications <{sender}>\nTo: ops@digest.test\n"
        "Subject: AWS Notification Message\nContent-Type: text/plain; charset=UTF-8\n\n"
        f"{body}\n\n--\nIf you wish to stop receiving notifications from this topic, please"
        " click or visit the link below to unsubscribe:\nhttps://sns.us-east-1.amazonaws.com/"
        "unsubscribe.html?SubscriptionArn=arn:aws:sns:us-east-1:123456789012:ses\n"
    )


_SES_COMPLAINT = {
    "notificationType": "Complaint",
    "complaint": {
        "complainedRecipients": [{"emailAddress": "ada@example.org"}],
        "complaintFeedbackType": "abuse",
        "timestamp": "2026-12-07T10:00:00.000Z",
        "feedbackId": "0100-complaint",
    },
    "mail": {"messageId": "0100-ses", "commonHeaders": {"messageId": "<e1.ada@digest.test>"}},
}
_SES_BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": "grace@example.org", "status": "5.1.1",
             "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
        ],
    },
    "mail": {"messageId": "0100-ses", "commonHeaders": {"messageId": "<e2.grace@digest.test>"}},
}  # fmt: skip


def test_amazon_ses_notifications_by_mail_are_read_as_the_webhook_reads_them() -> None:
    """An SNS e-mail subscription sends SES's JSON as the body; an e-mail-JSON one wraps it
    in the SNS envelope."""
    complaint = classify(parse(_sns_mail(json.dumps(_SES_COMPLAINT, indent=2)).encode()))
    assert (complaint.kind, complaint.reason, complaint.recipients) == (
        Kind.COMPLAINT, Reason.ABUSE, ("ada@example.org",)
    )  # fmt: skip
    assert complaint.original_id == "<e1.ada@digest.test>"
    envelope = {"Type": "Notification", "MessageId": "m1", "Message": json.dumps(_SES_BOUNCE)}
    bounce = _read(_sns_mail(json.dumps(envelope)))
    assert bounce == (Kind.HARD, Reason.USER_UNKNOWN, ("grace@example.org",))
    # The same words from anyone else are ordinary mail.
    stranger = _sns_mail(json.dumps(_SES_COMPLAINT), sender="someone@example.net")
    assert _read(stranger)[0] is Kind.UNRECOGNISED


def test_ses_forwarded_complaints_are_complaints() -> None:
    text = (
        "From: complaints@email-abuse.amazonses.com\nTo: bounces@digest.test\n"
        'Subject: Complaint\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\nA recipient complained about this message.\n"
        f"--x\nContent-Type: message/rfc822\n\n{OURS}To: ada@example.org\nSubject: Papers\n\n"
        "Hi\n--x--\n"
    )
    assert _read(text) == (Kind.COMPLAINT, Reason.ABUSE, ("ada@example.org",))


@pytest.mark.parametrize(
    "headers",
    [
        # Gmail's vacation responder, as an mbox hands it over: an empty return path and a
        # "From MAILER-DAEMON" separator made it a soft bounce.
        "From MAILER-DAEMON Mon Dec  7 10:00:00 2026\nReturn-Path: <>\n"
        "From: Ada <ada@gmail.com>\nSubject: Re: Your daily papers\n"
        "Auto-Submitted: auto-replied\nPrecedence: bulk\n",
        # Exchange and Outlook's automatic replies.
        "Return-Path: <>\nFrom: Ada <ada@example.org>\nSubject: Automatic reply: Your daily"
        " papers\nX-Auto-Response-Suppress: All\nAuto-Submitted: auto-generated\n",
        # Lotus Notes / Domino.
        "From: Ada Lovelace <ada@example.org>\nSubject: Ada Lovelace is out of the office.\n",
        "From: Ada <ada@example.org>\nSubject: Auto: Your daily papers\n",
        # Yahoo and other webmail vacation programs.
        "From: Ada <ada@yahoo.com>\nSubject: Re: Your daily papers\nX-Autoreply: yes\n",
        "From: Ada <ada@example.de>\nSubject: Automatische Antwort: Your daily papers\n",
        "From: Ada <ada@example.fr>\nSubject: Réponse automatique : Your daily papers\n",
        "From: Ada <ada@example.org>\nSubject: Re: Your daily papers\nPrecedence: auto_reply\n",
    ],
)
def test_auto_replies_in_the_vendors_shapes_never_count(headers: str) -> None:
    text = f"{headers}\nI am away until Monday and read no mail; user unknown to me.\n"
    found = classify(email.message_from_string(text))
    assert found.kind is Kind.AUTO_REPLY, headers


def test_challenge_responses_never_count() -> None:
    text = (
        "From: Ada <ada@example.org>\nSubject: Please confirm your message\n"
        "X-Delivery-Agent: TMDA/1.1.12\nReturn-Path: <>\n\n"
        "Your message has been held. Please confirm that you are a person by replying.\n"
    )
    found = classify(email.message_from_string(text))
    assert (found.kind, found.diagnostic) == (Kind.AUTO_REPLY, "challenge-response")


@pytest.mark.parametrize(
    "text",
    [
        "From: Ada <ada@example.org>\nSubject: Read: Your daily papers\n\nYour message\n\n"
        "  To: Ada\n  Subject: Your daily papers\n\nwas read on 07/12/2026 10:00.\n",
        "From: Ada <ada@example.org>\nSubject: Return Receipt\n\nYour document: Your daily"
        " papers\nwas received by: Ada Lovelace\nat: 07/12/2026 10:00:00\n",
    ],
)
def test_receipts_outside_rfc_8098_are_deliveries(text: str) -> None:
    assert classify(email.message_from_string(text)).kind is Kind.DELIVERED


def test_a_dmarc_aggregate_report_is_nothing() -> None:
    text = (
        "From: noreply-dmarc-support@google.com\nTo: dmarc@digest.test\n"
        "Subject: Report domain: digest.test Submitter: google.com Report-ID: <123>\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="z"\n\n--z\n'
        "Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\nUEsDBA==\n--z--\n"
    )
    assert classify(email.message_from_string(text)).kind is Kind.UNRECOGNISED


def _text_report(subject: str, body: str, sender: str = "MAILER-DAEMON@mx.example.net") -> str:
    return f"From: {sender}\nTo: bounces@digest.test\nSubject: {subject}\n\n{body}\n"


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        # qmail
        (_text_report("failure notice", "Hi. This is the qmail-send program at mx.example.net.\n"
         "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
         "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
         "<ada@example.org>:\nSorry, I couldn't find any host named example.org. (#5.1.2)\n\n"
         "--- Below this line is a copy of the message.\n"), "hard", Reason.HOST_UNKNOWN),
        (_text_report("failure notice", "Hi. This is the qmail-send program.\n\n"
         "<ada@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n"), "hard",
         Reason.USER_UNKNOWN),
        (_text_report("failure notice", "<ada@example.org>:\nSorry, the user's maildir has"
         " overdrawn his diskspace quota, please try again later. (#4.2.2)\n"), "soft",
         Reason.MAILBOX_FULL),
        # Sendmail's text layout
        (_text_report("Returned mail: see transcript for details",
         "   ----- The following addresses had permanent fatal errors -----\n<ada@example.org>\n"
         "    (reason: 550 5.1.1 <ada@example.org>... User unknown)\n"), "hard",
         Reason.USER_UNKNOWN),
        # Lotus Notes / Domino
        (_text_report("DELIVERY FAILURE: User ada (ada@example.org) not listed in Domino"
         " Directory", "Your message\n\n  Subject: Your daily papers\n\nwas not delivered to:\n\n"
         "  ada@example.org\n\nbecause:\n\n  User ada (ada@example.org) not listed in Domino"
         " Directory\n", "Postmaster@example.org"), "hard", Reason.USER_UNKNOWN),
        # Exchange 2007-2013
        (_text_report("Undeliverable: Your daily papers", "Delivery has failed to these"
         " recipients or groups:\n\nada@example.org\nThe e-mail address you entered couldn't be"
         " found. Please check the recipient's e-mail address and try to resend the message.\n",
         "postmaster@example.org"), "hard", Reason.USER_UNKNOWN),
        (_text_report("Undeliverable: Your daily papers", "Delivery has failed to these"
         " recipients or groups:\n\nada@example.org\nThe recipient's mailbox is full and can't"
         " accept messages now.\n", "postmaster@example.org"), "soft", Reason.MAILBOX_FULL),
        # NTT docomo and au (ezweb): Sendmail-like text reports
        (_text_report("Returned mail: see transcript for details",
         "   ----- The following addresses had permanent fatal errors -----\n"
         "<ada@docomo.ne.jp>\n\n   ----- Transcript of session follows -----\n"
         "550 Unknown user ada@docomo.ne.jp\n"), "hard", Reason.USER_UNKNOWN),
        (_text_report("Mail System Error - Returned Mail", "Your mail sent on: Mon, 7 Dec 2026\n"
         "could not be delivered to the following address:\n<ada@ezweb.ne.jp>: User unknown\n"),
         "hard", Reason.USER_UNKNOWN),
    ],
)  # fmt: skip
def test_vendor_layouts_are_judged_by_what_the_server_says(
    text: str, kind: str, reason: Reason
) -> None:
    found = classify(email.message_from_string(text))
    assert (found.kind, found.reason) == (Kind(kind), reason), found


def test_a_japanese_carriers_report_in_its_own_charset() -> None:
    """KDDI, docomo and SoftBank write their reports in ISO-2022-JP."""
    head = (
        "From: MAILER-DAEMON@ezweb.ne.jp\nTo: bounces@digest.test\nSubject: Returned mail\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\n\n"
    )
    body = "宛先のメールアドレス ada@ezweb.ne.jp は存在しません。\n"
    found = classify(parse(head.encode() + body.encode("iso-2022-jp")))
    assert (found.kind, found.reason, found.recipients) == (
        Kind.HARD, Reason.USER_UNKNOWN, ("ada@ezweb.ne.jp",)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("said", "kind", "reason"),
    [
        # Sendmail reports every RCPT 550 as 5.1.1, whatever the remote said: the words win.
        ("5.1.1 smtp; 550 5.7.1 Message rejected as spam by Content Filtering", "soft",
         Reason.SPAM),
        ("5.1.1 smtp; 550 Mailbox quota exceeded", "soft", Reason.MAILBOX_FULL),
        ("5.1.1 smtp; 550 Blocked by policy: see https://rbl.example", "soft", Reason.POLICY),
        ("5.1.1 smtp; 550 5.1.1 user unknown; please try again", "hard", Reason.USER_UNKNOWN),
        # A dead address said under 5.7.1.
        ("5.7.1 smtp; 550 5.7.1 <ada@example.org>: Recipient address rejected: Nonexistent"
         " user", "hard", Reason.USER_UNKNOWN),
        ("5.7.1 smtp; 550 5.7.1 <ada@example.org>: Recipient address rejected: Access denied",
         "soft", Reason.POLICY),
        # ...but not the sender's: "disabled" under 5.7.1 is no dead recipient.
        ("554 5.7.1 Sender address disabled", "soft", Reason.POLICY),
        # Only the words, under a generic code (OpenSMTPD's 5.0.0) or none.
        ("5.0.0 550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
         "soft", Reason.POLICY),
        ("551 User not local; please try <ada@new.example>", "hard", Reason.DISABLED),
        ('5.0.0 unrouteable mail domain "example.invalid"', "hard", Reason.HOST_UNKNOWN),
        ("5.0.0 unable to look up host example.invalid: Name or service not known", "hard",
         Reason.HOST_UNKNOWN),
        ("4.4.3 Host or domain name not found. Name service error: Host not found, try again",
         "soft", Reason.OTHER),
        ("552 5.3.4 Message size exceeds fixed limit", "soft", Reason.TOO_LARGE),
        ("421 4.7.28 Our system has detected an unusual rate of unsolicited mail", "soft",
         Reason.RATE_LIMIT),
        ("550 5.7.26 Unauthenticated email from digest.test is not accepted", "soft",
         Reason.SECURITY),
        ("554 5.7.1 virus found in message", "soft", Reason.SECURITY),
        ("550 5.2.1 The email account that you tried to reach is disabled", "hard",
         Reason.DISABLED),
    ],
)  # fmt: skip
def test_the_reason_is_the_servers_code_and_words(said: str, kind: str, reason: Reason) -> None:
    found = understand(said, "")
    assert (found.kind, found.reason) == (Kind(kind), reason)
