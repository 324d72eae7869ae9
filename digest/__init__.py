"""digest: trending papers in your inbox.

The pipeline, one stage per module: sources → store → diff → rank → render → deliver, with
the editions service above them. The names below are the library's public API; each is
imported on first use, so `import digest` (and the `digest` command) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest._lazy import loader

# name → the module that defines it
_API = {
    "DeliveryError": "digest.errors",
    "DigestError": "digest.errors",
    "DumpError": "digest.errors",
    "RenderError": "digest.errors",
    "SettingsError": "digest.errors",
    "StoreError": "digest.errors",
    "Edition": "digest.models",
    "Email": "digest.models",
    "IngestResult": "digest.models",
    "Paper": "digest.models",
    "Pick": "digest.models",
    "Snapshot": "digest.models",
    "Subscriber": "digest.models",
    "SendReport": "digest.editions",
    "preview": "digest.editions",
    "send_edition": "digest.editions",
    "ingest_paths": "digest.diff",
    "load_all": "digest.diff",
    "Profile": "digest.rank",
    "rank": "digest.rank",
    "Links": "digest.render",
    "Renderer": "digest.render",
    "Settings": "digest.settings",
    "load_settings": "digest.settings",
    "load_snapshot": "digest.sources",
    "parse_snapshot": "digest.sources",
    "Store": "digest.store",
}
__all__ = [
    "DeliveryError",
    "DigestError",
    "DumpError",
    "Edition",
    "Email",
    "IngestResult",
    "Links",
    "Paper",
    "Pick",
    "Profile",
    "RenderError",
    "Renderer",
    "SendReport",
    "Settings",
    "SettingsError",
    "Snapshot",
    "Store",
    "StoreError",
    "Subscriber",
    "ingest_paths",
    "load_all",
    "load_settings",
    "load_snapshot",
    "parse_snapshot",
    "preview",
    "rank",
    "send_edition",
]


__getattr__ = loader(__name__, _API)


if TYPE_CHECKING:
    from digest.diff import ingest_paths, load_all
    from digest.editions import SendReport, preview, send_edition
    from digest.errors import (
        DeliveryError,
        DigestError,
        DumpError,
        RenderError,
        SettingsError,
        StoreError,
    )
    from digest.models import Edition, Email, IngestResult, Paper, Pick, Snapshot, Subscriber
    from digest.rank import Profile, rank
    from digest.render import Links, Renderer
    from digest.settings import Settings, load_settings
    from digest.sources import load_snapshot, parse_snapshot
    from digest.store import Store
