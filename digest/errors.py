"""One exception tree. Every error a user can cause is a DigestError with a one-line message
that names the bad value and the fix; the CLI maps each class to its own exit code."""

from __future__ import annotations

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
    """The SQLite store is unusable (locked, corrupt, wrong schema)."""

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
