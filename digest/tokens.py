"""Signed per-subscriber tokens for unsubscribe, preference and view-in-browser links.

A token is `base64url(address).signature`: an HMAC-SHA1 signature (itsdangerous' Signer) over the
address, with a key derived per purpose. A token for one address or purpose cannot be edited into
a token for another without the secret key.

Keys rotate: the secret may hold several keys separated by spaces or commas. The first signs new
links; every one of them verifies, so links already in inboxes keep working until the old key is
dropped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm

from digest.errors import DigestError, SettingsError


class BadToken(DigestError):
    """A link token was tampered with, truncated or signed with another key.

    `tampered` is False for a token that is not even shaped like one (a web server answers
    400 Bad Request) and True for a well-formed one whose signature does not match (403)."""

    exit_code = 2

    def __init__(self, message: str, *, tampered: bool = True) -> None:
        super().__init__(message)
        self.tampered = tampered


class _Signer(Signer):
    """Derives its key once, not per signature (a send signs a dozen links per reader)."""

    @functools.cached_property
    def _derived(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived if secret_key is None else super().derive_key(secret_key)


class _Sha1Hmac(HMACAlgorithm):
    """itsdangerous' default HMAC-SHA1, the same bytes, from the C one-shot (its default builds
    an HMAC object in Python: a send signs a dozen links per reader)."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


def signing_keys(secret: str) -> list[str]:
    """The keys in a DIGEST_SECRET_KEY value (spaces or commas between them), first = signing."""
    keys = secret.replace(",", " ").split()
    if not keys or any(len(key) < 16 for key in keys):
        raise SettingsError(
            "DIGEST_SECRET_KEY is missing or a key in it is shorter than 16 characters; set a"
            " long random value in the environment (e.g. python3 -c 'import secrets;"
            " print(secrets.token_urlsafe())'), several separated by spaces to rotate keys"
        )
    return keys


@functools.lru_cache(maxsize=32)
def purpose_key(key: str, purpose: str) -> bytes:
    """A key for one purpose, derived from one of DIGEST_SECRET_KEY's keys (HMAC-SHA256 of
    the purpose's name): what is signed for one purpose means nothing for another."""
    return hmac.digest(key.encode("utf-8"), f"digest.{purpose}".encode(), "sha256")


@functools.lru_cache(maxsize=32)
def _signer(secret: str, purpose: str) -> _Signer:
    # itsdangerous signs with the last key of its list and verifies with all of them.
    keys = list(reversed(signing_keys(secret)))
    return _Signer(keys, salt=f"digest.{purpose}", algorithm=_Sha1Hmac())


def make_token(secret: str, email: str, purpose: str = "unsubscribe") -> str:
    payload = base64.urlsafe_b64encode(email.casefold().encode("utf-8")).rstrip(b"=")
    return _signer(secret, purpose).sign(payload).decode("ascii")


def read_token(secret: str, token: str, purpose: str = "unsubscribe") -> str:
    """Return the address a token was made for, or raise BadToken."""
    signer = _signer(secret, purpose)
    payload, dot, signature = token.rpartition(".")
    if not dot or not payload or not signature or not token.isascii():
        raise BadToken("the link is incomplete; use the whole link from your email", tampered=False)
    try:
        signer.unsign(token.encode("ascii"))
    except BadSignature:
        raise BadToken("the link is invalid or was changed; use the link from your email") from None
    try:
        email = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadToken("the link is invalid; use the link from your email") from None
    return email
