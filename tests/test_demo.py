from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

from rich.console import Console

from digest.demo import run_demo


def test_demo_runs_the_whole_pipeline(tmp_path: Path, monkeypatch: object) -> None:
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
