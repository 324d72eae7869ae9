"""What the mail servers of the bounce corpus are asked to deliver, so that they write their own
reports: local users that do not exist or whose mailbox is full, domains that cannot be
reached, and a "remote" server (aiosmtpd on 127.0.0.1) that refuses a recipient at RCPT or the
message at DATA with the replies today's large providers give, by the recipient's local part.
The replies are written here after the providers' published and commonly seen wording; the
reports about them are written by the real servers (tests/bounce_servers.py)."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from .localnet import serving

SENDER = "bounces@digest.test"
REMOTE = "remote.test"


@dataclass(frozen=True, slots=True)
class Refusal:
    """The remote server's answer for one local part: at RCPT or DATA, code and words."""

    stage: str  # "rcpt" or "data"
    reply: str


# local part at remote.test -> the refusal. The names say what the words are about.
REFUSALS: dict[str, Refusal] = {
    "gmail-nouser": Refusal(
        "rcpt",
        "550 5.1.1 The email account that you tried to reach does"
        " not exist. Please try double-checking the recipient's email address"
        " for typos or unnecessary spaces. https://support.google.com/mail/?p="
        "NoSuchUser a1si123.42 - gsmtp",
    ),
    "gmail-disabled": Refusal(
        "rcpt",
        "550 5.2.1 The email account that you tried to reach is"
        " disabled. https://support.google.com/mail/?p=DisabledUser"
        " b2si4.1 - gsmtp",
    ),
    "gmail-overquota": Refusal(
        "rcpt",
        "452 4.2.2 The email account that you tried to reach is"
        " over quota. Please direct the recipient to"
        " https://support.google.com/mail/?p=OverQuotaTemp c3si9 - gsmtp",
    ),
    "gmail-unauth": Refusal(
        "data",
        "550 5.7.26 This mail has been blocked because the sender is"
        " unauthenticated. Gmail requires all senders to authenticate with"
        " either SPF or DKIM. d4si1.2 - gsmtp",
    ),
    "gmail-rate": Refusal(
        "rcpt",
        "450 4.2.1 The user you are trying to contact is receiving mail"
        " at a rate that prevents additional messages from being delivered."
        " https://support.google.com/mail/?p=ReceivingRatePerm e5si3 - gsmtp",
    ),
    "gmail-spam": Refusal(
        "data",
        "550 5.7.1 Our system has detected that this message is likely"
        " unsolicited mail. To reduce the amount of spam sent to Gmail, this"
        " message has been blocked. f6si7 - gsmtp",
    ),
    "o365-notfound": Refusal(
        "rcpt",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    ),
    "o365-accessdenied": Refusal(
        "rcpt",
        "550 5.4.1 Recipient address rejected: Access denied."
        " AS(201806281) [DB5EUR03FT012.eop-EUR03.prod.protection."
        "outlook.com]",
    ),
    "outlook-unavailable": Refusal(
        "rcpt",
        "550 5.5.0 Requested action not taken: mailbox"
        " unavailable (S2017062302). [AM1EUR02FT011.eop-EUR02.prod"
        ".protection.outlook.com]",
    ),
    "outlook-blocklist": Refusal(
        "rcpt",
        "550 5.7.1 Unfortunately, messages from [127.0.0.1]"
        " weren't sent. Please contact your Internet service provider"
        " since part of their network is on our block list (S3150).",
    ),
    "yahoo-nouser": Refusal(
        "rcpt",
        "554 delivery error: dd This user doesn't have a yahoo.com"
        " account (yahoo-nouser@remote.test) [0] - mta1012.mail.gq1.yahoo"
        ".com",
    ),
    "yahoo-disabled": Refusal(
        "rcpt",
        "554 delivery error: dd Sorry your message to"
        " yahoo-disabled@remote.test cannot be delivered. This mailbox is"
        " disabled (554.30). - mta4001.mail.bf1.yahoo.com",
    ),
    "yahoo-deferred": Refusal(
        "rcpt",
        "421 4.7.0 [TSS04] Messages from 127.0.0.1 temporarily"
        " deferred due to unexpected volume or user complaints",
    ),
    "plain-nouser": Refusal("rcpt", "550 No such user here"),
    "plain-unknown": Refusal(
        "rcpt",
        "550 <plain-unknown@remote.test>: Recipient address"
        " rejected: User unknown in virtual mailbox table",
    ),
    "plain-mailboxfull": Refusal("rcpt", "552 5.2.2 Mailbox full"),
    "plain-quota-nocode": Refusal("rcpt", "550 Mailbox quota exceeded"),
    "plain-relay": Refusal("rcpt", "554 5.7.1 <plain-relay@remote.test>: Relay access denied"),
    "plain-greylist": Refusal(
        "rcpt",
        "451 4.7.1 <plain-greylist@remote.test>: Recipient"
        " address rejected: Greylisted, see http://postgrey.schweikert.ch/",
    ),
    "plain-toolarge": Refusal("data", "552 5.3.4 Message size exceeds fixed maximum message size"),
    "plain-virus": Refusal("data", "554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature"),
    "plain-spamscore": Refusal(
        "data", "550 5.7.1 Message rejected as spam by Content Filtering (score 12.3)"
    ),
    "plain-moved": Refusal("rcpt", "551 5.1.6 User has moved; please try <new@example.net>"),
    "plain-inactive": Refusal("rcpt", "550 5.2.1 Mailbox is inactive and no longer accepts mail"),
    "plain-500nocode": Refusal("rcpt", "550 Requested action not taken: mailbox unavailable"),
    "plain-tempfail": Refusal("rcpt", "450 4.2.0 Mailbox temporarily unavailable"),
    "mailru-nouser": Refusal(
        "rcpt",
        "550 Message was not accepted -- invalid mailbox. Local"
        " mailbox mailru-nouser@remote.test is unavailable: user not found",
    ),
    "gmx-nouser": Refusal(
        "rcpt", "550 Requested action not taken: mailbox unavailable / No such user"
    ),
}


