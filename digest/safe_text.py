"""Text and links from outside (dumps, readers, relays) made safe to show: on a terminal or in
a log no control characters (terminal escape sequences start with ESC) and no direction
overrides that reorder what a line shows; in an email or a page only http(s) links."""

from __future__ import annotations

import urllib.parse

MAX_URL_CHARS = 2048

# C0 and C1 controls and DEL become spaces; bidirectional marks, embeddings, overrides and
# isolates go.
UNPRINTABLE: dict[int, str | None] = {
    **dict.fromkeys(range(32), " "),
    **dict.fromkeys(range(0x7F, 0xA0), " "),
    **dict.fromkeys((0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))),
}


def terminal_safe(text: str) -> str:
    """`text` with every control character a space and every direction override removed."""
    return text.translate(UNPRINTABLE)


def web_url(value: object) -> str | None:
    """An http(s) URL with a host, as a string, or None: `javascript:`, `data:`, `vbscript:`,
    relative and malformed links never leave a dump."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
