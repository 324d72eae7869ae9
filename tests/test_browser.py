"""The rendered email in real headless Chromium (Debian's package, never a downloaded browser):
600 and 375 px wide, light and dark, with images loading from a real HTTP server and with
images blocked. Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.identity import paper_key
from digest.models import Basis, Edition, Paper, Pick, Subscriber, interests
from digest.render import FULL_CARDS, Links, Renderer

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

TITLES = [
    'Attention <script>alert(1)</script> & "Friends": $\\alpha$-Entmax for Sparse Heads',
    "نماذج اللغة الكبيرة: دراسة عربية للنصوص الطويلة",  # RTL
    "Emoji 🚀🔥 Everywhere: A Study of Pictographs in Paper Titles",
    "Supercalifragilisticexpialidocious" * 4,  # one very long unbroken word
    "A Paper With No Abstract And No Authors",
    "Graph Transformers for Molecules",
    "Robots That Fold Laundry",
    "Diffusion Policies, Revisited",
    "A Benchmark Nobody Asked For",
]
GROUPS = [
    (Basis.INTEREST, "attention"),
    (Basis.INTEREST, "language models"),
    (Basis.INTEREST, "attention"),
    (Basis.LIKED, ""),
    (Basis.INTEREST, "language models"),
    (Basis.AUTHOR, ""),
    (Basis.INTEREST, "attention"),
    (Basis.INTEREST, "robots"),
    (Basis.POPULAR, ""),
]


def _png(width: int, height: int) -> bytes:
    """A plain blue PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes((90, 110, 200)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the thumbnails."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "thumb.png").write_bytes(_png(1200, 630))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory, images: str) -> Path:
    picks = []
    for i, (title, (basis, interest)) in enumerate(zip(TITLES, GROUPS, strict=True), 1):
        bare = "No Abstract" in title
        paper = Paper(
            key=paper_key(title),
            title=title,
            abstract="" if bare else "We study things. " * 20 + "Longwordwithoutbreaks" * 8,
            authors=() if bare else tuple(f"Author{n} Surname{n}" for n in range(12)),
            upvotes=None if bare else 40 + i,
            arxiv_id=None if bare else f"2501.{i:05d}",
            published=dt.date(2019, 5, 1) if i == 3 else dt.date(2026, 11, 21),
            thumbnail_url=None if bare or i % 4 == 0 else f"{images}/thumb.png",
            comments=i,
        )
        picks.append(
            Pick(
                paper=paper,
                score=1.0,
                reasons=(f"matches: {interest}" if interest else "similar to papers you liked",),
                paper_id=i,
                evidence="" if bare else "We study attention heads in depth.",
                highlights=() if bare else ((9, 18),),
                basis=basis,
                interest=interest,
                upvote_delta=3 if i == 1 else 0,
            )
        )
    edition = Edition(
        "2026-11-22",
        dt.date(2026, 11, 22),
        Subscriber(
            email="ada@example.org", interests=interests("attention", "language models", "robots")
        ),
        tuple(picks),
    )
    votes = tuple((f"https://d.test/f/m{n}", f"https://d.test/f/l{n}") for n in range(len(picks)))
    links = Links(
        "https://d.test/b",
        "https://d.test/p",
        "https://d.test/u",
        "https://d.test/a",
        "https://d.test/f",
        votes,
    )
    path = tmp_path_factory.mktemp("email") / "email.html"
    path.write_text(Renderer().render(edition, links).html, encoding="utf-8")
    return path


@pytest.mark.parametrize("images_on", [True, False], ids=["images", "no-images"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_email_reads_well_everywhere(
    browser: object, email_file: Path, width: int, scheme: str, images_on: bool
) -> None:
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    if not images_on:  # as a mail client that blocks remote images shows it
        page.route("**/*.png", lambda route: route.abort())
    page.goto(email_file.as_uri())
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    # Every full card's title is a heading a screen reader can jump to, inside the page.
    titles = page.locator("h3 a")
    assert titles.count() == FULL_CARDS
    for index in range(FULL_CARDS):
        box = titles.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    assert "<script>alert(1)</script>" in titles.nth(0).inner_text()
    assert page.locator("h2").all_inner_texts()[:3] == [
        "TOP PICK FOR YOU",
        "LANGUAGE MODELS",
        "ATTENTION",
    ]
    # Thumbnails: fixed size, alt text; loaded from the server or, when blocked, not there.
    loaded = page.evaluate(
        "[...document.images].map(i => [i.alt.length > 0, i.getAttribute('width') !== null,"
        " i.getAttribute('height') !== null, i.naturalWidth > 0])"
    )
    assert loaded and all(alt and w and h for alt, w, h, _ in loaded)
    assert all(natural == images_on for *_, natural in loaded)
    # Issue 32, item 8: a blocked or failed image keeps its box, so its alt text is legible
    # (the top pick's was a 15 px strip), and its placeholder is dark in dark mode.
    boxes = page.evaluate(
        "[...document.images].map(i => { const r = i.getBoundingClientRect(),"
        " s = getComputedStyle(i); return [r.width, r.height, s.backgroundColor, s.color]; })"
    )
    lead_width, lead_height, *_ = boxes[0]
    assert lead_height >= 120 and lead_width <= width, boxes[0]
    assert all(h >= 105 for _, h, _, _ in boxes), boxes
    if scheme == "dark":
        assert {(bg, fg) for *_, bg, fg in boxes} == {("rgb(47, 55, 66)", "rgb(228, 231, 235)")}
    if scheme == "dark":
        card = "getComputedStyle(document.querySelector('.card td, .card')).backgroundColor"
        assert page.evaluate(card) == "rgb(27, 32, 40)"
    ARTIFACTS.mkdir(exist_ok=True)
    name = f"email-{width}-{scheme}-{'images' if images_on else 'no-images'}.png"
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_a_quiet_day_email_says_so_first(
    browser: object, tmp_path: Path, width: int, scheme: str
) -> None:
    """A day with nothing for the reader: the note first, then the day's most upvoted papers
    under a heading that says they were not matched to the reader, and no top pick."""
    from digest.models import QUIET_SENTENCE

    papers = [
        Paper(
            key=f"title:quiet {n}",
            title=title,
            abstract="A paper many people upvoted today, on a topic of its own.",
            authors=("A. Author",),
            upvotes=upvotes,
            arxiv_id=f"2611.0{n}000",
        )
        for n, (title, upvotes) in enumerate(
            (("Scaling Video Models", 240), ("Tokenizers Revisited", 120), ("Agents Play", 90))
        )
    ]
    picks = tuple(
        Pick(
            paper,
            0.0,
            ("not matched to your interests: among the day's most upvoted new papers",),
            paper_id=n,
            basis=Basis.UNMATCHED,
        )
        for n, paper in enumerate(papers)
    )
    edition = Edition(
        "2026-11-22",
        dt.date(2026, 11, 22),
        Subscriber(email="ada@example.org", interests=interests("protein folding")),
        picks,
    )
    votes = tuple((f"https://d.test/f/m{n}", f"https://d.test/f/l{n}") for n in range(3))
    links = Links(
        "https://d.test/b", "https://d.test/p", "https://d.test/u", "https://d.test/a",
        "https://d.test/f", votes,
    )  # fmt: skip
    path = tmp_path / "quiet.html"
    path.write_text(Renderer().render(edition, links).html, encoding="utf-8")
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page.goto(path.as_uri())
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == QUIET_SENTENCE
    assert page.locator("h2").all_inner_texts() == [
        "MOST UPVOTED TODAY, NOT MATCHED TO YOUR INTERESTS"
    ]
    assert page.locator("h3 a").all_inner_texts() == [p.title for p in papers]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"email-quiet-{width}-{scheme}.png"), full_page=True)
    page.close()
