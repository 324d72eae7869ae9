"""Slot sharing: readers whose editions hold the same papers share one rendering. Their own
values (address, interests, signed links) go into marked slots, filled in per reader."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from digest.errors import Unshareable
from digest.render.compiler import escaped_attribute, escaped_text, inside_tag, mrml_attribute
from digest.render.view import SLOT_CLOSE, SLOT_OPEN

_SLOTS = {
    "recipient": f"{SLOT_OPEN}0{SLOT_CLOSE}",
    "interests": f"{SLOT_OPEN}1{SLOT_CLOSE}",
    "links": {
        "browser": f"{SLOT_OPEN}2{SLOT_CLOSE}",
        "preferences": f"{SLOT_OPEN}3{SLOT_CLOSE}",
        "unsubscribe": f"{SLOT_OPEN}4{SLOT_CLOSE}",
        "archive": f"{SLOT_OPEN}5{SLOT_CLOSE}",
        "feed": f"{SLOT_OPEN}6{SLOT_CLOSE}",
    },
}
_FIRST_VOTE_SLOT = 7
_SLOT = re.compile(f"{SLOT_OPEN}(\\d+){SLOT_CLOSE}")
NOT_YET = object()  # an edition not rendered with slots yet
MAX_SEEN = 65_536  # editions a renderer remembers having rendered once


def slot_markers(votes: int) -> dict[str, Any]:
    """The slot markers for a rendering whose cards carry `votes` pairs of feedback links."""
    return {
        **_SLOTS,
        "votes": [
            {
                "more": f"{SLOT_OPEN}{_FIRST_VOTE_SLOT + 2 * n}{SLOT_CLOSE}",
                "less": f"{SLOT_OPEN}{_FIRST_VOTE_SLOT + 1 + 2 * n}{SLOT_CLOSE}",
            }
            for n in range(votes)
        ],
    }


def slot_values(fields: dict[str, Any]) -> list[str]:
    links = fields["links"]
    return [
        fields["recipient"],
        fields["interests"],
        links["browser"],
        links["preferences"],
        links["unsubscribe"],
        links["archive"],
        links["feed"],
        *(url for vote in fields["votes"] for url in (vote["more"], vote["less"])),
    ]


# Literal chunks of a shared rendering, each followed by (slot number, escaping) to fill in.
_Parts = tuple[tuple[str, int, Callable[[Any], str] | None], ...]


@dataclass(frozen=True, slots=True)
class SharedRendering:
    """One edition's email for everyone who gets the same papers, with the reader's own values
    left as slots: literal chunks, and between them (slot number, escaping) to fill in."""

    subject: str
    preheader: str
    html: _Parts
    html_tail: str
    text: _Parts
    text_tail: str
    # Whether each part may be encoded in pieces: not when a chunk holds a bare CR, whose line
    # ends fold across pieces.
    html_in_pieces: bool
    text_in_pieces: bool

    def fill_html(self, values: list[str]) -> tuple[str, tuple[str, ...] | None]:
        """The reader's HTML, and the same as pieces: the shared literals between the reader's
        escaped values (None when a literal holds a bare CR: it must be encoded whole)."""
        return SharedRendering._filled(self.html, self.html_tail, values, self.html_in_pieces)

    def fill_text(self, values: list[str]) -> tuple[str, tuple[str, ...] | None]:
        """The reader's text part, likewise."""
        return SharedRendering._filled(self.text, self.text_tail, values, self.text_in_pieces)

    @staticmethod
    def _filled(
        parts: _Parts, tail: str, values: list[str], in_pieces: bool
    ) -> tuple[str, tuple[str, ...] | None]:
        pieces = SharedRendering._pieces(parts, tail, SharedRendering._escaped(parts, values))
        return "".join(pieces), tuple(pieces) if in_pieces else None

    @staticmethod
    def _escaped(parts: _Parts, values: list[str]) -> list[str]:
        """Each slot's value, escaped for where it stands."""
        return [escape(values[slot]) if escape else values[slot] for _, slot, escape in parts]

    @staticmethod
    def _pieces(parts: _Parts, tail: str, escaped: list[str]) -> list[str]:
        """The literal chunks with the escaped values between them, then the tail."""
        pieces: list[str] = []
        for (chunk, _, _), value in zip(parts, escaped, strict=True):
            pieces += (chunk, value)
        pieces.append(tail)
        return pieces


def no_bare_cr(parts: _Parts, tail: str) -> bool:
    return not any("\r" in chunk for chunk, _, _ in parts) and "\r" not in tail


def _attribute_slot(value: Any) -> Markup:
    """A reader's value inside an attribute of the shared rendering. lxml would have chosen the
    quotes from the whole value, which a slot cannot change afterwards: a value with a double
    quote sends this email down the direct path."""
    text = mrml_attribute(str(value))
    if '"' in text:
        raise Unshareable("a double quote in a reader's attribute value")
    return escaped_attribute(text)


def split_slots(rendered: str, html: bool) -> tuple[_Parts, str]:
    parts = []
    start = 0
    for match in _SLOT.finditer(rendered):
        escape: Callable[[Any], str] | None = None
        if html:
            escape = _attribute_slot if inside_tag(rendered, match.start()) else escaped_text
        parts.append((rendered[start : match.start()], int(match.group(1)), escape))
        start = match.end()
    return tuple(parts), rendered[start:]
