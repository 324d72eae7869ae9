"""digest: trending papers in your inbox.

The pipeline, one stage per module: sources → store → diff → rank → render → deliver.
"""

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
