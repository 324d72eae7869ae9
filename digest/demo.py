"""The demo: sample dumps → store → ranked digests → a real SMTP exchange with an embedded
aiosmtpd server on 127.0.0.1 → what it received, on disk, plus browser previews."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import os
import re
import secrets
import shutil
import socket
import sys
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rich.console import Console
from rich.table import Table

from digest.clock import utc_now
from digest.deliver import DryRunTransport, SmtpTransport
from digest.diff import ingest_paths
from digest.editions import send_edition
from digest.errors import DigestError
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.subscribers import read_csv
from digest.terminal import width_for

REPO_EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts, in order."""

    folder: Path
    received: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        with self.lock:
            for recipient in envelope.rcpt_tos:
                number = len(self.received) + 1
                self.received.append((recipient, data))
                (self.folder / f"{number:03d}-{recipient}.eml").write_bytes(data)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _parts(data: bytes) -> tuple[EmailMessage, str, str]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    return (
        message,
        html_part.get_content() if html_part else "",
        text_part.get_content() if text_part else "",
    )


def _write_index(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    items = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(who)}</a> — {html.escape(subject)}</li>'
        for who, subject, name in rows
    )
    index = folder / "index.html"
    index.write_text(
        "<!doctype html><html lang=en><meta charset=utf-8><title>digest demo previews</title>"
        "<body style='font-family:system-ui;max-width:40rem;margin:2rem auto'>"
        f"<h1>Delivered digests</h1><ul>{items}</ul></body></html>",
        encoding="utf-8",
    )
    return index


def _one_click_unsubscribe(settings: Settings, port: int, data: bytes) -> tuple[str, str]:
    """POST `List-Unsubscribe=One-Click` to the message's List-Unsubscribe URL, served by the
    real web app on 127.0.0.1, exactly as a mailbox provider's button does."""
    import httpx

    from digest.web import WebServer

    message, _, _ = _parts(data)
    header = str(message["List-Unsubscribe"])
    url = header.split("<", 1)[1].split(">", 1)[0]
    server = WebServer(settings, "127.0.0.1", port).start()
    try:
        response = httpx.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    finally:
        server.stop()
    if response.status_code != 200:
        raise DigestError(f"the demo's unsubscribe request got HTTP {response.status_code}")
    return str(message["To"].addresses[0].addr_spec), url


def demo_console(stream: Any = None) -> Console:
    """The demo's output: a terminal's own width; a pipe or a CI log gets whole lines (a path
    is never cut at 80 columns)."""
    stream = sys.stdout if stream is None else stream
    return Console(file=stream, highlight=False, width=width_for(stream))


