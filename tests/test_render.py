from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import RenderError
from digest.identity import paper_key
from digest.models import Edition, Paper, Pick, Subscriber
from digest.render import Links, Renderer, header_safe, snippet

HOSTILE = "<script>alert('x')</script> & \"quotes\"\r\nBcc: victim@example.org"
LINKS = Links("https://d.test/b", "https://d.test/p", "https://d.test/u?a=1&b=2")


def _edition(*titles: str, abstract: str = "An abstract. With two sentences.") -> Edition:
    picks = tuple(
        Pick(
            paper=Paper(
                key=paper_key(t),
                title=t,
                abstract=abstract,
                authors=("A", "B"),
                upvotes=7,
                arxiv_id=f"2401.{i:05d}",
                pdf_url=f"https://arxiv.org/pdf/2401.{i:05d}",
            ),
            score=1.0,
            reasons=("matches: graphs", "7 upvotes"),
            paper_id=i,
        )
        for i, t in enumerate(titles, 1)
    )
    subscriber = Subscriber(email="ada@example.org", name="Ada", interests=("graphs",))
    return Edition("2026-11-22", dt.date(2026, 11, 22), subscriber, picks)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_hostile_titles_are_escaped_everywhere(renderer: Renderer) -> None:
    email = renderer.render(_edition(HOSTILE, "Normal title"), LINKS)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(" in email.html
    assert "\r" not in email.subject and "\n" not in email.subject
    assert "\n" not in email.preheader
    assert "Bcc: victim" in email.subject  # kept as text, on the one subject line
    assert HOSTILE.splitlines()[0] in email.text  # the text part is plain text, unescaped


def test_subject_names_date_and_count(renderer: Renderer) -> None:
    email = renderer.render(_edition("First", "Second", "Third"), LINKS)
    assert email.subject.startswith("3 new papers · Sun 22 Nov: First")
    assert "Second" in email.preheader


def test_html_is_self_contained_and_keeps_media_queries(renderer: Renderer) -> None:
    email = renderer.render(_edition("First"), LINKS)
    assert "prefers-color-scheme: dark" in email.html
    assert "max-width: 480px" in email.html
    assert 'lang="en"' in email.html
    assert not re.search(r"<link[^>]+stylesheet", email.html)
    assert "fonts.googleapis" not in email.html
    assert 'style="' in email.html  # premailer inlined the CSS
    assert "https://d.test/u?a=1&amp;b=2" in email.html
    assert "Unsubscribe: https://d.test/u?a=1&b=2" in email.text


def test_twenty_long_items_stay_under_gmail_clip(renderer: Renderer) -> None:
    long_abstract = " ".join(["This sentence is long and adds detail to the abstract."] * 40)
    email = renderer.render(
        _edition(*[f"Paper {i} " + "word " * 30 for i in range(20)], abstract=long_abstract), LINKS
    )
    assert len(email.html.encode()) < 102 * 1024


def test_text_part_is_numbered_and_lists_links(renderer: Renderer) -> None:
    email = renderer.render(_edition("First", "Second"), LINKS)
    assert "1. First" in email.text and "2. Second" in email.text
    assert "PDF: https://arxiv.org/pdf/2401.00002" in email.text
    assert max(len(line) for line in email.text.splitlines() if "http" not in line) <= 80


def test_snippet_keeps_whole_sentences() -> None:
    text = "First sentence here. " * 30
    cut = snippet(text, 100)
    assert cut.endswith(".") and len(cut) <= 100
    assert snippet("x" * 500, 50).endswith("…")


def test_header_safe_folds_control_characters() -> None:
    assert header_safe("a\r\nb\tc\x00d") == "a b c d"


def test_missing_template_folder(tmp_path: object) -> None:
    with pytest.raises(RenderError, match="does not exist"):
        Renderer(template_dir=__import__("pathlib").Path("/nonexistent/templates"))


def test_rendered_email_keeps_a_doctype() -> None:
    """Regression: premailer's lxml serialiser dropped MRML's doctype, so browsers and
    webmail previews rendered every digest in quirks mode."""
    from digest.render import compile_mjml

    html = compile_mjml("<mjml><mj-body><mj-text>hi</mj-text></mj-body></mjml>")
    assert html.startswith("<!DOCTYPE html><html")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_pieces_encoded_alone_join_into_valid_quoted_printable(text: str) -> None:
    """The send path encodes an edition's HTML chunks once and each reader's values alone,
    joined by soft line breaks: every line must stay within 76 characters (=XX escapes never
    split) and the whole must decode to the pieces joined."""
    import quopri

    from digest.render import _SOFT_BREAK, _room_for_soft_break, quoted_printable

    pieces = [text, "x" * (len(text) % 80), text[::-1]]
    encoded = b"".join(_room_for_soft_break(quoted_printable(p)) + _SOFT_BREAK for p in pieces)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    expected = "".join(pieces).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    assert quopri.decodestring(encoded).decode("utf-8") == expected
