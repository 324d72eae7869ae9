from __future__ import annotations

import pytest

from digest.errors import SettingsError
from digest.tokens import BadToken, make_token, read_token

SECRET = "a-long-enough-secret-key"


def test_round_trip_and_case_folding() -> None:
    assert read_token(SECRET, make_token(SECRET, "Ada@Example.org")) == "ada@example.org"


def test_tampered_foreign_and_cross_purpose_tokens_are_refused() -> None:
    token = make_token(SECRET, "ada@example.org")
    payload, signature = token.split(".")
    forged = make_token("another-secret-key-123", "eve@example.org").split(".")[0] + "." + signature
    for bad in (
        token[:-2] + "xx",
        forged,
        payload,
        "",
        "....",
        make_token("another-secret-key-123", "ada@example.org"),
    ):
        with pytest.raises(BadToken):
            read_token(SECRET, bad)
    with pytest.raises(BadToken):
        read_token(SECRET, make_token(SECRET, "ada@example.org", "preferences"), "unsubscribe")


def test_short_or_missing_secret_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="DIGEST_SECRET_KEY"):
        make_token("", "ada@example.org")


def test_malformed_tokens_are_told_apart_from_tampered_ones() -> None:
    """The web app answers 400 for a token that is not shaped like one, 403 for a bad signature."""
    token = make_token(SECRET, "ada@example.org")
    for malformed in ("", "no-dot-here", "payload.", ".signature", "päyload.sig"):
        with pytest.raises(BadToken) as caught:
            read_token(SECRET, malformed)
        assert caught.value.tampered is False, malformed
    for tampered in (
        token[:-2] + "xx",
        "ZXZl" + token[4:],
        make_token(SECRET, "eve@example.org", "view"),
    ):
        with pytest.raises(BadToken) as caught:
            read_token(SECRET, tampered)
        assert caught.value.tampered is True, tampered


def test_tokens_are_itsdangerous_signatures_so_links_in_inboxes_keep_working() -> None:
    """The fast signer makes the very tokens of itsdangerous' own Signer (HMAC-SHA1 with a
    key derived per purpose): links sent before it still verify, and the other way round."""
    from itsdangerous import Signer

    secret = "new-key-0123456789abcdef old-key-0123456789abcdef"
    reference = Signer("new-key-0123456789abcdef", salt="digest.unsubscribe")
    made = make_token(secret, "Ada@Example.org")
    assert made == reference.sign(made.rpartition(".")[0]).decode("ascii")
    older = Signer("old-key-0123456789abcdef", salt="digest.unsubscribe").sign(
        b"YWRhQGV4YW1wbGUub3Jn"
    )
    assert read_token(secret, older.decode("ascii")) == "ada@example.org"
