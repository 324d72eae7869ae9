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
    assert received == 3
    assert "re-ingesting the same dumps finds 0 new papers" in log
    assert "running send again sent 0 (already sent: 3)" in log
    messages = sorted((out / "mailbox").glob("*.eml"))
    assert len(messages) == 3
    for path in messages:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
    previews = sorted(p.name for p in (out / "preview").glob("*.html"))
    assert previews == [
        "ada@example.org.html",
        "alan@example.org.html",
        "grace@example.org.html",
        "index.html",
    ]
    assert (out / "digest.sqlite").exists()
