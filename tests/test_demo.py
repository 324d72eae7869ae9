from __future__ import annotations

import email
import email.policy
import io
import re
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from digest.demo import run_demo
from digest.settings import load_settings
from digest.web import WebServer


def test_demo_runs_the_whole_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "")  # the demo makes its own key (restored after)
    out = tmp_path / "demo-output"
    console = Console(file=io.StringIO(), width=120)
    received = run_demo(out, console=console)
    log = console.file.getvalue()  # type: ignore[attr-defined]
    assert received == 5  # 3 settings subscribers + 2 imported from examples/subscribers.csv
    assert "re-ingesting the same dumps finds 0 new papers" in log
    assert "running send again sent 0 (already sent: 5)" in log
    assert "2 imported from" in log
    # Its List-Unsubscribe URL was POSTed to the real web app; tomorrow skips that reader.
    assert "would skip katherine@example.org" in log
    messages = sorted((out / "mailbox").glob("*.eml"))
    assert len(messages) == 5
    for path in messages:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:")
        assert "/unsubscribe/" in message["List-Unsubscribe"]
    previews = sorted(p.name for p in (out / "preview").glob("*.html"))
    assert previews == [
        "ada@example.org.html",
        "alan@example.org.html",
        "edsger@example.org.html",
        "grace@example.org.html",
        "index.html",
        "katherine@example.org.html",
    ]
    assert (out / "digest.sqlite").exists()
    # After the demo, `digest serve` with the demo's settings and key opens every link.
    key = (out / "demo.env").read_text().strip().split("=", 1)[1]
    assert "--settings" in log and "demo.env" in log and " serve --port " in log
    monkeypatch.setenv("DIGEST_SECRET_KEY", key)
    settings = load_settings(out / "settings.toml")
    server = WebServer(settings, "127.0.0.1", settings.web.port).start()
    try:
        links = set()
        for path in messages:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            text = message.get_body(("plain",))
            assert text is not None
            links |= set(re.findall(rf"{re.escape(server.url)}/\S+", text.get_content()))
        kinds = {link.split("/")[3] for link in links}
        assert kinds == {"archive", "feed", "preferences", "unsubscribe", "feedback"}
        for link in sorted(links):
            assert httpx.get(link).status_code == 200, link
    finally:
        server.stop()


def test_the_demo_does_not_wrap_paths_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 32, item 9: out of a terminal (a pipe, a CI log) a long path stays on one line."""
    from digest.demo import demo_console

    monkeypatch.delenv("COLUMNS", raising=False)
    piped = io.StringIO()  # not a terminal
    path = "/home/someone/projects/" + "a-rather-long-folder-name/" * 6 + "demo-output/preview"
    demo_console(piped).print(f"[bold]3. Previews[/] written to {path}")
    assert piped.getvalue() == f"3. Previews written to {path}\n"
