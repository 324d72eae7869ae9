"""Property tests: whatever the bytes, parsing ends in a Snapshot or a DumpError, nothing else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import DumpError
from digest.sources import parse_snapshot

HEADER = "Get trending papers in your email inbox!\n"


def _parses_or_refuses(data: bytes) -> None:
    try:
        snapshot = parse_snapshot(data, "fuzz")
    except DumpError as exc:
        assert "\n" not in str(exc)
    else:
        assert snapshot.papers
        assert len({p.key for p in snapshot.papers}) == len(snapshot.papers)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    _parses_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_arbitrary_text_after_a_page_header(text: str) -> None:
    _parses_or_refuses((HEADER + text).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_arbitrary_json_shapes(text: str) -> None:
    _parses_or_refuses(("[" + text).encode("utf-8", "surrogatepass"))
    _parses_or_refuses(('{"id": "2501.00001", "title": ' + text).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=800))
def test_arbitrary_text_inside_a_feed(text: str) -> None:
    head = '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><title>'
    _parses_or_refuses((head + text).encode("utf-8", "surrogatepass"))
    _parses_or_refuses(
        (head + "T</title>" + text + "</entry></feed>").encode("utf-8", "surrogatepass")
    )
