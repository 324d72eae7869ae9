"""End to end with a real mail server: digest sends an edition over SMTP to Exim with VERP
return paths; Exim accepts every message, then bounces the one to an unknown user (a hard
bounce) and the one to a full mailbox (soft), writing its own delivery reports to the
envelope senders; digest reads them from the Maildir, and the next edition skips the dead
address and nobody else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from digest.deliver import SmtpTransport
from digest.diff import ingest_paths
from digest.editions import Editions, Runtime, send_edition
from digest.settings import load_settings
from digest.store import Store

from .conftest import EXAMPLES, FIXED_NOW, fixed_clock, write_settings

READERS = "".join(
    f'\n[[subscribers]]\nemail = "{name}@example.org"\ninterests = ["language models"]\n'
    for name in ("ada", "grace", "ghost")
)


def test_exim_bounces_after_accepting_and_the_dead_address_is_dropped(
    exim: Any, tmp_path: Path, secret_env: str
) -> None:
    path = write_settings(tmp_path, port=exim.port, subscribers=READERS)
    path.write_text(
        path.read_text().replace("[sender]\n", '[sender]\nreturn_path = "bounces@digest.test"\n'),
        encoding="utf-8",
    )
    settings = load_settings(path)
    with Store.open(settings.database) as store:
        ingest_paths(store, [EXAMPLES / "dumps"], fixed_clock())
        sent = send_edition(store, settings, SmtpTransport(settings.smtp), fixed_clock())
    assert sorted(sent.sent) == ["ada@example.org", "ghost@example.org", "grace@example.org"]
    reports = exim.wait_for_bounces(2)
    assert len(reports) == 2, "Exim wrote no delivery reports"
    assert all(b"Mail Delivery System <Mailer-Daemon@mx.example.test>" in p.read_bytes()
               for p in reports)  # fmt: skip
    editions = Editions(settings, runtime=Runtime(clock=lambda: FIXED_NOW))
    done = {d.reader: d for d in editions.process_bounces([exim.bounces])}
    assert set(done) == {"ghost@example.org", "grace@example.org"}
    ghost, grace = done["ghost@example.org"], done["grace@example.org"]
    assert (ghost.kind, ghost.action, ghost.edition) == ("hard", "suppressed", "2026-11-22")
    assert (grace.kind, grace.action) == ("soft", "counted")
    later = FIXED_NOW + dt.timedelta(days=1)
    with Store.open(settings.database) as store:
        assert (store.readers.suppressed("ghost@example.org") or "").startswith("bounced")
        [event] = store.bounces.events("ghost@example.org")
        assert "Unrouteable address" in event.diagnostic
        ingest_paths(store, [EXAMPLES / "dumps"], lambda: later)
        next_day = send_edition(store, settings, SmtpTransport(settings.smtp), lambda: later)
    assert "ghost@example.org" in next_day.suppressed
    assert "ghost@example.org" not in next_day.sent
