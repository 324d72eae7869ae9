"""The compiled renderer against the per-recipient pipeline (Jinja → MJML → premailer each time):
byte-identical output for any content, plus golden files for one fixed edition."""

from __future__ import annotations

import datetime as dt
import os
import quopri
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.deliver.encoding import encode_pieces
from digest.identity import paper_key
from digest.models import Edition, Paper, Pick, Subscriber, interests
from digest.render import BUILTIN_TEMPLATES, Links, Renderer

from .conftest import REPO

GOLDEN = REPO / "tests" / "golden"
DAY = dt.date(2026, 11, 22)


def _links(n: int | str) -> Links:
    return Links(
        f"https://digest.test/archive/2026-11-22/tok{n}",
        f"https://digest.test/preferences/tok{n}?a=1&b=2",
        f"https://digest.test/unsubscribe/tok{n}",
        f"https://digest.test/archive/tok{n}",
        f"https://digest.test/feed/feed{n}",
    )


def _edition(
    papers: list[Paper], email: str = "ada@example.org", topics: tuple[str, ...] = ("graphs",)
) -> Edition:
    picks = tuple(Pick(p, 1.0, ("matches: graphs", f"{i} upvotes")) for i, p in enumerate(papers))
    return Edition(DAY.isoformat(), DAY, Subscriber(email, "Ada", interests(*topics)), picks)


# Arbitrary text, plus strings that look like the shared rendering's slot markers (old and new).
SLOT_LOOKALIKES = ["On zqr0z markers", "zqr4z", "\ue0000\ue001", "a\ue0004\ue001b", "\ue000\ue001"]
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=120) | st.sampled_from(
    SLOT_LOOKALIKES
)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    title = draw(text.filter(lambda t: t.strip()))
    return Paper(
        key=paper_key(title),
        title=title,
        abstract=draw(text),
        arxiv_id=draw(st.none() | st.from_regex(r"2[0-9]{3}\.[0-9]{5}", fullmatch=True)),
        authors=tuple(draw(st.lists(text, max_size=5))),
        published=draw(st.none() | st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1))),
        upvotes=draw(st.none() | st.integers(0, 10**6)),
        url=draw(st.none() | text.map(lambda t: "https://example.org/" + t)),
        code_url=draw(st.none() | st.just('https://github.com/a/"b c"')),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(papers(), max_size=4), text, st.lists(text, max_size=3))
def test_compiled_equals_per_recipient_pipeline(
    listing: list[Paper], local: str, interests: list[str]
) -> None:
    renderer = Renderer()
    edition = _edition(listing, f"{local}@example.org", tuple(interests))
    # Each card's feedback links are the reader's own too (slots in the shared rendering).
    votes = tuple(
        (f"https://digest.test/feedback/m{n}{local}", f"https://digest.test/feedback/l{n}")
        for n in range(len(listing))
    )
    links = replace(_links(local), votes=votes)
    naive = renderer.render_naive(edition, links)
    # The first reader of these papers: rendered directly; the second: the shared rendering.
    for email in (renderer.render(edition, links), renderer.render(edition, links)):
        assert email == naive
        # The mail code encodes the long pieces once.
        for pieces, whole in ((email.html_pieces, email.html), (email.text_pieces, email.text)):
            if pieces is not None:
                encoded = encode_pieces(pieces)
                decoded = quopri.decodestring(encoded).decode("utf-8")
                assert decoded == whole.replace("\n", "\r\n")
                assert max(len(line) for line in encoded.split(b"\r\n")) <= 76


def test_readers_sharing_papers_get_their_own_values(renderer: Renderer) -> None:
    listing = [Paper(key="k", title="Graph Networks", abstract="Graphs.", arxiv_id="2501.00001")]
    first = renderer.render(_edition(listing, "ada@example.org"), _links("ada"))
    second = renderer.render(_edition(listing, "bob@example.org", ("x",)), _links("bob"))
    assert "tokada" in first.html and "tokbob" not in first.html
    assert "bob@example.org" in second.text and "ada@example.org" not in second.text
    assert second == renderer.render_naive(
        _edition(listing, "bob@example.org", ("x",)), _links("bob")
    )


