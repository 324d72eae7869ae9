"""The editions service: plan → rank → render → dispatch, and the editions read without
sending (preview, archive, feed). The CLI, the daemon and the web app call this and nothing
below it.

- `picks`: every reader ranked in one call; picks recorded in and read back from the ledger;
- `links`: a reader's signed links;
- `views`: the next edition (preview), one that went out (archive), all that went out;
- `sending`: one edition sent exactly once per reader, resumable, one sender at a time;
- `service`: `Editions`, what the shells call: readers chosen, transports built, time zones
  grouped, deferred retries run first.
"""

from digest.editions.links import PREVIEW_PURPOSE, links_for, reader_links
from digest.editions.picks import choose_picks, unresolved_liked, weights_from
from digest.editions.sending import (
    SendReport,
    in_progress,
    retry_deferred,
    send_edition,
    sender_lock,
    stop_on_signals,
    subscribers_from,
)
from digest.editions.service import Carrier, Editions, Hooks, Runtime, SendRun
from digest.editions.views import archived, edition_date, past_editions, preview, renderer_for

__all__ = [
    "PREVIEW_PURPOSE",
    "Carrier",
    "Editions",
    "Hooks",
    "Runtime",
    "SendReport",
    "SendRun",
    "archived",
    "choose_picks",
    "edition_date",
    "in_progress",
    "links_for",
    "past_editions",
    "preview",
    "reader_links",
    "renderer_for",
    "retry_deferred",
    "send_edition",
    "sender_lock",
    "stop_on_signals",
    "subscribers_from",
    "unresolved_liked",
    "weights_from",
]
