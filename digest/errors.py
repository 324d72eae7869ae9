"""One exception tree. Every error a user can cause is a DigestError with a one-line message
that names the bad value and the fix; the CLI maps each class to its own exit code."""

from __future__ import annotations

from collections.abc import Sequence

from digest.safe_text import terminal_safe


class DigestError(Exception):
    """Base of every error digest raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # One line, always, and nothing a terminal would act on: messages quote dumps and relays.
        super().__init__(" ".join(terminal_safe(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class SettingsError(DigestError):
    """The settings file or environment is missing, unreadable or invalid."""

    exit_code = 2


class ModelError(SettingsError):
    """The embedding model `[ranking] embedding_model` names is missing, altered or unloadable."""


class DumpError(DigestError):
    """A dump could not be read or parsed; nothing from it was stored."""

    exit_code = 3


class StoreError(DigestError):
    """The store (SQLite or PostgreSQL) is unusable (locked, corrupt, wrong schema)."""

    exit_code = 4


class StoreBusy(StoreError):
    """Another process holds the store's write lock for longer than this one would wait."""


class StoreMissing(StoreError):
    """There is no store to read yet (reading never creates one)."""


class StoreFull(StoreError):
    """The disk under the store is full: the write was rolled back, nothing was half-written."""


class RenderError(DigestError):
    """A template is missing or failed to compile."""

    exit_code = 5


class DeliveryError(DigestError):
    """Mail could not be handed to the transport."""

    exit_code = 6


class SubscriberError(DigestError):
    """A subscriber's address or profile (flag, CSV row, form field) is invalid."""

    exit_code = 7


class LibraryError(DigestError):
    """A library export (BibTeX, RIS, CSL-JSON) could not be read as a whole; nothing from it
    was stored."""

    exit_code = 8


class BounceError(DigestError):
    """A bounce source (a message file, Maildir, mbox or mailbox) could not be read at all;
    nothing from it was processed."""

    exit_code = 9


class UnreadableFile(DigestError):
    """A path is no regular file digest may read (a folder, FIFO, device, missing or
    unreadable file); the message says which in a few words and the caller names the path."""

    exit_code = 3


class FileTooLarge(UnreadableFile):
    """The file is larger than the caller's limit (nothing past the limit was read)."""


class UnsafeJSON(DigestError, ValueError):
    """The text is not JSON, or is JSON past a bound (digest.safe_json); the message says
    which, in one line. Also a ValueError: code that parses in general catches it as one."""

    exit_code = 3


class ProfileErrors(SubscriberError, ValueError):
    """Everything wrong with what a reader typed, one message per field (str: all of them).
    Also a ValueError, as the single-field checks raise."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = tuple(messages)


class BadToken(DigestError):
    """A link token was tampered with, truncated or signed with another key.

    `tampered` is False for a token that is not even shaped like one (a web server answers
    400 Bad Request) and True for a well-formed one whose signature does not match (403)."""

    exit_code = 2

    def __init__(self, message: str, *, tampered: bool = True) -> None:
        super().__init__(message)
        self.tampered = tampered


class OldLink(BadToken):
    """A genuine old-form link (the address in clear) after old-form links expired."""


class Expired(BadToken):
    """A confirmation link older than `[signup] confirm_hours`."""


class WebhookRefused(DigestError):
    """A webhook request that is not the provider's: a bad signature, credential or
    certificate URL, or a body that is not what the provider sends. Nothing was changed."""

    exit_code = 2


class TooComplex(BounceError):
    """A message with more MIME parts, or deeper nesting, than a delivery report ever has: it
    is kept aside unread."""


class PermanentFailure(DeliveryError):
    """The server refused this message for good (5xx); other recipients are unaffected.
    `stage` is where: "rcpt" (this recipient), "data" (the message itself: content, size,
    policy) or "mail" (the sender)."""

    def __init__(self, message: str, stage: str = "rcpt") -> None:
        super().__init__(message)
        self.stage = stage


class TemporaryFailure(DeliveryError):
    """A 4xx reply or a dropped connection: worth retrying after a pause."""


class AmbiguousFailure(TemporaryFailure):
    """No answer after the whole message was sent (a timeout, a dropped connection): the relay
    may have queued it. Never resent in the same run; tried once more later, with the same
    Message-ID."""


class Unshareable(RenderError):
    """A reader's value that the shared rendering cannot hold exactly: that reader's email is
    rendered on its own (digest.render.slots)."""
