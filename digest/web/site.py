"""What every page of the web app shares: the site's settings, key and clock, the store opened
for one request, reading a link's token, and the responses with their security headers."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from flask import Response, abort, current_app, render_template, request

from digest.clock import Clock
from digest.editions import (
    BUILTIN_TEMPLATES,
    PREVIEW_PURPOSE,
    Pages,
    Renderer,
    SignupRequest,
    client_ip,
    make_token,
    open_pages,
    read_token,
    renderer_for,
)
from digest.errors import BadToken, OldLink
from digest.models import Email, Subscriber
from digest.settings import Settings
from digest.web.mailer import Mailer

log = logging.getLogger("digest.web")


def fetch_url(url: str) -> bytes:
    """GET an https URL (an SNS certificate, a subscription confirmation): 10 s at most, no
    redirects, 64 KiB at most; a WebhookRefused-worthy failure is an OSError."""
    import httpx

    try:
        with httpx.Client(timeout=10, follow_redirects=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        raise OSError(f"{url}: {exc}") from None
    if response.status_code != 200:
        raise OSError(f"{url}: HTTP {response.status_code}")
    return response.content[: 64 * 1024]


# Pages never run scripts (but the preview's own file); they frame only their own previews, and
# send no Referer (the URL carries a token).
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:;"
    " form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)
# The sign-up form's one script: the proof of work, from this site, fetching its challenge here.
SCRIPT_POLICY = PAGE_POLICY.replace(
    "default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';"
)


class _Templates:
    """The email renderer, rebuilt when a template file changes (the preview reloads). One per
    server thread: a Renderer keeps per-edition caches that are not meant to be shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._folders = [BUILTIN_TEMPLATES] + ([settings.templates] if settings.templates else [])
        self._local = threading.local()

    def stamp(self) -> tuple[tuple[str, int], ...]:
        """Changes when any template file changes."""
        return tuple(
            (str(path), path.stat().st_mtime_ns)
            for folder in self._folders
            for path in sorted(folder.rglob("*.j2"))
        )

    def renderer(self) -> Renderer:
        stamp = self.stamp()
        local = self._local
        if getattr(local, "stamp", None) != stamp:
            local.renderer = renderer_for(self.settings)
            local.stamp = stamp
        renderer: Renderer = local.renderer
        return renderer


class _PreviewCache:
    """Each subscriber's next digest, computed once per state of the store: a preview costs a
    full ranking, so reloading the page (and its two frames) must not rank again. One preview
    is computed at a time, which also bounds what preview requests can take from the server."""

    def __init__(self, size: int = 256) -> None:
        self._entries: collections.OrderedDict[tuple[Any, ...], Email] = collections.OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Email]) -> Email:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            email = compute()
            self._entries[key] = email
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
            return email


@dataclass
class Site:
    """The app's state, built once by create_app (`site()` reads it in a request)."""

    settings: Settings
    clock: Clock
    secret: str
    admin: str
    templates: _Templates
    # The worker that sends what requests queued (confirmations, first editions) after their
    # answer, through the app's transports; started and stopped with the server.
    mailer: Mailer
    # How a provider's certificate or confirmation URL is fetched (SNS): https GET, the body.
    fetch: Callable[[str], bytes] = field(default=lambda url: fetch_url(url))
    previews: _PreviewCache = field(default_factory=_PreviewCache)
    # When the store moved to sealed link tokens, read once (see old_form).
    _sealed_since: tuple[dt.datetime | None] | None = None

    @property
    def base(self) -> str:
        return self.settings.sender.base_url

    def token(self, email: str, purpose: str) -> str:
        return make_token(self.secret, email, purpose)

    @contextmanager
    def opened(self, *, write: bool = False) -> Iterator[Pages]:
        """The one rule of every page: only a POST changes anything. GET, HEAD and OPTIONS
        open the store read-only, which the engine itself enforces (a read-only SQLite
        connection, a read-only PostgreSQL session): they never create, write or wait for a
        writer. A POST waits at most [web] busy_timeout for another writer (then 503)."""
        if write and request.method != "POST":
            abort(405, description="Only a POST changes anything here.")
        with open_pages(
            self.settings, write=write, timeout=self.settings.web.busy_timeout
        ) as pages:
            yield pages

    def old_form(self) -> bool:
        """Whether old-form links (the address in clear) still open their page: for
        `[web] old_links_days` after the store moved to sealed tokens; never on a store that
        was created with them. The store is read once per process."""
        if self._sealed_since is None:
            with self.opened() as pages:
                self._sealed_since = (pages.sealed_links_since(),)
        since = self._sealed_since[0]
        days = dt.timedelta(days=self.settings.web.old_links_days)
        return since is not None and self.clock() < since + days

    def reader(self, token: str, purpose: str, *, also: str | None = None) -> str:
        """The address a link is for; 400 for a malformed token, 403 for a forged one or one
        made for another purpose (`also` names a second purpose accepted here)."""
        purposes = (purpose,) if also is None else (purpose, also)
        for accepted in purposes:
            try:
                return read_token(self.secret, token, accepted, old_form=self.old_form())
            except BadToken as exc:
                error = exc
                if not exc.tampered:
                    break
        return self.refuse(error, token, purposes)

    def refuse(self, error: BadToken, token: str, purposes: tuple[str, ...]) -> NoReturn:
        """400 for a malformed token, 403 for a forged one or another purpose's, saying so
        when it is a preview's (those are signed to work for nobody)."""
        for purpose in purposes if error.tampered else ():
            try:
                read_token(self.secret, token, PREVIEW_PURPOSE + purpose)
            except BadToken:
                continue
            abort(403, description="This link comes from a preview and works for nobody.")
        gone = isinstance(error, OldLink)
        abort(410 if gone else 403 if error.tampered else 400, description=str(error))

    def subscriber(self, store: Pages, email: str, *, missing: int = 410) -> Subscriber:
        """The subscriber at this address. For a reader's signed link, 410 once they were
        removed: the signature is still valid, but it opens nothing (no history, no feed, no
        votes); the operator's pages say 404."""
        person = store.reader(email)
        if person is None:
            what = "was removed" if missing == 410 else "does not exist"
            abort(missing, description=f"The subscription of {email} {what}.")
        return person


def asker() -> SignupRequest:
    """Who sent this request, as the consent log keeps it (the store trims and truncates):
    behind `[web] trusted_proxies`, the client X-Forwarded-For names."""
    trusted = site().settings.web.trusted_proxies
    forwarded = request.headers.getlist("X-Forwarded-For") if trusted else []
    return SignupRequest(
        ip=client_ip(request.remote_addr or "", forwarded, trusted),
        user_agent=request.headers.get("User-Agent", ""),
        page=request.headers.get("Referer", ""),
    )


def site() -> Site:
    """The running app's Site."""
    found: Site = current_app.extensions["digest"]
    return found


def page(name: str, status: int = 200, *, policy: str | None = None, **context: Any) -> Response:
    response = Response(render_template(name, **context), status=status)
    response.headers["Content-Security-Policy"] = policy or PAGE_POLICY
    return response


def email_page(html: str) -> Response:
    response = Response(html, mimetype="text/html")
    # An email is shown as sent: no scripts, images from anywhere, links open on top.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:;"
        " frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
    return response
