"""Checks before real mail goes out: settings that work on the operator's machine but not in a
reader's inbox (links to 127.0.0.1, plain http, a sender at localhost) and a password that
would cross the network in clear text. Each is one line naming the key to set."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from digest.deliver.message import sender_domain
from digest.errors import SettingsError
from digest.settings import Settings


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or a name for this machine."""
    name = host.strip("[]").casefold()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_real_mail(settings: Settings) -> None:
    """Raise SettingsError if mail sent with these settings would reach readers broken or
    would expose the relay password. `[sender] allow_local = true` lets a local test setup
    (the demo, a test suite) use local links and sender; the password rule always holds."""
    smtp = settings.smtp
    if smtp.username and smtp.password and smtp.security == "none" and not is_loopback(smtp.host):
        raise SettingsError(
            f'[smtp] security = "none" would send DIGEST_SMTP__PASSWORD to {smtp.host} in clear'
            ' text; set [smtp] security = "starttls" (port 587) or "ssl" (port 465)'
        )
    if settings.sender.allow_local:
        return
    base = settings.sender.base_url
    parts = urlsplit(base)
    if parts.scheme != "https" or is_loopback(parts.hostname or ""):
        raise SettingsError(
            f"[sender] base_url {base} is not a public https:// address, so every link in the"
            " email (unsubscribe included) would be dead for readers; set [sender] base_url to"
            " where `digest serve` is reachable over https (or allow_local = true for a local"
            " test)"
        )
    domain = sender_domain(settings.sender.from_)
    if "." not in domain or is_loopback(domain):
        raise SettingsError(
            f"[sender] from {settings.sender.from_!r} is not on a real domain, so relays and"
            " inboxes would refuse or bin the mail; set [sender] from to an address on your"
            " domain (or allow_local = true for a local test)"
        )
