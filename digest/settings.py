"""Settings: a TOML file plus `DIGEST_*` environment variables, which override any key.

Nested keys use a double underscore (`DIGEST_SMTP__PORT=2525`). Secrets (SMTP credentials, the
unsubscribe-signing key) are read from the environment only: a settings file that holds one is
refused, so secrets never end up in a repository.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from digest import profile
from digest.addresses import normalise_address
from digest.errors import SettingsError
from digest.models import Weights
from digest.profile import check_timezone
from digest.store.db import SERVER_SCHEMES

DEFAULT_SETTINGS_PATH = Path("settings.toml")
# Keys that must come from the environment, with the variable that carries each.
ENV_ONLY = {
    ("smtp", "username"): "DIGEST_SMTP__USERNAME",
    ("smtp", "password"): "DIGEST_SMTP__PASSWORD",
    ("secret_key",): "DIGEST_SECRET_KEY",
    ("admin_token",): "DIGEST_ADMIN_TOKEN",
    ("dkim", "private_key"): "DIGEST_DKIM__PRIVATE_KEY",
    ("bounces", "password"): "DIGEST_BOUNCES__PASSWORD",
    ("bounces", "postmark_password"): "DIGEST_BOUNCES__POSTMARK_PASSWORD",
}


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line (no CR or LF)")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SmtpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: SecretStr | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0)
    # Extra CA certificates (PEM) to trust for STARTTLS/TLS, e.g. a company relay's private CA.
    ca_file: Path | None = None
    # 4xx replies and dropped connections are retried at once this many times, waiting
    # retry_delay, then twice that, and so on (plus jitter).
    max_retries: int = Field(default=4, ge=0, le=20)
    retry_delay: float = Field(default=2.0, ge=0, le=600)
    # Then the message is deferred: tried again after retry_backoff_minutes, twice that, and so
    # on (at most 6 h apart) by the daemon or the next `digest send`, until retry_for_hours
    # after its first failure (greylisting asks for minutes to hours).
    retry_backoff_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    retry_for_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    # This many failed messages in a row stop the send (the relay is probably down).
    max_consecutive_errors: int = Field(default=10, ge=1)
    # Connections used at once, messages per second across them (0 = no limit), and messages
    # sent over one connection before it is replaced.
    concurrency: int = Field(default=1, ge=1, le=64)
    rate_limit: float = Field(default=0.0, ge=0)
    max_messages_per_connection: int = Field(default=100, ge=1)
    # Several senders on one PostgreSQL store: a reader a sender claimed is taken over by
    # another this long after the claimant stopped renewing it (it crashed). Longer than one
    # message can take with all its retries.
    claim_lease_seconds: float = Field(default=300.0, ge=1, le=24 * 3600)

    @property
    def claim_lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.claim_lease_seconds)

    # Several senders on PostgreSQL: one plans (ranks) an edition while the others wait for
    # it; a sender that waited this long (the planner hangs) plans the edition itself.
    planning_wait_seconds: float = Field(default=600.0, ge=1, le=24 * 3600)

    # Relays tried in order when `host` cannot be reached: "host" or "host:port".
    fallback_hosts: tuple[str, ...] = ()

    _host = field_validator("host")(_single_line)


def _http_url(value: str) -> str:
    _single_line(value)
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    if not value.isascii() or any(c in value for c in ' <>"'):
        raise ValueError("must be a plain ASCII URL (punycode the host, percent-encode the path)")
    return value.rstrip("/")


class SenderSettings(_Section):
    from_: str = Field(default="Digest <digest@localhost>", alias="from")
    base_url: str = "http://127.0.0.1:8000"
    # Optional second unsubscribe route for clients without HTTPS one-click: a mailbox address.
    unsubscribe_mailto: str = ""
    # `digest send` refuses a sender at localhost and links to a loopback or http:// base_url
    # (dead for every reader); a local test setup (the demo) turns that check off here.
    allow_local: bool = False
    # VERP: every message's envelope sender (where bounces go) becomes
    # bounces+TOKEN@example.org, TOKEN signed and naming the reader and the edition.
    return_path: str = ""

    _from = field_validator("from_")(_single_line)

    @field_validator("unsubscribe_mailto", "return_path")
    @classmethod
    def _plain_address(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+", value):
            raise ValueError("must be a plain ASCII address like unsubscribe@example.org")
        return value

    _base_url = field_validator("base_url")(_http_url)


class BounceSettings(_Section):
    """Bounces and complaints that arrive after the relay accepted a message."""

    # A soft bounce (a full mailbox, a block) suppresses an address once this many came
    # within soft_days with no delivery reported in between.
    soft_limit: int = Field(default=3, ge=1, le=100)
    soft_days: float = Field(default=14, gt=0, le=365)
    # The daemon reads bounces from here: a Maildir folder, imaps://user@host/INBOX or
    # pop3s://user@host (the password from DIGEST_BOUNCES__PASSWORD), every poll_minutes.
    mailbox: str = ""
    password: SecretStr | None = None
    poll_minutes: float = Field(default=10, gt=0, le=24 * 60)
    # Provider webhooks (`digest serve`): /webhooks/ses takes SNS messages of these topics
    # only (none listed: the route is off, 404); /webhooks/postmark wants this HTTP Basic
    # password (DIGEST_BOUNCES__POSTMARK_PASSWORD); /webhooks/sendgrid checks signatures with
    # this verification key (base64, from SendGrid's mail settings).
    ses_topics: list[str] = []
    postmark_password: SecretStr | None = None
    sendgrid_public_key: str = ""
    # An SES (SNS `Timestamp`) or Postmark event (its `BouncedAt`/`DeliveredAt`) older than
    # this, or stamped more than 15 minutes ahead of this server's clock, is refused (403):
    # a captured request cannot be replayed later. Postmark retries for about 10.5 hours and
    # SNS for at most one. (SendGrid's signed timestamp has its own 10 minutes.)
    webhook_max_age_hours: float = Field(default=24, ge=1, le=7 * 24)
    # The daemon warns when an edition's complaints or hard bounces pass these shares.
    complaint_warning: float = Field(default=0.001, ge=0, le=1)
    hard_warning: float = Field(default=0.02, ge=0, le=1)


class EmailSettings(_Section):
    """What the email says about itself, and whether an empty edition is sent."""

    subject: str = "{papers} · {date}: {top}"
    preheader: str = "Also: {others}"
    send_empty: bool = False

    @field_validator("subject", "preheader")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        _single_line(value)
        fields = {
            "count": 1,
            "papers": "1 new paper",
            "date": "Sun 22 Nov",
            "top": "t",
            "others": "o",
        }
        try:
            value.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"unknown or malformed placeholder ({exc}); use {{count}}, {{papers}}, {{date}},"
                " {top} or {others}"
            ) from None
        return value


class DkimSettings(_Section):
    """DKIM signing: on when a private key is given (PEM, from DIGEST_DKIM__PRIVATE_KEY)."""

    selector: str = "digest"
    # Signing domain; empty means the domain of the From address.
    domain: str = ""
    private_key: SecretStr | None = None

    _names = field_validator("selector", "domain")(_single_line)


class SourcesSettings(_Section):
    """Where `digest fetch` downloads dumps from."""

    hf_api_url: str = "https://huggingface.co/api/daily_papers"
    arxiv_feed_url: str = "https://rss.arxiv.org/atom/{category}"
    arxiv_categories: tuple[str, ...] = ()
    timeout: float = Field(default=30.0, gt=0)

    _urls = field_validator("hf_api_url", "arxiv_feed_url")(_http_url)


class InterestSettings(_Section):
    """An interest with a weight: `{ phrase = "graph neural networks", weight = 2 }`."""

    phrase: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, le=100)


class SubscriberSettings(_Section):
    """A `[[subscribers]]` entry: the reader schema (digest.profile), checked by its checks,
    each error at its key."""

    email: str
    name: str = ""
    interests: tuple[str | InterestSettings, ...] = ()
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    min_score: float = 0.0
    max_items: int = 10
    # When this reader's edition goes out (`digest daemon`); unset: the top-level defaults.
    send_at: str | None = None
    timezone: str | None = None
    weekdays_only: bool | None = None
    # "daily", or "weekly" on `weekday` (mon … sun): the week's best unsent papers.
    frequency: str = "daily"
    weekday: str = "mon"
    # "email", or "feed": only in their private Atom feed, never mailed.
    delivery: str = "email"
    # A day whose new papers hold nothing for this reader: "trending" (a short email that says
    # so, then the day's most upvoted papers marked as not matched), "note" (the email alone),
    # "skip" (nothing).
    quiet: str = "trending"
    # A pause ("vacation"): no edition before this date (YYYY-MM-DD); they resume on it.
    pause_until: str | None = None

    _name = field_validator("name")(_single_line)
    _email = field_validator("email")(normalise_address)
    _max_items = field_validator("max_items", mode="before")(profile.check_max_items)
    _min_score = field_validator("min_score", mode="before")(profile.check_min_score)
    _send_time = field_validator("send_at")(profile.check_send_at)
    _zone = field_validator("timezone")(profile.check_zone)
    _frequency = field_validator("frequency")(profile.check_frequency)
    _weekday = field_validator("weekday")(profile.check_weekday)
    _delivery = field_validator("delivery")(profile.check_delivery)
    _quiet = field_validator("quiet")(profile.check_quiet)
    _pause = field_validator("pause_until", mode="before")(profile.check_pause_until)

    @field_validator("exclude", "authors", "liked")
    @classmethod
    def _terms(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return tuple(profile.check_terms(values, str(info.field_name)))

    @model_validator(mode="after")
    def _weekly(self) -> SubscriberSettings:
        profile.check_weekly(self.frequency, self.weekday, self.weekdays_only)
        return self


class ScheduleSettings(_Section):
    """`digest daemon`: missed runs and where new dumps are picked up. (When editions go out
    is the top-level send_at / timezone / weekdays_only, per subscriber if they set their own.)"""

    # A send missed while the daemon was down still goes out if it is at most this many
    # minutes late; older ones are skipped (a stale "daily" email helps nobody).
    grace_minutes: float = Field(default=180, gt=0, le=24 * 60)
    # Folders (new dump files in them) and http(s) URLs the ingest job polls, and how often.
    watch: tuple[str, ...] = ()
    poll_minutes: float = Field(default=15.0, gt=0, le=24 * 60)


class SignupSettings(_Section):
    """Readers signing up themselves on the front page (double opt-in)."""

    # A confirmation link works this long; a sign-up never confirmed is forgotten after
    # `pending_days` (the daemon purges it).
    confirm_hours: float = Field(default=72, gt=0, le=24 * 30)
    pending_days: float = Field(default=7, gt=0, le=365)
    # What the consent log keeps of the requester's IP address.
    record_ip: Literal["full", "truncated", "none"] = "truncated"
    # Sign-ups answered at most, per hour: from one IP address, and in all.
    per_ip_hourly: int = Field(default=10, ge=1, le=100_000)
    global_hourly: int = Field(default=200, ge=1, le=1_000_000)
    # The form and the API ask for a proof of work (ALTCHA): the browser's script solves a
    # challenge (about a second); a request without a fresh, unused solution mails nobody.
    proof_of_work: bool = True
    # How hard: the solution is a number up to this (the browser tries half of them on average).
    proof_of_work_max_number: int = Field(default=100_000, ge=1_000, le=10_000_000)


class WebSettings(_Section):
    """`digest serve`: the preview, archive, unsubscribe and preferences pages."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The preview pages (every subscriber, their next digest) are for the operator: they open
    # only with DIGEST_ADMIN_TOKEN set, and this switches them off even then.
    preview: bool = True
    # Links made before link tokens were sealed carry the reader's address: they keep opening
    # their page for this many days after the store was upgraded (0: refused at once).
    old_links_days: int = Field(default=90, ge=0, le=3650)
    threads: int = Field(default=4, ge=1, le=64)
    # Open connections at most, and seconds a connection may sit idle (a slow or half-open
    # client) before it is closed: together they keep a few slow clients from starving the rest.
    connection_limit: int = Field(default=500, ge=1, le=10_000)
    channel_timeout: float = Field(default=15.0, gt=0, le=600)
    # How long a page that writes (unsubscribe, preferences) waits for another process writing
    # to the database before it answers 503 with Retry-After.
    busy_timeout: float = Field(default=10.0, gt=0, le=300)
    # The reverse proxies in front (IPs or networks: "127.0.0.1", "10.0.0.0/8"): from them
    # alone X-Forwarded-For is read, its right-most hop that is none of them taken as the
    # client (the sign-up's per-IP cap and the consent log). Empty: the peer is the client.
    trusted_proxies: tuple[str, ...] = ()

    _host = field_validator("host")(_single_line)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_network(value.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f'{value!r} is not an IP address or network; write one like "127.0.0.1"'
                    ' or "10.0.0.0/8"'
                ) from None
        return tuple(value.strip() for value in values)


