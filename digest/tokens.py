"""Signed per-subscriber tokens for unsubscribe and preference links.

An HMAC signature (itsdangerous) over the address and the purpose: a token for one address or
purpose cannot be edited into a token for another without the secret key.
"""

from __future__ import annotations

import functools

from itsdangerous import BadSignature, URLSafeSerializer

from digest.errors import DigestError, SettingsError


class BadToken(DigestError):
    """A link token was tampered with, truncated or signed with another key."""

    exit_code = 2


@functools.lru_cache(maxsize=32)
def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    """Built once per key and purpose (a send signs three links per reader)."""
    if len(secret) < 16:
        raise SettingsError(
            "DIGEST_SECRET_KEY is missing or shorter than 16 characters; set a long random value"
            " in the environment (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    return URLSafeSerializer(secret, salt=f"digest.{purpose}")


def make_token(secret: str, email: str, purpose: str = "unsubscribe") -> str:
    return _serializer(secret, purpose).dumps(email.casefold())


def read_token(secret: str, token: str, purpose: str = "unsubscribe") -> str:
    """Return the address a token was made for, or raise BadToken."""
    try:
        email = _serializer(secret, purpose).loads(token)
    except BadSignature:
        raise BadToken("the link is invalid or was changed; use the link from your email") from None
    if not isinstance(email, str):
        raise BadToken("the link is invalid; use the link from your email")
    return email
