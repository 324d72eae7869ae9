"""The editions service: plan → rank → render → dispatch, and the editions read without
sending (preview, archive, feed). The CLI, the daemon and the web app call this and nothing
below it.

- `picks`: every reader ranked in one call; picks recorded in and read back from the ledger;
- `links`: a reader's signed links;
- `views`: the next edition (preview), one that went out (archive), all that went out;
- `sending`: one edition sent exactly once per reader, resumable, one sender at a time;
- `service`: `Editions`, what the shells call: readers chosen, transports built, time zones
  grouped, deferred retries run first; ingest, fetch, the catalog, the ledger, readers.

- `pages`: what the web pages read and change, on the store one request opened;
- `signups`: sign-ups and confirmations, and `send_queued`, the worker that sends the mail
  a request queued (the web app's thread, the daemon).

Names load on first use (`digest --help` imports none of the pipeline). What the shells need
besides (the dump formats for their options; signed tokens, votes and feeds for the web app)
comes from here too, so a shell imports nothing below this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest._lazy import loader

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
    "dump_files": "digest.editions.service",
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
    "Pages": "digest.editions.pages",
    "Answers": "digest.editions.onboarding",
    "UPLOAD_BYTES": "digest.editions.onboarding",
    "LIBRARY_BYTES": "digest.editions.library",
    "open_pages": "digest.editions.pages",
    "prepare_store": "digest.editions.pages",
    "BUILTIN_TEMPLATES": "digest.render",
    "Renderer": "digest.render",
    "make_token": "digest.tokens",
    "read_token": "digest.tokens",
    "signing_keys": "digest.tokens",
    "FEEDBACK_PURPOSE": "digest.feedback",
    "Vote": "digest.feedback",
    "read_vote": "digest.feedback",
    "paper_id_of": "digest.feedback",
    "atom_feed": "digest.feed",
    "is_loopback": "digest.deliver.preflight",
    "CONSENT_TEXT": "digest.signup",
    "SignupRequest": "digest.signup",
    "SignupForm": "digest.signup",
    "new_challenge": "digest.proof_of_work",
    "mailbox_name": "digest.bounces.mailboxes",
    "Window": "digest.bounces.providers",
    "amazon_url": "digest.bounces.providers",
    "check_postmark_time": "digest.bounces.providers",
    "postmark_events": "digest.bounces.providers",
    "ses_events": "digest.bounces.providers",
    "sendgrid_events": "digest.bounces.providers",
    "verify_postmark": "digest.bounces.providers",
    "verify_sendgrid": "digest.bounces.providers",
    "verify_sns": "digest.bounces.providers",
    "send_queued": "digest.editions.signups",
    "client_ip": "digest.signup",
    "Transport": "digest.deliver",
}
__all__ = [
    "BUILTIN_TEMPLATES",
    "CONSENT_TEXT",
    "DUMP_SUFFIXES",
    "FEEDBACK_PURPOSE",
    "FORMATS",
    "LIBRARY_BYTES",
    "PREVIEW_PURPOSE",
    "UPLOAD_BYTES",
    "Answers",
    "Carrier",
    "EditionStatus",
    "Editions",
    "Hooks",
    "Listed",
    "Pages",
    "Renderer",
    "Runtime",
    "SendReport",
    "SendRun",
    "SignupForm",
    "SignupRequest",
    "Transport",
    "Vote",
    "Window",
    "amazon_url",
    "archived",
    "atom_feed",
    "check_migration_target",
    "check_postmark_time",
    "choose_picks",
    "client_ip",
    "dump_files",
    "edition_date",
    "edition_moment",
    "in_progress",
    "is_loopback",
    "links_for",
    "mailbox_name",
    "make_token",
    "new_challenge",
    "open_pages",
    "paper_id_of",
    "past_editions",
    "postmark_events",
    "prepare_store",
    "preview",
    "rank_dumps",
    "read_token",
    "read_vote",
    "reader_links",
    "renderer_for",
    "retry_deferred",
    "send_edition",
    "send_queued",
    "sender_lock",
    "sendgrid_events",
    "ses_events",
    "shown_url",
    "signing_keys",
    "skipped_files",
    "stop_on_signals",
    "subscribers_from",
    "unresolved_liked",
    "verify_postmark",
    "verify_sendgrid",
    "verify_sns",
    "weights_from",
]


__getattr__ = loader(__name__, _API)


if TYPE_CHECKING:
    from digest.bounces.mailboxes import mailbox_name
    from digest.bounces.providers import (
        Window,
        amazon_url,
        check_postmark_time,
        postmark_events,
        sendgrid_events,
        ses_events,
        verify_postmark,
        verify_sendgrid,
        verify_sns,
    )
    from digest.deliver import Transport
    from digest.deliver.preflight import is_loopback
    from digest.diff import DUMP_SUFFIXES
    from digest.editions.library import LIBRARY_BYTES
    from digest.editions.links import PREVIEW_PURPOSE, links_for, reader_links
    from digest.editions.onboarding import UPLOAD_BYTES, Answers
    from digest.editions.pages import Pages, open_pages, prepare_store
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
        dump_files,
        rank_dumps,
        skipped_files,
    )
    from digest.editions.signups import send_queued
    from digest.editions.views import (
        archived,
        edition_date,
        edition_moment,
        past_editions,
        preview,
        renderer_for,
    )
    from digest.feed import atom_feed
    from digest.feedback import FEEDBACK_PURPOSE, Vote, paper_id_of, read_vote
    from digest.proof_of_work import new_challenge
    from digest.render import BUILTIN_TEMPLATES, Renderer
    from digest.signup import CONSENT_TEXT, SignupForm, SignupRequest, client_ip
    from digest.sources import FORMATS
    from digest.store.db import shown_url
    from digest.tokens import make_token, read_token, signing_keys
