from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest

from digest.errors import RenderError
from digest.identity import paper_key
from digest.models import Basis, Edition, Paper, Pick, Subscriber, interests
from digest.render import FULL_CARDS, Links, Renderer, header_safe
from digest.render.view import authors_line, date_note, snippet

HOSTILE = "<script>alert('x')</script> & \"quotes\"\r\nBcc: victim@example.org"
LINKS = Links(
    "https://d.test/b",
    "https://d.test/p",
    "https://d.test/u?a=1&b=2",
    "https://d.test/archive/tok",
    "https://d.test/feed/tok",
)


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
            reasons=("matches: graphs",),
            paper_id=i,
        )
        for i, t in enumerate(titles, 1)
    )
    subscriber = Subscriber(email="ada@example.org", name="Ada", interests=interests("graphs"))
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


def test_twenty_long_items_with_thumbnails_stay_under_gmail_clip(renderer: Renderer) -> None:
    long_abstract = " ".join(["This sentence is long and adds detail to the abstract."] * 40)
    edition = _edition(*[f"Paper {i} " + "word " * 30 for i in range(20)], abstract=long_abstract)
    picks = tuple(
        replace(
            pick,
            paper=replace(
                pick.paper,
                thumbnail_url=f"https://cdn.example.org/thumbnails/{n:05d}.png",
                authors=tuple(f"Author Number{k} Surname" for k in range(9)),
                comments=n,
                code_url="https://github.com/example/repository",
                project_url="https://example.org/project",
                url=f"https://huggingface.co/papers/2401.{n:05d}",
            ),
            evidence="A sentence with " + "matched words " * 12,
            highlights=((16, 23),),
            basis=Basis.INTEREST,
            interest=("graphs", "language models", "robots")[n % 3],
        )
        for n, pick in enumerate(edition.picks)
    )
    votes = tuple(
        (f"https://d.test/f/{'m' * 90}{n}", f"https://d.test/f/{'l' * 90}{n}") for n in range(20)
    )
    email = renderer.render(replace(edition, picks=picks), replace(LINKS, votes=votes))
    assert len(email.html.encode()) < 102 * 1024
    assert email.html.count("<img ") == FULL_CARDS  # the cards' thumbnails; the tail has none


def _grouped() -> Edition:
    """Nine picks: the lead, then six full cards under two interests and liked papers, then a
    tail of two."""
    kinds = [
        (Basis.INTEREST, "graphs"),
        (Basis.INTEREST, "robots"),
        (Basis.LIKED, ""),
        (Basis.INTEREST, "graphs"),
        (Basis.INTEREST, "robots"),
        (Basis.INTEREST, "graphs"),
        (Basis.LIKED, ""),
        (Basis.INTEREST, "robots"),
        (Basis.POPULAR, ""),
    ]
    edition = _edition(*[f"Paper {chr(65 + n)}" for n in range(len(kinds))])
    picks = tuple(
        replace(pick, basis=basis, interest=interest, reasons=(f"why {n}",))
        for n, (pick, (basis, interest)) in enumerate(zip(edition.picks, kinds, strict=True))
    )
    return replace(edition, picks=picks)


def test_a_lead_then_sections_by_interest_then_also_new(renderer: Renderer) -> None:
    edition = _grouped()
    email = renderer.render(edition, LINKS)
    html, text = email.html, email.text
    # Subject names the lead once; the header does not repeat it; its card comes first.
    assert email.subject == "9 new papers · Sun 22 Nov: Paper A"
    header = html[html.index("TRENDING PAPERS") : html.index("Top pick for you")]
    assert "Paper A" not in header
    assert html.index("Paper A") < html.index("Paper B")
    # Sections in the order of their best paper, each paper under what brought it.
    order = [
        "Top pick for you",
        "robots",
        "Paper B",
        "Paper E",
        "Like the papers you liked",
        "Paper C",
        "Paper G",
        "graphs",
        "Paper D",
        "Paper F",
        "Also new",
        "Paper H",
        "Paper I",
    ]
    positions = [html.index(f">{marker}<") for marker in order]
    assert positions == sorted(positions)
    assert html.count("<h2") == 4 + 1  # top pick, three sections, also new
    assert html.count("<h3") == 7  # one heading per full card, for screen readers
    # The text part: the same order and sections.
    order_text = [
        "TOP PICK FOR YOU",
        "Paper A",
        "ROBOTS",
        "Paper B",
        "Paper E",
        "LIKE THE PAPERS YOU LIKED",
        "Paper C",
        "Paper G",
        "GRAPHS",
        "Paper D",
        "Paper F",
        "ALSO NEW",
        "- Paper H (robots)",
        "- Paper I (Trending today)",
    ]
    where = [text.index(marker) for marker in order_text]
    assert where == sorted(where)
    assert "PDF: https://arxiv.org/pdf/2401.00002" in text
    assert max(len(line) for line in text.splitlines() if "http" not in line) <= 80


@pytest.mark.parametrize(
    ("authors", "shown"),
    [
        (("Ashish Vaswani",), "A. Vaswani"),
        (("Ashish Vaswani", "Noam Shazeer", "Niki Parmar"), "A. Vaswani, N. Shazeer, N. Parmar"),
        (tuple(f"First{n} Last{n}" for n in range(8)), "F. Last0, F. Last1, … +6"),
        (("Jean-Pierre Serre", "Plato", "张三"), "J.-P. Serre, Plato, 张三"),
    ],
)
def test_cards_name_the_first_authors(authors: tuple[str, ...], shown: str) -> None:
    assert authors_line(Paper(key="k", title="T", authors=authors)) == shown


def test_counted_authors_when_a_listing_has_no_names() -> None:
    assert authors_line(Paper(key="k", title="T", author_count=7)) == "7 authors"


def test_dates_tell_the_truth() -> None:
    today = dt.date(2026, 11, 22)

    def note(published: dt.date | None, first_seen: dt.datetime | None = None) -> str:
        return date_note(Paper(key="k", title="T", published=published), first_seen, today)

    assert note(dt.date(2018, 3, 1)) == "published 2018, trending now"
    assert note(dt.date(2026, 6, 1)) == "published Jun 2026, trending now"
    assert note(dt.date(2026, 11, 20)) == "published Nov 20"
    assert note(dt.date(2026, 11, 21)) == "published yesterday"
    assert note(None, dt.datetime(2026, 11, 22, 6, tzinfo=dt.UTC)) == "first listed today"
    assert note(None, dt.datetime(2026, 11, 19, 6, tzinfo=dt.UTC)) == "first listed Nov 19"


def test_an_old_paper_is_not_announced_as_new(renderer: Renderer) -> None:
    edition = _edition("Fresh", "Classic")
    old = replace(edition.picks[1].paper, published=dt.date(2018, 5, 1))
    edition = replace(edition, picks=(edition.picks[0], replace(edition.picks[1], paper=old)))
    email = renderer.render(edition, LINKS)
    assert email.subject.startswith("2 papers, 1 new · Sun 22 Nov")
    assert "2 papers for you, 1 new" in email.html and "new papers" not in email.html
    assert "published 2018, trending now" in email.text
    assert "One is an older paper trending again." in email.text


def test_upvotes_and_their_movement_show_once(renderer: Renderer) -> None:
    edition = _edition("Moving")
    pick = replace(edition.picks[0], upvote_delta=12, reasons=("matches: graphs",))
    email = renderer.render(replace(edition, picks=(pick,)), LINKS)
    assert email.text.count("▲ 7 (+12 since the last listing)") == 1
    assert "upvote" not in email.text.replace("since the last listing", "")


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