def test_both_parts_travel_in_pieces_whose_long_ones_are_encoded_once(
    renderer: Renderer,
) -> None:
    """The text part, like the HTML, reaches the mail code as the pieces its template wrote
    (a card is one long piece, the same bytes in every message that carries it), whether the
    email was rendered directly or filled into an edition's shared rendering; the message's
    parts decode to the email's text."""
    from email import message_from_bytes, policy

    from digest.deliver.encoding import LONG_PIECE
    from digest.deliver.message import build_message

    listing = [
        Paper(key=f"k{n}", title=f"Graph Networks {n}", abstract="Graphs and more graphs. " * 9)
        for n in range(3)
    ]
    for local in ("ada", "bob"):  # directly, then from the shared rendering
        email = renderer.render(_edition(listing, f"{local}@example.org"), _links(local))
        assert email.text_pieces is not None and email.html_pieces is not None
        assert "".join(email.text_pieces) == email.text
        assert any(len(piece) >= LONG_PIECE for piece in email.text_pieces)
        data = build_message(
            email,
            sender="Digest <digest@example.org>",
            recipient=f"{local}@example.org",
            recipient_name="",
            message_id="<m@example.org>",
            unsubscribe_url="https://digest.test/u",
            date=dt.datetime(2026, 11, 22, 6, 0, 0, 123456, tzinfo=dt.UTC),
        )
        message = message_from_bytes(data, policy=policy.default)
        plain, html = (part.get_content() for part in message.iter_parts())
        crlf = (email.text.replace("\n", "\r\n"), email.html.replace("\n", "\r\n"))
        assert (plain, html) == crlf
        assert message["Date"] == "Sun, 22 Nov 2026 06:00:00 +0000"


def test_a_template_that_reshapes_reader_values_still_renders_correctly(tmp_path: Path) -> None:
    """A user template that wraps the address cannot share a rendering; it falls back."""
    (tmp_path / "digest.txt.j2").write_text("{{ recipient|upper|wordwrap(5) }}\n{{ headline }}\n")
    renderer = Renderer(tmp_path)
    edition = _edition([Paper(key="k", title="T", abstract="A")], "someone@example.org")
    email = renderer.render(edition, _links(1))
    assert email.text.startswith("SOMEO")
    assert email == renderer.render_naive(edition, _links(1))


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


def _golden_edition() -> Edition:
    listing = [
        Paper(
            key="arxiv:2501.00001",
            title='Graph Networks & "Friends" <b>bold</b> $\\alpha$',
            abstract="We study graphs. " * 30,
            arxiv_id="2501.00001",
            authors=("Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"),
            published=dt.date(2026, 11, 20),
            upvotes=42,
            pdf_url="https://arxiv.org/pdf/2501.00001",
            code_url="https://github.com/example/graphs",
        ),
        Paper(key="title:x", title="نماذج اللغة الكبيرة 🚀", abstract="", author_count=3),
    ]
    return _edition(listing)


@pytest.mark.parametrize("part", ["html", "text"])
def test_golden_files(renderer: Renderer, part: str) -> None:
    """Update deliberately: DIGEST_UPDATE_GOLDEN=1 pytest tests/test_render_compiled.py"""
    email = renderer.render(_golden_edition(), _links("golden"))
    produced = email.html if part == "html" else email.text
    golden = GOLDEN / f"edition.{part if part == 'html' else 'txt'}"
    if os.environ.get("DIGEST_UPDATE_GOLDEN"):
        golden.write_text(produced, encoding="utf-8")
    assert produced == golden.read_text(encoding="utf-8"), f"{golden} changed; review and update"


def test_builtin_templates_exist() -> None:
    assert (BUILTIN_TEMPLATES / "digest.mjml.j2").is_file()


def test_reader_values_in_attributes_keep_lxml_quoting(tmp_path: Path) -> None:
    """Regression: a shared rendering filled a quote-bearing reader value into double quotes,
    where the per-recipient pipeline (lxml) switches the attribute to single quotes."""
    (tmp_path / "digest.mjml.j2").write_text(
        '<mjml><mj-body><mj-section><mj-column><mj-text><p title="{{ interests }}">'
        "{{ headline }}</p></mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    renderer = Renderer(tmp_path)
    listing = [Paper(key="k", title="Graph Networks", abstract="Graphs.")]
    for topics in (("plain",), ('say "hi"',), ("back\\slash",)):
        edition = _edition(listing, "ada@example.org", topics)
        assert renderer.render(edition, _links(1)) == renderer.render_naive(edition, _links(1))


@pytest.mark.parametrize("title", SLOT_LOOKALIKES[:4])
def test_a_title_that_looks_like_a_slot_is_shown_as_written(renderer: Renderer, title: str) -> None:
    plain = [Paper(key="p", title="Plain", abstract="Body.", arxiv_id="2501.00002")]
    renderer.render(_edition(plain, "ada@example.org"), _links("ada"))  # sharing verified
    listing = [Paper(key="k", title=title, abstract="Body.", arxiv_id="2501.00001")]
    # The first reader's rendering is shared with the second: their values fill the slots.
    renderer.render(_edition(listing, "ada@example.org"), _links("ada"))
    email = renderer.render(_edition(listing, "carol@example.org", ("x",)), _links("carol"))
    shown = title.replace("\ue000", "").replace("\ue001", "")
    assert shown in email.text and shown in email.html
    assert email.text.count("carol@example.org") == renderer.render_naive(
        _edition(listing, "carol@example.org", ("x",)), _links("carol")
    ).text.count("carol@example.org")
    assert email == renderer.render_naive(
        _edition(listing, "carol@example.org", ("x",)), _links("carol")
    )
