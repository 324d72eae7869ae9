"""The bounce mailbox the daemon reads by itself (`[bounces] mailbox`): a Maildir folder,
`imaps://user@host[:port]/FOLDER` or `pop3s://user@host[:port]`, the password from
DIGEST_BOUNCES__PASSWORD. Each unread message is handed over, and marked once its outcome is
kept: flagged seen (Maildir, IMAP), or deleted once read (POP3, which can flag nothing). A
message is never deleted unread."""

from __future__ import annotations

import imaplib
import mailbox
import poplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from digest.bounces.reading import MAX_BYTES, Raw, as_raw
from digest.errors import BounceError, SettingsError

TIMEOUT = 60.0
MAX_PER_POLL = 500  # the rest waits for the next poll


@dataclass(frozen=True, slots=True)
class Unread:
    """A message to process, and how to mark it done once its outcome is kept."""

    raw: Raw
    done: Callable[[], None]


def mailbox_name(location: str) -> str:
    """The mailbox without its password, for logs."""
    parts = urlsplit(location)
    if parts.scheme in ("imaps", "pop3s"):
        return f"{parts.scheme}://{parts.username or ''}@{parts.hostname}{parts.path}"
    return location


@contextmanager
def unread(location: str, password: str) -> Iterator[Iterator[Unread]]:
    """The unread messages of the mailbox at `location` (see the module's doc)."""
    parts = urlsplit(location)
    if parts.scheme == "imaps":
        with _imap(parts.hostname or "", parts.port or 993, parts, password) as found:
            yield found
    elif parts.scheme == "pop3s":
        with _pop3(parts.hostname or "", parts.port or 995, parts, password) as found:
            yield found
    elif parts.scheme in ("", "file"):
        yield _maildir(Path(unquote(parts.path) if parts.scheme else location))
    else:
        raise SettingsError(
            f"[bounces] mailbox {mailbox_name(location)!r}: use a Maildir path,"
            " imaps://user@host/INBOX or pop3s://user@host"
        )


def _maildir(folder: Path) -> Iterator[Unread]:
    if not (folder / "new").is_dir() and not (folder / "cur").is_dir():
        raise BounceError(f"{folder}: no Maildir (no cur/ or new/); check [bounces] mailbox")
    box = mailbox.Maildir(folder, factory=None, create=False)
    for count, key in enumerate(sorted(box.keys())):
        if count >= MAX_PER_POLL:
            return
        message = box.get_message(key)
        if "S" in message.get_flags():
            continue
        with box.get_file(key) as handle:
            data = handle.read(MAX_BYTES + 1)

        def seen(key: str = key) -> None:
            found = box.get_message(key)
            found.set_subdir("cur")
            found.add_flag("S")
            box[key] = found

        yield Unread(as_raw(f"{folder}:{key}", data), seen)


def _login_user(parts: object) -> str:
    user = getattr(parts, "username", None)
    if not user:
        raise SettingsError("[bounces] mailbox: name the user, e.g. imaps://bounces@host/INBOX")
    return unquote(user)


@contextmanager
def _imap(host: str, port: int, parts: object, password: str) -> Iterator[Iterator[Unread]]:
    folder = (getattr(parts, "path", "") or "/INBOX").lstrip("/") or "INBOX"
    try:
        client = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                   timeout=TIMEOUT)  # fmt: skip
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceError(f"imaps://{host}:{port}: cannot connect: {exc}") from None
    try:
        try:
            client.login(_login_user(parts), password)
            status, _ = client.select(folder)
        except imaplib.IMAP4.error as exc:
            raise BounceError(f"imaps://{host}: {exc}; check DIGEST_BOUNCES__PASSWORD") from None
        if status != "OK":
            raise BounceError(f"imaps://{host}: no folder {folder!r}")
        yield _imap_unread(client, host)
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def _imap_unread(client: imaplib.IMAP4, host: str) -> Iterator[Unread]:
    _, found = client.uid("SEARCH", "UNSEEN")
    uids = [u.decode("ascii") for u in (found[0] or b"").split()[:MAX_PER_POLL]]
    for uid in uids:
        _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")  # reading does not mark it seen
        data = next((p[1] for p in parts if isinstance(p, tuple)), b"")

        def seen(uid: str = uid) -> None:
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")

        yield Unread(as_raw(f"imaps://{host}#{uid}", bytes(data)), seen)


@contextmanager
def _pop3(host: str, port: int, parts: object, password: str) -> Iterator[Iterator[Unread]]:
    try:
        client = poplib.POP3_SSL(host, port, context=ssl.create_default_context(),
                                 timeout=TIMEOUT)  # fmt: skip
    except OSError as exc:
        raise BounceError(f"pop3s://{host}:{port}: cannot connect: {exc}") from None
    try:
        try:
            client.user(_login_user(parts))
            client.pass_(password)
        except poplib.error_proto as exc:
            raise BounceError(f"pop3s://{host}: {exc!r}; check DIGEST_BOUNCES__PASSWORD") from None
        yield _pop3_unread(client, host)
        client.quit()  # the deletions take effect only here, after every outcome was kept
    finally:
        with suppress(OSError):
            client.close()


def _pop3_unread(client: poplib.POP3, host: str) -> Iterator[Unread]:
    count, _ = client.stat()
    for number in range(1, min(count, MAX_PER_POLL) + 1):
        _, lines, _ = client.retr(number)
        data = b"\r\n".join(lines) + b"\r\n"

        def read(number: int = number) -> None:
            client.dele(number)  # it was read and its outcome kept

        yield Unread(as_raw(f"pop3s://{host}#{number}", data), read)