def _refusal(address: str) -> Refusal | None:
    local, _, domain = address.lower().partition("@")
    return REFUSALS.get(local) if domain == REMOTE else None


@dataclass
class Refuser:
    """aiosmtpd handler: refuses by the table; accepts every other recipient."""

    accepted: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)  # reports it accepted for SENDER
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = _refusal(address)
        if refusal is not None and refusal.stage == "rcpt":
            return refusal.reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            refusal = _refusal(address)
            if refusal is not None:
                return refusal.reply
        with self.lock:
            self.accepted.extend(envelope.rcpt_tos)
            if SENDER in envelope.rcpt_tos:
                self.received.append(envelope.original_content)
        return "250 2.0.0 OK queued"


@contextmanager
def remote_server() -> Iterator[tuple[int, Refuser]]:
    """The refusing "remote" server on 127.0.0.1; yields its port and handler."""
    handler = Refuser()
    with serving(handler) as port:
        yield port, handler


def message(name: str, recipients: list[str]) -> EmailMessage:
    """The message a scenario sends: a small digest-like letter whose Subject and Message-ID
    name the scenario (so each report can be told apart)."""
    letter = EmailMessage()
    letter["From"] = "Digest <digest@digest.test>"
    letter["To"] = ", ".join(recipients)
    letter["Subject"] = f"Your daily papers [{name}]"
    letter["Message-ID"] = f"<{name}.corpus@digest.test>"
    letter["Date"] = "Sun, 22 Nov 2026 07:00:00 +0000"
    letter["List-Id"] = "Digest <daily.digest.test>"
    letter.set_content("Today's papers for you:\n\n1. A paper about language models.\n")
    return letter


def send(port: int, name: str, recipients: list[str], notify: str = "") -> None:
    """Send a scenario's message to the server under test over SMTP (envelope sender SENDER);
    `notify` asks for delivery status notifications (RFC 3461, e.g. "SUCCESS,FAILURE")."""
    options = [f"NOTIFY={notify}"] if notify else []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("sender.digest.test")
        client.send_message(message(name, recipients), SENDER, recipients, rcpt_options=options)
