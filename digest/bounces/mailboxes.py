"""The bounce mailbox the daemon reads by itself (`[bounces] mailbox`): a Maildir folder,
`imaps://user@host[:port]/FOLDER` or `pop3s://user@host[:port]`, the password from
DIGEST_BOUNCES__PASSWORD. Each unread message is handed over, and marked once its outcome is
kept: flagged seen (Maildir, IMAP), or deleted once read (POP3, which can flag nothing). A
message is never deleted unread.

Every poll makes progress: only unread messages are listed (a Maildir's names, IMAP's
UNSEEN), at most MAX_PER_POLL of them; one that cannot be read (too large, too complex, not
a file, refused by the server) is kept aside: flagged seen and flagged (Maildir, IMAP), or
left on a POP3 server and remembered by its UIDL (`AsideLog`), and never fetched again.
Nothing is read past MAX_BYTES of a message, whatever a server announces."""

from __future__ import annotations

import functools
import imaplib
import logging
import poplib
import re
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from digest.bounces.reading import (
    MAX_BYTES,
    Entry,
    Raw,
    as_raw,
    maildir_entries,
    oversized,
    read_file,
    unreadable,
)
from digest.errors import BounceError, SettingsError

log = logging.getLogger("digest.bounces")

TIMEOUT = 60.0
MAX_PER_POLL = 500  # unread messages handed over per poll; the rest waits for the next one
# The most a server may send for one message, whatever it announces: the first MAX_BYTES + 1
# bytes tell a message that is too large.
MAX_LITERAL = MAX_BYTES + 1
# A POP3 message over this is not even read through to its end: the session is closed.
_DRAIN_MAX = 4 * MAX_BYTES
_PIECE = 65536


