"""VERP return paths: every message's envelope sender is `bounces+TOKEN@domain`, TOKEN naming
the edition and (by a hash) the reader, signed; a bounce sent back to it names them without
guessing. The token is short (a local part has 64 characters at most) and case-insensitive
(some servers fold an address's case)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^(\d{6})([a-z2-7]{8})\.([a-z2-7]{8})$")
PURPOSE = b"digest.verp"


def _b32(data: bytes, length: int) -> str:
    return base64.b32encode(data).decode("ascii").lower()[:length]


def address_hash(email: str) -> str:
    """Eight characters of an address's hash: what a token says of the reader."""
    return _b32(hashlib.sha256(email.casefold().encode("utf-8")).digest(), 8)


def _signature(key: str, body: str) -> str:
    return _b32(hmac.digest(key.encode("utf-8"), PURPOSE + body.encode("ascii"), "sha256"), 8)


def return_path(base: str, keys: list[str], edition_id: str, email: str) -> str:
    """The envelope sender for this reader's copy of this edition (`base` is
    `[sender] return_path`, e.g. bounces@example.org; the first key signs)."""
    local, _, domain = base.partition("@")
    body = edition_id.replace("-", "")[2:] + address_hash(email)
    return f"{local}+{body}.{_signature(keys[0], body)}@{domain}"


@dataclass(frozen=True, slots=True)
class Returned:
    """What a VERP address says: the edition (YYYY-MM-DD) and the reader's address hash."""

    edition_id: str
    reader_hash: str


def read_return_path(address: str, base: str, keys: list[str]) -> Returned | None:
    """What `address` (a bounce's recipient) says, if it is one of ours with a good signature
    under any key; None for another address or a forged token."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    base_local, _, base_domain = base.lower().partition("@")
    prefix = f"{base_local}+"
    if domain != base_domain or not local.startswith(prefix):
        return None
    found = _TOKEN.match(local[len(prefix) :])
    if found is None:
        return None
    day, reader, signature = found.groups()
    body = day + reader
    if not any(hmac.compare_digest(_signature(k, body), signature) for k in keys):
        return None
    return Returned(f"20{day[:2]}-{day[2:4]}-{day[4:]}", reader)
