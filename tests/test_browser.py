"""The rendered email in real headless Chromium (Debian's package, never a downloaded browser)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from digest.identity import paper_key
from digest.models import Edition, Paper, Pick, Subscriber
from digest.render import Links, Renderer

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

TITLES = [
    'Attention <script>alert(1)</script> & "Friends": $\\alpha$-Entmax for Sparse Heads',
    "نماذج اللغة الكبيرة: دراسة عربية للنصوص الطويلة",  # RTL
    "Emoji 🚀🔥 Everywhere: A Study of Pictographs in Paper Titles",
    "Supercalifragilisticexpialidocious" * 4,  # one very long unbroken word
    "A Paper With No Abstract And No Authors",
]


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    picks = []
    for i, title in enumerate(TITLES, 1):
        bare = "No Abstract" in title
        paper = Paper(
            key=paper_key(title),
            title=title,
            abstract="" if bare else "We study things. " * 20 + "Longwordwithoutbreaks" * 8,
            authors=() if bare else tuple(f"Author {n}" for n in range(12)),
            upvotes=None if bare else 40 + i,
            arxiv_id=None if bare else f"2501.{i:05d}",
        )
        picks.append(Pick(paper=paper, score=1.0, reasons=("matches: attention",), paper_id=i))
    edition = Edition(
        "2026-11-22",
        dt.date(2026, 11, 22),
        Subscriber(email="ada@example.org", interests=("attention",)),
        tuple(picks),
    )
    html = (
        Renderer()
        .render(edition, Links("https://d.test/b", "https://d.test/p", "https://d.test/u"))
        .html
    )
    path = tmp_path_factory.mktemp("email") / "email.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [600, 375])
def test_email_fits_and_shows_every_title(browser: object, email_file: Path, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    page.goto(email_file.as_uri())
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    titles = page.locator("p.title a")
    assert titles.count() == len(TITLES)
    for index in range(len(TITLES)):
        link = titles.nth(index)
        assert link.is_visible()
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    assert "<script>alert(1)</script>" in titles.nth(0).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"email-{width}.png"), full_page=True)
    page.close()


def test_dark_mode_changes_the_card_colour(browser: object, email_file: Path) -> None:
    page = browser.new_page(color_scheme="dark")  # type: ignore[attr-defined]
    page.goto(email_file.as_uri())
    background = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    assert background == "rgb(27, 32, 40)"
    page.screenshot(path=str(ARTIFACTS / "email-dark.png"), full_page=True)
    page.close()