_WEIGHTS = Weights()


class RankingSettings(_Section):
    """How signals blend into one score (digest.models.Weights, whose defaults these are)."""

    relevance: float = Field(default=_WEIGHTS.relevance, ge=0)
    feedback: float = Field(default=_WEIGHTS.feedback, ge=0)
    learned: float = Field(default=_WEIGHTS.learned, ge=0)
    semantic: float = Field(default=_WEIGHTS.semantic, ge=0)
    seed: float = Field(default=_WEIGHTS.seed, ge=0)
    authors: float = Field(default=_WEIGHTS.authors, ge=0)
    popularity: float = Field(default=_WEIGHTS.popularity, ge=0)
    trending: float = Field(default=_WEIGHTS.trending, ge=0)
    freshness: float = Field(default=_WEIGHTS.freshness, ge=0)
    diversity: float = Field(default=_WEIGHTS.diversity, ge=0, le=1)
    freshness_half_life_days: float = Field(default=_WEIGHTS.freshness_half_life_days, gt=0)
    corpus_size: int = Field(default=5000, ge=0, le=1_000_000)
    # The meaning signal's model: "minilm", "wordllama", "none" (lexical only) or a folder
    # holding an operator's own model.onnx + tokenizer.json (digest.rank.encoders).
    embedding_model: str = Field(default="minilm", min_length=1)

    def weights(self) -> Weights:
        """The ranker's weights: every field of Weights is a key here."""
        return Weights(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Weights)})


