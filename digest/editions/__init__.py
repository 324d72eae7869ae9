"""The editions service: plan → rank → render → dispatch, and the editions read without
sending (preview, archive, feed). The CLI, the daemon and the web app call this and nothing
below it.

- `picks`: every reader ranked in one call; picks recorded in and read back from the ledger;
- `links`: a reader's signed links;
- `views`: the next edition (preview), one that went out (archive), all that went out;
- `sending`: one edition sent exactly once per reader, resumable, one sender at a time;
- `service`: `Editions`, what the shells call: readers chosen, transports built, time zones
  grouped, deferred retries run first; ingest, fetch, the catalog, the ledger, readers.

Names load on first use (`digest --help` imports none of the pipeline). The few constants a
shell needs to declare its options (FORMATS, DUMP_SUFFIXES) come from here too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name → the module that defines it
_API = {
    "PREVIEW_PURPOSE": "digest.editions.links",
    "links_for": "digest.editions.links",
    "reader_links": "digest.editions.links",
    "choose_picks": "digest.editions.picks",
    "unresolved_liked": "digest.editions.picks",
    "weights_from": "digest.editions.picks",
    "SendReport": "digest.editions.sending",
    "in_progress": "digest.editions.sending",
    "retry_deferred": "digest.editions.sending",
    "send_edition": "digest.editions.sending",
    "sender_lock": "digest.editions.sending",
    "stop_on_signals": "digest.editions.sending",
    "subscribers_from": "digest.editions.sending",
    "Carrier": "digest.editions.service",
    "Editions": "digest.editions.service",
    "EditionStatus": "digest.editions.service",
    "Hooks": "digest.editions.service",
    "Listed": "digest.editions.service",
    "Runtime": "digest.editions.service",
    "SendRun": "digest.editions.service",
    "rank_dumps": "digest.editions.service",
    "skipped_files": "digest.editions.service",
    "check_migration_target": "digest.editions.service",
    "archived": "digest.editions.views",
    "edition_date": "digest.editions.views",
    "past_editions": "digest.editions.views",
    "preview": "digest.editions.views",
    "renderer_for": "digest.editions.views",
    "edition_moment": "digest.editions.views",
    "shown_url": "digest.store.db",
    "FORMATS": "digest.sources",
    "DUMP_SUFFIXES": "digest.diff",
}
__all__ = [
    "DUMP_SUFFIXES",
    "FORMATS",
    "PREVIEW_PURPOSE",
    "Carrier",
    "EditionStatus",
    "Editions",
    "Hooks",
    "Listed",
    "Runtime",
    "SendReport",
    "SendRun",
    "archived",
    "check_migration_target",
    "choose_picks",
    "edition_date",
    "edition_moment",
    "in_progress",
    "links_for",
    "past_editions",
    "preview",
    "rank_dumps",
    "reader_links",
    "renderer_for",
    "retry_deferred",
    "send_edition",
    "sender_lock",
    "shown_url",
    "skipped_files",
    "stop_on_signals",
    "subscribers_from",
    "unresolved_liked",
    "weights_from",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'digest.editions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from digest.diff import DUMP_SUFFIXES
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
    from digest.editions.service import (
        Carrier,
        Editions,
        EditionStatus,
        Hooks,
        Listed,
        Runtime,
        SendRun,
        check_migration_target,
        rank_dumps,
        skipped_files,
    )
    from digest.editions.views import (
        archived,
        edition_date,
        edition_moment,
        past_editions,
        preview,
        renderer_for,
    )
    from digest.sources import FORMATS
    from digest.store.db import shown_url