class AsideLog(Protocol):
    """Where the messages a mailbox cannot flag (POP3) are remembered once kept aside."""

    def known(self, key: str) -> bool: ...

    def keep(self, key: str, source: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Unread:
    """A message to process, and how to mark it once its outcome is kept: `done(None)`, or
    `done(reason)` for one kept aside unread."""

    raw: Raw
    done: Callable[[str | None], None]


def mailbox_name(location: str) -> str:
    """The mailbox without its password, for logs."""
    parts = urlsplit(location)
    if parts.scheme in ("imaps", "pop3s"):
        return f"{parts.scheme}://{parts.username or ''}@{parts.hostname}{parts.path}"
    return location


@contextmanager
def unread(location: str, password: str, aside: AsideLog) -> Iterator[Iterator[Unread]]:
    """The unread messages of the mailbox at `location` (see the module's doc)."""
    parts = urlsplit(location)
    if parts.scheme == "imaps":
        with _imap(parts.hostname or "", parts.port or 993, parts, password) as found:
            yield found
    elif parts.scheme == "pop3s":
        server = (parts.hostname or "", parts.port or 995)
        with _pop3(server, parts, password, (mailbox_name(location), aside)) as found:
            yield found
    elif parts.scheme in ("", "file"):
        yield _maildir(Path(unquote(parts.path) if parts.scheme else location))
    else:
        raise SettingsError(
            f"[bounces] mailbox {mailbox_name(location)!r}: use a Maildir path,"
            " imaps://user@host/INBOX or pop3s://user@host"
        )


# -- Maildir -----------------------------------------------------------------------------------


def _maildir(folder: Path) -> Iterator[Unread]:
    """The messages not flagged seen, told by their names alone (a seen one is never opened
    again, however many there are)."""
    if not (folder / "new").is_dir() and not (folder / "cur").is_dir():
        raise BounceError(f"{folder}: no Maildir (no cur/ or new/); check [bounces] mailbox")
    fresh = [entry for entry in maildir_entries(folder) if "S" not in entry.flags]
    for entry in fresh[:MAX_PER_POLL]:
        raw = read_file(entry.path, f"{folder}:{entry.key}")
        yield Unread(raw, functools.partial(_seen, folder, entry))


def _seen(folder: Path, entry: Entry, aside: str | None) -> None:
    """Move a message to cur/ flagged seen (and flagged, if kept aside), as a mail client does:
    a rename, which needs no permission to read it."""
    flags = set(entry.flags) | {"S"} | ({"F"} if aside else set())
    target = folder / "cur" / f"{entry.key}:2,{''.join(sorted(flags))}"
    try:
        entry.path.rename(target)
    except OSError as exc:
        log.warning("%s: not flagged seen (%s); read again next time", entry.path, exc.strerror)


# -- IMAP --------------------------------------------------------------------------------------


def _login_user(parts: object) -> str:
    user = getattr(parts, "username", None)
    if not user:
        raise SettingsError("[bounces] mailbox: name the user, e.g. imaps://bounces@host/INBOX")
    return unquote(user)


class _Imap(imaplib.IMAP4_SSL):
    """IMAP over TLS that refuses a literal longer than any it asks for: imaplib reads what a
    server announces whole, into memory (300 MB for a 300 MB literal)."""

    def read(self, size: int) -> bytes:
        if size > MAX_LITERAL:
            raise self.abort(
                f"the server sent {size:,} bytes for one message; at most {MAX_LITERAL:,} are read"
            )
        return super().read(size)


@contextmanager
def _imap(host: str, port: int, parts: object, password: str) -> Iterator[Iterator[Unread]]:
    folder = (getattr(parts, "path", "") or "/INBOX").lstrip("/") or "INBOX"
    try:
        client = _Imap(host, port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceError(f"imaps://{host}:{port}: cannot connect: {exc}") from None
    in_step = True  # whether the session can still be closed with LOGOUT
    try:
        try:
            client.login(_login_user(parts), password)
            status, _ = client.select(folder)
        except imaplib.IMAP4.error as exc:
            raise BounceError(f"imaps://{host}: {exc}; check DIGEST_BOUNCES__PASSWORD") from None
        if status != "OK":
            raise BounceError(f"imaps://{host}: no folder {folder!r}")
        try:
            yield _imap_unread(client, host)
        except (imaplib.IMAP4.error, OSError) as exc:
            in_step = False
            raise BounceError(f"imaps://{host}: {exc}; the rest waits for the next poll") from None
    finally:
        with suppress(OSError, imaplib.IMAP4.error):
            if in_step:
                client.logout()
            else:
                client.shutdown()


_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def _imap_unread(client: imaplib.IMAP4, host: str) -> Iterator[Unread]:
    """The unseen messages: their sizes first, then each one's first MAX_LITERAL bytes, never
    marked seen by reading (BODY.PEEK). A message over MAX_BYTES is not fetched."""
    _, found = client.uid("SEARCH", "UNSEEN")
    uids = [u.decode("ascii") for u in (found[0] or b"").split()[:MAX_PER_POLL]]
    sizes = _imap_sizes(client, uids)
    for uid in uids:
        source = f"imaps://{host}#{uid}"
        flag = functools.partial(_imap_seen, client, uid)
        if sizes.get(uid, 0) > MAX_BYTES:
            yield Unread(oversized(source, sizes[uid]), flag)
            continue
        _, parts = client.uid("FETCH", uid, f"(BODY.PEEK[]<0.{MAX_LITERAL}>)")
        data = next((p[1] for p in parts if isinstance(p, tuple)), None)
        if data is None:  # gone meanwhile, or a server that sent no body: left unread
            yield Unread(unreadable(source, "the server sent no body; left unread"), _leave)
            continue
        yield Unread(as_raw(source, bytes(data)), flag)


def _imap_sizes(client: imaplib.IMAP4, uids: list[str]) -> dict[str, int]:
    """Each message's size as the server tells it (RFC822.SIZE), in one command."""
    if not uids:
        return {}
    _, answers = client.uid("FETCH", ",".join(uids), "(RFC822.SIZE)")
    sizes = {}
    for answer in answers:
        line = answer[0] if isinstance(answer, tuple) else answer
        uid, size = _UID.search(line or b""), _SIZE.search(line or b"")
        if uid and size:
            sizes[uid[1].decode("ascii")] = int(size[1])
    return sizes


def _imap_seen(client: imaplib.IMAP4, uid: str, aside: str | None) -> None:
    client.uid("STORE", uid, "+FLAGS", "(\\Seen \\Flagged)" if aside else "(\\Seen)")


def _leave(aside: str | None) -> None:
    return None


# -- POP3 --------------------------------------------------------------------------------------


@contextmanager
def _pop3(
    server: tuple[str, int], parts: object, password: str, kept: tuple[str, AsideLog]
) -> Iterator[Iterator[Unread]]:
    """A POP3 session that ends with QUIT whatever happened, so the deletions of the messages
    read and kept take effect (a message is deleted only once its outcome was kept)."""
    host, port = server
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
        try:
            yield _pop3_unread(client, host, kept)
        except (poplib.error_proto, OSError) as exc:
            raise BounceError(f"pop3s://{host}: {exc}; the rest waits for the next poll") from None
    finally:
        with suppress(OSError, poplib.error_proto):
            client.quit()
        with suppress(OSError):
            client.close()


def _pop3_unread(client: poplib.POP3, host: str, kept: tuple[str, AsideLog]) -> Iterator[Unread]:
    """Every message but those kept aside before (known by their UIDL), in order, at most
    MAX_PER_POLL; one over MAX_BYTES (as LIST says) is not retrieved."""
    name, aside = kept
    sizes = _listing(client.list()[1])
    try:
        uids = _listing(client.uidl()[1])
    except poplib.error_proto:  # no UIDL: what is kept aside is read again each poll
        uids = {}
    taken = 0
    for number in sorted(sizes):
        key = f"unreadable:{name}#{uids[number]}" if number in uids else ""
        if key and aside.known(key):
            continue
        if taken == MAX_PER_POLL:
            return
        taken += 1
        source = f"pop3s://{host}#{number}"
        size = int(sizes[number]) if sizes[number].isdigit() else 0
        done = functools.partial(_pop3_done, client, number, (key, source, aside))
        try:
            raw = oversized(source, size) if size > MAX_BYTES else _retr(client, number, source)
        except _Refused as exc:  # gone meanwhile (another session?): left, tried next poll
            yield Unread(unreadable(source, f"the server would not send it ({exc})"), _leave)
            continue
        yield Unread(replace(raw, key=key) if key and raw.data is None else raw, done)


def _listing(lines: list[bytes]) -> dict[int, str]:
    """LIST's or UIDL's lines as {message number: size or unique id}."""
    found = {}
    for line in lines:
        number, _, value = line.decode("ascii", "replace").strip().partition(" ")
        if number.isdigit() and value.strip():
            found[int(number)] = value.strip()
    return found


class _Refused(Exception):
    """The server answered RETR with -ERR (its words)."""


def _retr(client: poplib.POP3, number: int, source: str) -> Raw:
    """RETR, however long its lines (poplib refuses one over 2,048 bytes; RFC 5322's limit is
    998 characters, which real reports pass), keeping at most MAX_LITERAL bytes: the rest of
    a longer message is read and dropped, so the session stays in step."""
    client.sock.sendall(b"RETR %d\r\n" % number)
    status = client.file.readline(_PIECE)
    if not status.endswith(b"\n"):
        raise poplib.error_proto("the server's answer to RETR was cut off")
    if not status.startswith(b"+OK"):
        raise _Refused(status.decode("ascii", "replace").strip()[:100])
    kept, size, at_line_start = bytearray(), 0, True
    while True:
        piece = client.file.readline(_PIECE)
        if not piece:
            raise poplib.error_proto("the connection closed in the middle of a message")
        if at_line_start and piece in (b".\r\n", b".\n"):
            break
        if at_line_start and piece.startswith(b"."):
            piece = piece[1:]  # dot-stuffing (RFC 1939)
        at_line_start = piece.endswith(b"\n")
        size += len(piece)
        if size > _DRAIN_MAX:
            raise poplib.error_proto(f"message {number} goes on past {_DRAIN_MAX:,} bytes")
        if len(kept) < MAX_LITERAL:
            kept += piece[: MAX_LITERAL - len(kept)]
    return as_raw(source, bytes(kept), size)


def _pop3_done(
    client: poplib.POP3, number: int, kept: tuple[str, str, AsideLog], aside: str | None
) -> None:
    """Delete a message read and kept (at QUIT); remember one kept aside by its UIDL."""
    key, source, log_ = kept
    if aside is None:
        client.dele(number)
    elif key:
        log_.keep(key, source, aside)