def check_database(value: Any) -> Any:
    """A path stays a path; a URL must name PostgreSQL and carry no password (ValueError says
    which, never echoing the URL). For `database` and `digest migrate --to`."""
    if not isinstance(value, str):
        return value
    if "://" not in value:
        return Path(value)
    parts = urlsplit(value)
    if parts.scheme not in SERVER_SCHEMES:
        raise ValueError(
            f"{parts.scheme}:// is not a database digest can use; give a SQLite file path or"
            " postgresql://user@host/dbname"
        )
    if parts.password is not None:
        raise ValueError(
            "a PostgreSQL URL must not carry a password; set PGPASSWORD in the environment (or"
            " use ~/.pgpass) instead"
        )
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    # A SQLite file (relative to this file's folder), or a PostgreSQL server:
    # "postgresql://user@host:5432/dbname", its password from PGPASSWORD or ~/.pgpass.
    database: Path | str = Path("digest.sqlite")
    # A PostgreSQL server that drops a sender's connection (a restart, a failover, an ended
    # session): how long senders and the daemon try to connect again before that call fails.
    database_reconnect_seconds: float = Field(default=60.0, ge=0, le=3600)
    templates: Path | None = None
    timezone: str = "UTC"
    # When every subscriber's edition goes out (`digest daemon`), in their time zone (the one
    # above unless they set their own), and whether only Monday to Friday; each may override.
    send_at: str = "07:30"
    weekdays_only: bool = False
    window_days: int = Field(default=7, ge=1, le=365)
    # One or more keys, separated by spaces or commas: the first signs links, all verify them
    # (rotate by putting a new key first and dropping the old one once its links have expired
    # from inboxes).
    secret_key: SecretStr | None = None
    # The operator's credential for the preview pages (bearer token or HTTP Basic password).
    admin_token: SecretStr | None = None
    smtp: SmtpSettings = SmtpSettings()
    sender: SenderSettings = SenderSettings()
    sources: SourcesSettings = SourcesSettings()
    email: EmailSettings = EmailSettings()
    dkim: DkimSettings = DkimSettings()
    ranking: RankingSettings = RankingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    web: WebSettings = WebSettings()
    signup: SignupSettings = SignupSettings()
    bounces: BounceSettings = BounceSettings()
    subscribers: tuple[SubscriberSettings, ...] = ()

    _known_zone = field_validator("timezone")(check_timezone)
    _database_location = field_validator("database", mode="before")(check_database)
    _send_time = field_validator("send_at")(profile.check_send_at)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load_settings); the environment wins over it.
        return (env_settings, init_settings)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append("from" if part == "from_" else part)
    return ".".join(parts)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SettingsError(
            f"settings file {path} not found; copy settings.example.toml to {path}"
            " or pass --settings PATH"
        )
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc}") from None


