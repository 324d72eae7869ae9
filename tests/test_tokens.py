from __future__ import annotations

import base64

import pytest

from digest.errors import BadToken, OldLink, SettingsError
from digest.tokens import is_old_form, make_token, read_token

SECRET = "a-long-enough-secret-key"


def test_round_trip_and_case_folding() -> None:
    assert read_token(SECRET, make_token(SECRET, "Ada@Example.org")) == "ada@example.org"


def test_tampered_foreign_and_cross_purpose_tokens_are_refused() -> None:
    token = make_token(SECRET, "ada@example.org")
    payload, _, signature = token.rpartition(".")
    forged = make_token("another-secret-key-123", "eve@example.org").rpartition(".")[0]
    forged += "." + signature
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
        "s.ZXZl" + token[6:],
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
    assert reference.unsign(made)  # signed as before, over the sealed payload
    older = Signer("old-key-0123456789abcdef", salt="digest.unsubscribe").sign(
        b"YWRhQGV4YW1wbGUub3Jn"
    )
    assert read_token(secret, older.decode("ascii")) == "ada@example.org"


def _old_form(secret: str, value: str, purpose: str = "unsubscribe") -> str:
    """A token as links were made before they were sealed: the address in base64."""
    from itsdangerous import Signer

    payload = base64.urlsafe_b64encode(value.encode()).rstrip(b"=")
    return Signer(secret.split()[0], salt=f"digest.{purpose}").sign(payload).decode("ascii")


def test_tokens_never_carry_the_address_in_clear() -> None:
    """Issue 32, item 7: a URL in a proxy log or a forwarded email names nobody."""
    address = "ada.lovelace@example.org"
    for purpose in ("unsubscribe", "preferences", "view", "feed", "feedback"):
        token = make_token(SECRET, address, purpose)
        assert not is_old_form(token)
        readable = token.replace("-", "+").replace("_", "/")
        for start in range(4):  # the address at any alignment of the base64
            encoded = base64.b64encode(b"x" * start + address.encode()).decode()[4:20]
            assert encoded not in readable, purpose
        assert read_token(SECRET, token, purpose) == address
    # Stable per reader and purpose (the same link in every edition), different per reader.
    assert make_token(SECRET, address) == make_token(SECRET, address)
    assert make_token(SECRET, address) != make_token(SECRET, "eve@example.org")


def test_sealed_tokens_survive_key_rotation() -> None:
    old = "old-key-0123456789abcdef"
    token = make_token(old, "ada@example.org", "view")
    assert read_token(f"new-key-0123456789abcdef {old}", token, "view") == "ada@example.org"
    with pytest.raises(BadToken):
        read_token("new-key-0123456789abcdef", token, "view")


def test_old_form_links_work_until_they_expire() -> None:
    old = _old_form(SECRET, "ada@example.org", "preferences")
    assert is_old_form(old)
    assert read_token(SECRET, old, "preferences") == "ada@example.org"
    with pytest.raises(OldLink) as caught:
        read_token(SECRET, old, "preferences", old_form=False)
    assert caught.value.tampered is False and "expired" in str(caught.value)
    # A sealed token is never refused as old.
    sealed = make_token(SECRET, "ada@example.org", "preferences")
    assert read_token(SECRET, sealed, "preferences", old_form=False) == "ada@example.org"
