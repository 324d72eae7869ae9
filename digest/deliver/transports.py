"""Transports: where finished messages go. One Protocol, several implementations."""

from __future__ import annotations

import mailbox
import re
import smtplib
import ssl
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from digest.errors import AmbiguousFailure, DeliveryError, PermanentFailure, TemporaryFailure
from digest.settings import SmtpSettings


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: lines starting with "." doubled, ended by CRLF "." CRLF (RFC 5321).
    (bytes.replace: a regular expression took ~0.15 ms for a 36 KB message.)"""
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


class Transport(Protocol):
    def __enter__(self) -> Transport: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, sender: str, recipient: str, data: bytes) -> None: ...


class SmtpTransport:
    """A real SMTP client: one connection reused for the whole edition."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._relay = (settings.host, settings.port)
        self._sent_on_connection = 0

    @property
    def where(self) -> str:
        return f"{self._relay[0]}:{self._relay[1]}"

    def relays(self) -> list[tuple[str, int]]:
        """`host` first, then each of `fallback_hosts` ("host" or "host:port")."""
        relays = [(self.settings.host, self.settings.port)]
        for entry in self.settings.fallback_hosts:
            host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
            relays.append((host, int(port) if port.isdigit() else self.settings.port))
        return relays

    def __enter__(self) -> SmtpTransport:
        self._connect()
        return self

    def reconnect(self) -> None:
        """Drop the connection (if any) and open a new one: after a drop or a 421."""
        self.__exit__()
        self._connect()

    def _connect(self) -> None:
        """Connect to the first relay that answers; the error names the last one tried."""
        error: DeliveryError | None = None
        for relay in self.relays():
            self._relay = relay
            try:
                self._connect_to(*relay)
                return
            except DeliveryError as exc:
                error = exc
        assert error is not None
        raise error

    def _connect_to(self, host: str, port: int) -> None:
        s = self.settings
        self._sent_on_connection = 0
        try:
            # Certificates are always verified; ca_file adds a private CA (or a pinned cert).
            context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=s.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=s.timeout)
            try:
                if s.security == "starttls":
                    smtp.starttls(context=context)
                if s.username and s.password:
                    smtp.login(s.username.get_secret_value(), s.password.get_secret_value())
            except BaseException:
                smtp.close()  # connected, but STARTTLS or the login failed: hang up
                raise
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError(
                f"SMTP server {self.where} refused the login; check DIGEST_SMTP__USERNAME and"
                " DIGEST_SMTP__PASSWORD"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"cannot connect to SMTP server {self.where} ({exc}); check [smtp] host, port"
                " and security"
            ) from None
        self._smtp = smtp

    def __exit__(self, *exc_info: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        """Hand one message to the relay. Raises PermanentFailure (5xx), TemporaryFailure (4xx,
        a drop before the message was complete) or AmbiguousFailure (no answer after it was)."""
        # Dropped earlier, or at the relay's per-connection message limit: start a fresh one.
        if self._smtp is None or (
            self._sent_on_connection >= self.settings.max_messages_per_connection
        ):
            try:
                self.reconnect()
            except DeliveryError as exc:
                raise TemporaryFailure(str(exc)) from None
        assert self._smtp is not None
        smtp = self._smtp
        try:
            self._envelope(smtp, sender, recipient)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                self._refused(code, reply, recipient, "data")
            smtp.send(_dot_stuffed(data))
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()  # the relay has no complete message: safe to send again
            raise TemporaryFailure(f"lost the SMTP connection to {self.where} ({exc})") from None
        try:
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise AmbiguousFailure(
                f"SMTP server {self.where} did not confirm the message for {recipient} ({exc});"
                " it may have been delivered"
            ) from None
        if code != 250:
            self._refused(code, reply, recipient, "data")
        self._sent_on_connection += 1

    def _envelope(self, smtp: smtplib.SMTP, sender: str, recipient: str) -> None:
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(sender)
        if code != 250:
            self._refused(code, reply, recipient, "mail")
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._refused(code, reply, recipient, "rcpt")

    def _refused(self, code: int, reply: bytes, recipient: str, stage: str) -> None:
        """The relay said no to `stage` (mail, rcpt, data): reset the transaction (the
        connection stays usable) and raise PermanentFailure for a 5xx, TemporaryFailure for
        anything else."""
        try:
            assert self._smtp is not None
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()
        if code >= 500:
            raise PermanentFailure(f"{code} {_text(reply)}", stage)
        raise TemporaryFailure(
            f"SMTP server {self.where} deferred {recipient}: {code} {_text(reply)}"
        )

    def _drop(self) -> None:
        """Forget a connection in an unknown state; the next send opens a new one."""
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


class _ConnectionlessTransport:
    """Base for transports with no connection to open or close."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


class FileTransport(_ConnectionlessTransport):
    """Writes each message as an .eml file, for inspection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        safe = re.sub(r"[^A-Za-z0-9@._-]", "_", recipient)
        (self.folder / f"{safe}.eml").write_bytes(data)


class MaildirTransport(_ConnectionlessTransport):
    """Delivers into a Maildir (new/ cur/ tmp/), readable by mutt, Thunderbird and friends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._box: mailbox.Maildir | None = None

    def __enter__(self) -> Self:
        try:
            self._box = mailbox.Maildir(self.folder, create=True)
        except OSError as exc:
            raise DeliveryError(f"cannot use {self.folder} as a Maildir ({exc.strerror})") from None
        return self

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        assert self._box is not None, "use the transport as a context manager"
        self._box.add(data)


class DryRunTransport(_ConnectionlessTransport):
    """Accepts nothing and sends nothing: `digest send --dry-run`."""

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        return None


class MemoryTransport(_ConnectionlessTransport):
    """Keeps every message it is given, in order, as (sender, recipient, bytes): for tests
    and for a caller that wants the messages themselves (Django's locmem backend is the
    model). Shared between threads: one list, appended to under the GIL."""

    def __init__(self) -> None:
        self.outbox: list[tuple[str, str, bytes]] = []

    def send(self, sender: str, recipient: str, data: bytes) -> None:
        self.outbox.append((sender, recipient, data))