def run_demo(out: Path, examples: Path | None = None, console: Console | None = None) -> int:
    """Run the whole pipeline once; return how many messages the local server received."""
    console = console or demo_console()
    examples = examples or REPO_EXAMPLES
    if out.exists():
        shutil.rmtree(out)
    mailbox_dir, preview_dir = out / "mailbox", out / "preview"
    mailbox_dir.mkdir(parents=True)
    preview_dir.mkdir()
    port = free_port()
    # The demo signs its links with a fresh key unless the environment provides one; the key
    # is kept in demo.env so that `digest serve` afterwards opens the links of its emails.
    if not os.environ.get("DIGEST_SECRET_KEY"):
        os.environ["DIGEST_SECRET_KEY"] = secrets.token_urlsafe(32)
        key_file = out / "demo.env"
        key_file.write_text(f"DIGEST_SECRET_KEY={os.environ['DIGEST_SECRET_KEY']}\n")
        key_file.chmod(0o600)
    settings = load_settings(
        examples / "settings.toml",
        database=str((out / "digest.sqlite").resolve()),
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
    )

    # The links in the demo's emails point at the web app the demo starts in step 3, on the
    # settings' web port when it is free (so that `digest serve` later answers them too).
    web_port = settings.web.port if _is_free(settings.web.port) else free_port()
    _write_settings(out, examples / "settings.toml", web_port)
    settings = settings.model_copy(
        update={
            "sender": settings.sender.model_copy(
                update={"base_url": f"http://127.0.0.1:{web_port}"}
            )
        }
    )

    clock = utc_now
    console.print(f"[bold]1. Ingest[/] sample dumps from {examples / 'dumps'}")
    with Store.open(settings.database) as store:
        imported = read_csv(examples / "subscribers.csv")
        store.readers.upsert_subscribers(imported, clock())
        console.print(
            f"   subscribers: {len(settings.subscribers)} in the settings,"
            f" {len(imported)} imported from {examples / 'subscribers.csv'}"
        )
        table = Table("dump", "layout", "papers", "new", "seen again", box=None)
        for result in ingest_paths(store, [examples / "dumps"], clock):
            table.add_row(
                Path(result.source).name,
                result.format,
                str(len(result.new) + result.seen_again),
                str(len(result.new)),
                str(result.seen_again),
            )
        console.print(table)
        again = ingest_paths(store, [examples / "dumps"], clock)
        console.print(
            f"   re-ingesting the same dumps finds {sum(len(r.new) for r in again)} new papers"
        )

        mailbox = Mailbox(mailbox_dir)
        controller = Controller(mailbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            console.print(f"[bold]2. Rank, render and send[/] via SMTP to 127.0.0.1:{port}")
            report = send_edition(
                store,
                settings,
                SmtpTransport(settings.smtp),
                clock,
                on_message=lambda who, what: console.print(f"   {what:>8}  {who}"),
            )
            rerun = send_edition(store, settings, SmtpTransport(settings.smtp), clock)
        finally:
            controller.stop()
    if not report.sent:
        raise DigestError("the demo sent nothing; check examples/settings.toml subscribers")
    console.print(
        f"   edition {report.edition_id}: sent {len(report.sent)};"
        f" running send again sent {len(rerun.sent)} (already sent: {len(rerun.already_sent)})"
    )

    console.print(
        "[bold]3. One-click unsubscribe[/] over HTTP (RFC 8058), as a mail client does it"
    )
    leaving, url = _one_click_unsubscribe(settings, web_port, mailbox.received[-1][1])
    console.print(
        f"   POST {url.split('/unsubscribe/')[0]}/unsubscribe/… → {leaving} is unsubscribed"
    )
    with Store.open(settings.database) as store:
        tomorrow = send_edition(
            store,
            settings,
            DryRunTransport(),
            lambda: clock() + dt.timedelta(days=1),
            dry_run=True,
        )
    console.print(
        f"   tomorrow's edition (dry run) would skip {', '.join(tomorrow.suppressed) or 'nobody'}"
    )

    console.print("[bold]4. What the SMTP server received[/]")
    rows = []
    for recipient, data in mailbox.received:
        message, html_body, text_body = _parts(data)
        name = f"{recipient}.html"
        (preview_dir / name).write_text(html_body, encoding="utf-8")
        (preview_dir / f"{recipient}.txt").write_text(text_body, encoding="utf-8")
        rows.append((recipient, str(message["Subject"]), name))
        console.print(f"   {recipient}: {message['Subject']} ({len(data):,} bytes)")
    index = _write_index(preview_dir, rows)
    console.print(
        f"[bold]Done.[/] {len(mailbox.received)} messages in {mailbox_dir}/, previews at {index}"
    )
    key = f"env $(cat {out / 'demo.env'}) " if (out / "demo.env").exists() else ""
    console.print(
        "   Every link in those emails (archive, feed, preferences, More/Less like this) opens"
        f" with:\n   {key}.venv/bin/digest --settings {out / 'settings.toml'} serve"
        f" --port {web_port}"
    )
    return len(mailbox.received)


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _write_settings(out: Path, example: Path, web_port: int) -> None:
    """The demo's settings for `digest serve` afterwards: the example's, with the demo's
    database and the web port its emails link to (no secret: that stays in demo.env)."""
    text = example.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^database = .*$", 'database = "digest.sqlite"', text)
    text = re.sub(r"(?m)^base_url = .*$", f'base_url = "http://127.0.0.1:{web_port}"', text)
    text += f"\n[web]\nport = {web_port}\n"
    (out / "settings.toml").write_text(text, encoding="utf-8")
