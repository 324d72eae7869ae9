"""A new reader joins in real headless Chromium, against the web app on a real HTTP server and
a real SMTP server (aiosmtpd): the front page (its proof of work solved by the page's script),
the confirmation mail, the Confirm button, the welcome page with a BibTeX library and ten
ratings, and the welcome email with their first picks. Screenshots in test-artifacts/; the
time from the sign-up POST to each mail goes to test-artifacts/join-timing.json."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.demo import free_port
from digest.diff import ingest_paths
from digest.settings import load_settings
from digest.store import Store
from digest.web import WebServer, create_app

from .conftest import ARTIFACTS, EXAMPLES, SmtpServer, fixed_clock, write_settings

pytestmark = pytest.mark.browser

READER = "new.reader@example.org"
LIBRARY = r"""
@article{kaplan2020,
  title = {Scaling Laws for Neural Language Models},
  author = {Kaplan, Jared and McCandlish, Sam},
  year = {2020}, eprint = {2001.08361}, archivePrefix = {arXiv},
  abstract = {We study empirical scaling laws for language model performance on the
              cross-entropy loss.}
}
@inproceedings{vaswani2017,
  title = {Attention Is All You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  booktitle = {NeurIPS}, year = {2017}, url = {https://arxiv.org/abs/1706.03762}
}
@article{frantar2023,
  title = {{GPTQ}: Accurate Post-Training Quantization for Generative Pre-trained Transformers},
  author = {Frantar, Elias and Ashkboos, Saleh},
  year = {2023}, doi = {10.48550/arXiv.2210.17323},
  abstract = {We propose GPTQ, a one-shot weight quantization method for large language models.}
}
"""
WAIT_SECONDS = 60.0  # an upper bound for a slow machine; every wait returns when ready


def _mail_to(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    """The messages to READER once there are `count` of them (waits for the relay)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with smtp.handler.lock:
            found = [m for m in smtp.handler.messages if READER in m.rcpt_tos]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(found) >= count, f"{len(found)} of {count} messages reached the relay"
    return [email.message_from_bytes(m.data, policy=email.policy.default) for m in found]


def _text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)  # type: ignore[attr-defined]


def test_a_reader_joins_from_the_front_page_to_the_welcome_email(
    browser: object, smtp_server: SmtpServer, tmp_path: Path, secret_env: str
) -> None:
    port = free_port()
    path = write_settings(tmp_path, port=smtp_server.port, subscribers="")
    local = f'base_url = "http://127.0.0.1:{port}"\nallow_local = true'
    path.write_text(
        path.read_text().replace('base_url = "https://digest.test"', local), encoding="utf-8"
    )
    settings = load_settings(path)
    assert settings.signup.proof_of_work  # the default: the page's script must solve it
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
    # The app mails through [smtp]: the aiosmtpd server above, over a real SMTP exchange.
    server = WebServer(settings, "127.0.0.1", port, app=create_app(settings, fixed_clock()))
    server.start()
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    try:
        timing = _walk(page, server.url, smtp_server, tmp_path)
    finally:
        page.close()
        server.stop()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "join-timing.json").write_text(json.dumps(timing, indent=2), encoding="utf-8")
    with Store.open(settings.database) as store:
        [row] = store.readers.subscriber_rows(READER)
        library = store.library.entries([READER])[READER]
        votes = store.readers.feedback([READER])[READER]
        events = [e["event"] for e in store.signups.events(READER)]
    assert row.email == READER and len(library) == 3
    assert len(votes["more"]) + len(votes["less"]) == 10
    assert events[:3] == ["requested", "confirmation sent", "confirmed"]


def _walk(page: object, url: str, smtp: SmtpServer, tmp_path: Path) -> dict[str, float]:
    go: Callable[[str], object] = page.goto  # type: ignore[attr-defined]
    go(url + "/")
    page.fill("#email", READER)  # type: ignore[attr-defined]
    # The page's script fetched a challenge and solved it (it marks the form when done).
    page.wait_for_selector("form[data-solved='true']", state="attached")  # type: ignore[attr-defined]
    _shot(page, "join-1-front.png")
    started = time.monotonic()
    page.get_by_role("button", name="Subscribe").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Check your inbox")  # type: ignore[attr-defined]
    [confirmation] = _mail_to(smtp, 1)
    confirmed_mail = time.monotonic() - started
    assert confirmation["Subject"].startswith("Confirm your subscription")
    found = re.search(r"http://127\.0\.0\.1:\d+/confirm/\S+", _text(confirmation))
    assert found is not None
    go(found.group(0))
    _shot(page, "join-2-confirm.png")
    page.get_by_role("button", name="Confirm").click()  # type: ignore[attr-defined]
    # No interests yet: straight to the welcome page, which says the subscription is on.
    page.wait_for_selector("text=Set up your digest")  # type: ignore[attr-defined]
    page.wait_for_selector("text=You are subscribed")  # type: ignore[attr-defined]
    _shot(page, "join-3-subscribed.png")
    assert len(_mail_to(smtp, 1)) == 1  # no interests yet: the first picks wait for the profile
    radios = page.locator("input[type=radio][value=more]")  # type: ignore[attr-defined]
    assert radios.count() == 10
    for n in range(10):
        verdict = "more" if n % 2 == 0 else "less"
        page.locator(f"input[type=radio][value={verdict}]").nth(n).check()  # type: ignore[attr-defined]
    library = tmp_path / "My Library.bib"
    library.write_text(LIBRARY, encoding="utf-8")
    page.set_input_files("#library", str(library))  # type: ignore[attr-defined]
    page.get_by_role("button", name="Save and start").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=Your first digest")  # type: ignore[attr-defined]
    _shot(page, "join-4-welcome-saved.png")
    assert "read 3 entries" in page.inner_text("[role=status]")  # type: ignore[attr-defined]
    # The page shows the ratings as saved.
    assert page.locator("input[value=more]:checked").count() == 5  # type: ignore[attr-defined]
    _, welcome = _mail_to(smtp, 2)
    welcome_mail = time.monotonic() - started
    assert "List-Unsubscribe" in welcome and welcome["From"] is not None
    text = _text(welcome)
    html = welcome.get_body(("html",))
    assert html is not None
    page.set_content(str(html.get_content()))  # type: ignore[attr-defined]
    _shot(page, "join-5-welcome-email.png")
    (ARTIFACTS / "join-welcome-email.txt").write_text(text, encoding="utf-8")
    # Neither the library nor the rated papers come back in it.
    for title in ("Scaling Laws for Neural Language Models", "Attention Is All You Need"):
        assert title not in text
    return {
        "signup_post_to_confirmation_mail_s": round(confirmed_mail, 3),
        "signup_post_to_welcome_mail_s": round(welcome_mail, 3),
    }