def _refuse_file_secrets(path: Path, data: dict[str, Any]) -> None:
    for keys, variable in ENV_ONLY.items():
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            raise SettingsError(
                f"settings file {path}: {'.'.join(keys)} must not be stored in a file;"
                f" set {variable} in the environment instead"
            )


def settings_path(path: Path | None = None) -> Path:
    """The settings file in use: the given path, else $DIGEST_SETTINGS, else ./settings.toml."""
    return path or Path(os.environ.get("DIGEST_SETTINGS") or DEFAULT_SETTINGS_PATH)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from a TOML file and the environment; raise SettingsError on any problem.

    `path` defaults to $DIGEST_SETTINGS, then ./settings.toml. Relative paths inside the file
    (database, templates) are taken relative to the file's folder.
    """
    path = settings_path(path)
    data = _read_toml(path)
    _refuse_file_secrets(path, data)
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        where = _location(tuple(error["loc"])) or "(top level)"
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        if where == "database":  # a URL may hold a password: never echoed
            shown = ""
        raise SettingsError(f"settings file {path}: {where}: {error['msg']}{shown}{more}") from None
    base = path.parent
    updates: dict[str, Any] = {}
    if isinstance(settings.database, Path) and not settings.database.is_absolute():
        updates["database"] = base / settings.database
    if settings.templates is not None and not settings.templates.is_absolute():
        updates["templates"] = base / settings.templates
    ca_file = settings.smtp.ca_file
    if ca_file is not None:
        ca_file = ca_file if ca_file.is_absolute() else base / ca_file
        if not ca_file.is_file():
            raise SettingsError(f"settings file {path}: smtp.ca_file: no such file {ca_file}")
        updates["smtp"] = settings.smtp.model_copy(update={"ca_file": ca_file})
    return settings.model_copy(update=updates) if updates else settings
