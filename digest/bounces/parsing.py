"""A message that came back, parsed only once a linear pre-scan of its bytes showed the
parse is bounded: the email package's parser recurses once per nested part (5,000 levels
raise RecursionError), makes an object per part (200,000 parts cost seconds and memory) and
reads line by line (16 MB of empty lines take 12 s). A message over these bounds is refused
(TooComplex, one line) before the parser sees it."""

from __future__ import annotations

import email
import itertools
import re
from email.message import Message

from digest.bounces.classify import MAX_PARTS
from digest.errors import TooComplex

# Multipart and message/* parts: each is a level the parser may recurse into. A report has a
# handful (the report, the returned message and its alternatives).
MAX_CONTAINERS = 64
# Lines: a report returning one of our messages has a few thousand.
MAX_LINES = 250_000

_CONTAINER = re.compile(rb"^content-type[ \t]*:\s*(?:multipart|message)/", re.I | re.M)
_BOUNDARY = re.compile(rb'boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.I)


def parse(data: bytes) -> Message:
    """The message in `data`, or TooComplex if parsing it is not bounded (see the module's
    doc). Every check is one pass over the bytes, in C, or once per declared boundary."""
    lines = data.count(b"\n")
    if lines > MAX_LINES:
        raise TooComplex(f"{lines:,} lines (more than {MAX_LINES:,})")
    containers = sum(1 for _ in itertools.islice(_CONTAINER.finditer(data), MAX_CONTAINERS + 1))
    if containers > MAX_CONTAINERS:
        raise TooComplex(f"more than {MAX_CONTAINERS} multipart or message parts")
    boundaries: set[bytes] = set()
    for found in _BOUNDARY.finditer(data):
        boundaries.add(b"--" + (found[1] or found[2]))
        if len(boundaries) > MAX_CONTAINERS:
            raise TooComplex(f"more than {MAX_CONTAINERS} MIME boundaries")
    delimiters = sum(data.count(b"\n" + b) for b in boundaries)
    if delimiters > MAX_PARTS + len(boundaries):
        raise TooComplex(f"more than {MAX_PARTS} MIME parts")
    try:
        return email.message_from_bytes(data)
    except RecursionError:  # not reached within the bounds above; kept as the last guard
        raise TooComplex("MIME nested too deep to read") from None
