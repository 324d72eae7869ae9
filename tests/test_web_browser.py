"""The web app in real headless Chromium: preview → the email's unsubscribe link →
confirmation → unsubscribed, and the preferences form; screenshots kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.demo import free_port
from digest.diff import ingest_paths
from digest.settings import load_settings
from digest.signup import confirm_token
from digest.store import SignupRow, Store
from digest.tokens import make_token
from digest.web import WebServer, create_app

from .conftest import ARTIFACTS, EXAMPLES, fixed_clock, write_settings
from .test_web import ADMIN

OPERATOR = {"username": "operator", "password": ADMIN}  # HTTP Basic, as a browser asks for it

pytestmark = pytest.mark.browser


@pytest.fixture
def site(
    database: Path | str, tmp_path: Path, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path | str]]:
    monkeypatch.setenv("DIGEST_ADMIN_TOKEN", ADMIN)
    port = free_port()
    path = write_settings(tmp_path, database=database)
    path.write_text(
        path.read_text().replace("https://digest.test", f"http://127.0.0.1:{port}"),
        encoding="utf-8",
    )
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    server = WebServer(settings, "127.0.0.1", port, app=create_app(settings, fixed_clock()))
    server.start()
    try:
        yield server.url, settings.database
    finally:
        server.stop()


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)  # type: ignore[attr-defined]


def test_preview_then_unsubscribe_by_clicking_through(
    browser: object, site: tuple[str, Path | str], secret_env: str
) -> None:
    url, database = site
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 900}, http_credentials=OPERATOR
    )
    page.goto(f"{url}/preview")
    page.get_by_role("link", name="grace@example.org").click()
    page.wait_for_url("**/preview/grace*example.org")
    desktop = page.frame_locator("iframe[title='Desktop preview']")
    first_title = desktop.locator("h3 a").first
    first_title.wait_for()
    assert first_title.is_visible()
    text_part = page.locator("pre").inner_text()
    assert text_part.startswith("6 new papers for you")  # the plain-text part, as text
    assert 'Attention <Is> Not All You Need & Other "Myths"' in text_part
    _shot(page, "web-preview.png")
    # The preview's Unsubscribe link works for nobody.
    inert = desktop.get_by_role("link", name="Unsubscribe").get_attribute("href")
    assert inert is not None and inert.startswith(f"{url}/unsubscribe/")
    page.goto(inert)
    assert "comes from a preview" in page.inner_text("body")
    # The link a sent email carries, opened as a mail client would open it.
    href = f"{url}/unsubscribe/{make_token(secret_env, 'grace@example.org', 'unsubscribe')}"
    page.goto(href)
    assert page.get_by_role("heading").inner_text() == "Unsubscribe?"
    assert "grace@example.org" in page.inner_text("body")
    _shot(page, "web-unsubscribe-confirm.png")
    with Store.open(database) as store:
        assert store.readers.suppressed("grace@example.org") is None  # opening the link did nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_selector("text=You are unsubscribed")
    assert page.url == href  # no redirect
    _shot(page, "web-unsubscribed.png")
    with Store.open(database) as store:
        assert store.readers.suppressed("grace@example.org") is not None
    page.goto(f"{url}/preview")
    row = page.locator("tr", has_text="grace@example.org")
    assert "unsubscribed" in row.inner_text()
    # Clicked by mistake: the confirmation page offers the way back.
    page.goto(href)
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("button", name="Resubscribe").click()
    page.wait_for_selector("text=Welcome back")
    with Store.open(database) as store:
        assert store.readers.suppressed("grace@example.org") is None
    page.close()


def test_preferences_form_on_a_phone(
    browser: object, site: tuple[str, Path | str], secret_env: str
) -> None:
    url, database = site
    page = browser.new_page(viewport={"width": 375, "height": 800})  # type: ignore[attr-defined]
    page.goto(f"{url}/preferences/{make_token(secret_env, 'ada@example.org', 'preferences')}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.fill("#interests", "sparse attention^2\nweather forecasting")
    page.fill("#max_items", "3")
    page.fill("#send_at", "06:15")
    page.check("input[name=weekdays_only]")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved")
    _shot(page, "web-preferences.png")
    with Store.open(database) as store:
        [row] = store.readers.subscriber_rows("ada@example.org")
    assert row.profile["max_items"] == 3 and row.send_at == "06:15" and row.weekdays_only
    assert row.profile["interests"][0] == {"phrase": "sparse attention", "weight": 2.0}
    page.close()


def _luminance(css: str) -> float:
    red, green, blue = (int(v) / 255 for v in css[css.index("(") + 1 : -1].split(",")[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def _contrast(one: str, two: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 375])
def test_every_page_fits_and_reads(
    browser: object,
    site: tuple[str, Path | str],
    secret_env: str,
    tmp_path: Path,
    width: int,
    scheme: str,
) -> None:
    from digest.deliver import FileTransport
    from digest.editions import send_edition
    from digest.feedback import Vote, vote_token

    url, database = site
    settings = load_settings(tmp_path / "settings.toml")
    waiting = SignupRow(
        "0123456789abcdef0123456789abcdef",
        "new@example.org",
        {"interests": [{"phrase": "graph neural networks"}], "timezone": "Europe/Berlin"},
        fixed_clock()(),
    )
    with Store.open(database) as store:
        send_edition(store, settings, FileTransport(tmp_path / "outbox"), fixed_clock())
        [row] = [r for r in store.ledger.deliveries("2026-11-22") if r.email == "ada@example.org"]
        store.signups.add(waiting, waiting.email)
    paper_id = row.picks[0].paper_id

    def token(purpose: str) -> str:
        return make_token(secret_env, "ada@example.org", purpose)

    vote = vote_token(secret_env, Vote("ada@example.org", paper_id, "more"))
    pages = {
        "home": "/",
        "preview-list": "/preview",
        "preview": "/preview/ada@example.org",
        "archive-list": f"/archive/{token('view')}",
        "archive": f"/archive/2026-11-22/{token('view')}",
        "preferences": f"/preferences/{token('preferences')}",
        "welcome": f"/welcome/{token('preferences')}",
        "unsubscribe": f"/unsubscribe/{token('unsubscribe')}",
        "feedback": f"/feedback/{vote}",
        "confirm": f"/confirm/{confirm_token(secret_env, waiting.id, waiting.requested_at)}",
    }
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": width, "height": 900}, color_scheme=scheme, http_credentials=OPERATOR
    )
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in pages.items():
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px of horizontal overflow at {width}px"
        _shot(page, f"web-{name}-{width}-{scheme}.png")
    # The preview's frames fit their emails instead of a fixed 900 px.
    page.goto(url + pages["preview"])
    page.wait_for_load_state("networkidle")
    heights = page.evaluate(
        "[...document.querySelectorAll('iframe')].map(f =>"
        " [f.getBoundingClientRect().height, f.contentDocument.documentElement.scrollHeight])"
    )
    assert len(heights) == 3  # next edition (desktop, mobile) and the last one sent
    assert all(abs(frame - content) <= 2 for frame, content in heights), heights
    # The Save button is readable (WCAG AA: 4.5:1) in both schemes.
    page.goto(url + pages["preferences"])
    colours = page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('button'));"
        " return [s.color, s.backgroundColor]; })()"
    )
    assert _contrast(*colours) >= 4.5, colours
    page.close()


def test_a_reader_whose_mail_stopped_is_told_why(
    browser: object, site: tuple[str, Path | str], secret_env: str
) -> None:
    from digest.store import BounceEvent

    url, database = site
    with Store.open(database) as store:
        store.bounces.record(
            BounceEvent("test:1", "grace@example.org", fixed_clock()(), "hard", "5.1.1",
                        "550 5.1.1 user unknown", "test", None, "suppressed")
        )  # fmt: skip
        store.readers.unsubscribe("grace@example.org", fixed_clock()(), reason="bounced: 5.1.1")
    token = make_token(secret_env, "grace@example.org", "preferences")
    for scheme in ("light", "dark"):
        page = browser.new_page(  # type: ignore[attr-defined]
            viewport={"width": 375, "height": 800}, color_scheme=scheme
        )
        page.goto(f"{url}/preferences/{token}")
        note = page.get_by_role("status").first.inner_text()
        assert note.startswith("We stopped mailing you on 22 November 2026: your mail server")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        _shot(page, f"web-preferences-stopped-375-{scheme}.png")
        page.close()
