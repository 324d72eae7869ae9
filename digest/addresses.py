"""Subscriber addresses: one normalisation for every source (settings, CSV, CLI, web form).

An address is kept in the form every relay accepts: ASCII, an international domain as its
punycode (`user@bücher.example` → `user@xn--bcher-kva.example`). A non-ASCII local part
(`jörg@example.org`) needs SMTPUTF8 on every relay on the way and cannot be written into a
plain To header, so it is refused with a message naming it.
"""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email


def normalise_address(address: str) -> str:
    """The address as digest stores and mails it, or ValueError naming it and the fix."""
    text = address.strip()
    local = text.rpartition("@")[0]
    if local and not local.isascii():
        raise ValueError(
            f"{text!r} has non-ASCII characters before the @, which most mail relays cannot"
            " deliver; use an ASCII address for this reader"
        )
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not a valid address ({exc})") from None
    return str(checked.ascii_email or checked.normalized)


def address_hash(address: str) -> str:
    """What is kept of a deleted reader's address (the `forgotten` table): enough to know
    the address again, so that it is not mailed without new consent, and no more. SHA-256 of
    the case-folded address under a fixed prefix (not keyed: keys rotate, this must not)."""
    return hashlib.sha256(b"digest forgotten address\0" + address.casefold().encode()).hexdigest()


# Mailbox providers that ignore dots in the local part, and their one domain.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def limit_key(address: str) -> str:
    """One inbox's addresses as one, for a limit on how often it is mailed (never for where
    mail goes): case folded, a plus tag dropped (`ann+x@` is `ann@`), and Gmail's dots and
    googlemail.com too (`a.n.n@googlemail.com` is `ann@gmail.com`)."""
    local, _, domain = address.strip().casefold().rpartition("@")
    domain = domain.rstrip(".")
    if "+" in local[1:]:
        local = local[: local.index("+", 1)]
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"
