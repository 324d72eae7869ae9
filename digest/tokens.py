"""Signed per-subscriber tokens for unsubscribe, preference and view-in-browser links.

A token is `s.base64url(sealed).signature`: the address (or a vote, a sign-up's id) sealed with
AES-SIV under a key derived per purpose, so a URL in a proxy log, a forwarded email or a
referer says nothing about whom it is for; then an HMAC-SHA1 signature (itsdangerous' Signer)
over it, with a key derived per purpose, as before. AES-SIV is deterministic: a reader's link
for one purpose is the same in every edition. A token for one address or purpose cannot be
edited into a token for another without the secret key.

Tokens made before (`base64url(address).signature`, the address in clear) are "old-form": they
still open their page while the caller accepts them (`old_form=True`; the web app does for
`[web] old_links_days` after the store was upgraded to sealed links), never after.

Keys rotate: the secret may hold several keys separated by spaces or commas. The first signs new
links; every one of them verifies, so links already in inboxes keep working until the old key is
dropped.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from itsdangerous import BadSignature, Signer
from itsdangerous.signer import HMACAlgorithm

from digest.errors import BadToken, OldLink, SettingsError


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


# A sealed payload starts with this (an old-form payload is base64url: it never holds a dot).
SEALED = "s."


@functools.lru_cache(maxsize=32)
def _sealer(key: str, purpose: str) -> AESSIV:
    """AES-256-SIV under a 64-byte key derived from one of DIGEST_SECRET_KEY's keys for one
    purpose (another derivation than the signature's)."""
    return AESSIV(hmac.digest(key.encode("utf-8"), f"digest.seal.{purpose}".encode(), "sha512"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, email: str, purpose: str = "unsubscribe") -> str:
    """A signed token naming `email` (or any text) for `purpose`, sealed: the URL carries no
    address."""
    value = email.casefold().encode("utf-8")
    sealed = _sealer(signing_keys(secret)[0], purpose).encrypt(value, [purpose.encode()])
    payload = SEALED + _b64(sealed)
    return _signer(secret, purpose).sign(payload).decode("ascii")


def is_old_form(token: str) -> bool:
    """A token made before links were sealed (it carries the address in base64)."""
    return not token.startswith(SEALED)


def read_token(
    secret: str, token: str, purpose: str = "unsubscribe", *, old_form: bool = True
) -> str:
    """Return the address a token was made for, or raise BadToken; an old-form token (the
    address in clear) only while `old_form`, else BadToken (not tampered: it has expired)."""
    signer = _signer(secret, purpose)
    payload, dot, signature = token.rpartition(".")
    if not dot or not payload or not signature or not token.isascii():
        raise BadToken("the link is incomplete; use the whole link from your email", tampered=False)
    try:
        signer.unsign(token.encode("ascii"))
    except BadSignature:
        raise BadToken("the link is invalid or was changed; use the link from your email") from None
    if payload.startswith(SEALED):
        return _unseal(secret, payload[len(SEALED) :], purpose)
    if not old_form:
        raise OldLink(
            "this link is from an older email and has expired; use the link in a recent one",
            tampered=False,
        )
    try:
        email = _unb64(payload).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadToken("the link is invalid; use the link from your email") from None
    return email


def _unseal(secret: str, payload: str, purpose: str) -> str:
    """The text a sealed payload holds, under whichever key sealed it (keys rotate)."""
    try:
        sealed = _unb64(payload)
    except (binascii.Error, ValueError):
        raise BadToken("the link is invalid; use the link from your email") from None
    for key in signing_keys(secret):
        try:
            value = _sealer(key, purpose).decrypt(sealed, [purpose.encode()])
        except InvalidTag:
            continue
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            break
    raise BadToken("the link is invalid; use the link from your email")
