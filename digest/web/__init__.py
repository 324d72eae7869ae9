"""`digest serve`: preview, archive, one-click unsubscribe and preferences, as a Flask app.

A thin shell like the CLI: every page calls the library (store, subscribers, deliver) and
renders a Jinja template with autoescaping. Reader pages are opened by signed tokens
(digest.tokens), so they need no login or cookie. The preview (every subscriber and their next
digest) is the operator's: it needs DIGEST_ADMIN_TOKEN, as a bearer token or an HTTP Basic
password, and its links are signed for a purpose every reader page refuses.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import functools
import hmac
import logging
import re
import secrets
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from flask import Flask, Response, abort, render_template, request

from digest.deliver.preflight import is_loopback
from digest.editions import (
    PREVIEW_PURPOSE,
    archived,
    edition_date,
    links_for,
    past_editions,
    preview,
    renderer_for,
)
from digest.errors import DigestError, SettingsError, StoreBusy
from digest.feed import atom_feed
from digest.feedback import FEEDBACK_PURPOSE, Vote, read_vote, record
from digest.models import DeliveryState, Email, Subscriber
from digest.render import BUILTIN_TEMPLATES, Renderer
from digest.settings import Settings
from digest.store import Store
from digest.subscribers import (
    ProfileErrors,
    ProfileInput,
    find,
    page_of_subscribers,
    profile_input,
    validated_row,
)
from digest.tokens import BadToken, make_token, read_token, signing_keys

Clock = Callable[[], dt.datetime]

# Pages never run scripts; they frame only their own previews, and send no Referer (the URL
# carries a token).
_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:;"
    " form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)


# The preview page's frames take the height of the email inside them (same origin).
_FIT_FRAMES = """
for (const frame of document.querySelectorAll("iframe[data-fit]")) {
  const fit = () => {
    const page = frame.contentDocument && frame.contentDocument.documentElement;
    if (page) frame.style.height = page.scrollHeight + "px";
  };
  frame.addEventListener("load", fit);
  fit();
}
"""

PREVIEW_PAGE = 100  # subscribers per preview listing page
MAX_PAGE_NUMBER = 10**6
MAX_QUERY_CHARS = 200
RETRY_AFTER_SECONDS = 30
ARCHIVE_LIMIT = 1000  # editions listed on a reader's archive page
FEED_ENTRIES = 50  # editions in a reader's Atom feed
log = logging.getLogger("digest.web")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


def _operator(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the operator's token: `Bearer TOKEN`, or HTTP
    Basic with TOKEN as the password (any user name). Compared in constant time."""
    scheme, _, value = (header or "").partition(" ")
    offered = ""
    if scheme.casefold() == "bearer":
        offered = value.strip()
    elif scheme.casefold() == "basic":
        try:
            offered = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        offered = offered.partition(":")[2]
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def _page_number(value: str | None) -> int:
    """?page=N for a listing: a whole number from 1 (400 for anything else)."""
    if value is None or value == "":
        return 1
    if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= MAX_PAGE_NUMBER:
        abort(400, description=f"page must be a whole number from 1 to {MAX_PAGE_NUMBER:,}.")
    return int(value)


def create_app(settings: Settings, clock: Clock = _utc_now) -> Flask:
    """The web app for these settings. Needs DIGEST_SECRET_KEY (it checks link tokens)."""
    if settings.secret_key is None:
        raise SettingsError(
            "digest serve checks signed links: set DIGEST_SECRET_KEY (16+ characters) in the"
            " environment, the same key `digest send` uses"
        )
    secret = settings.secret_key.get_secret_value()
    base = settings.sender.base_url
    signing_keys(secret)  # a clear error now for a key that is too short
    admin = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if admin and len(admin) < 16:
        raise SettingsError("DIGEST_ADMIN_TOKEN is shorter than 16 characters; set a long one")
    app = Flask(__name__, template_folder=str(BUILTIN_TEMPLATES / "web"))
    # A preferences form is a few hundred bytes; anything far larger is refused with 413.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    templates = _Templates(settings)
    previews = _PreviewCache()

    @contextmanager
    def opened(*, write: bool = False) -> Iterator[Store]:
        """A page that only reads opens the store read-only: it never waits for a writer. One
        that writes waits at most [web] busy_timeout for another writer (then 503)."""
        read_only = not write and settings.database.exists()
        with Store.open(
            settings.database, read_only=read_only, timeout=settings.web.busy_timeout
        ) as store:
            yield store

    def reader(token: str, purpose: str, *, also: str | None = None) -> str:
        """The address a link is for; 400 for a malformed token, 403 for a forged one or one
        made for another purpose (`also` names a second purpose accepted here)."""
        purposes = (purpose,) if also is None else (purpose, also)
        for accepted in purposes:
            try:
                return read_token(secret, token, accepted)
            except BadToken as exc:
                error = exc
                if not exc.tampered:
                    break
        return refuse(error, token, purposes)

    def refuse(error: BadToken, token: str, purposes: tuple[str, ...]) -> NoReturn:
        """400 for a malformed token, 403 for a forged one or another purpose's, saying so
        when it is a preview's (those are signed to work for nobody)."""
        for purpose in purposes if error.tampered else ():
            try:
                read_token(secret, token, PREVIEW_PURPOSE + purpose)
            except BadToken:
                continue
            abort(403, description="This link comes from a preview and works for nobody.")
        abort(403 if error.tampered else 400, description=str(error))

    def page(name: str, status: int = 200, **context: Any) -> Response:
        response = Response(render_template(name, **context), status=status)
        response.headers["Content-Security-Policy"] = _PAGE_POLICY
        return response

    def email_page(html: str) -> Response:
        response = Response(html, mimetype="text/html")
        # An email is shown as sent: no scripts, images from anywhere, links open on top.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:;"
            " frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
        )
        return response

    @app.after_request
    def harden(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(413)
    def refused(error: Any) -> Response:
        return page("message.html", error.code, title=error.name, text=error.description)

    @app.errorhandler(401)
    def unauthorised(error: Any) -> Response:
        response = page("message.html", 401, title=error.name, text=error.description)
        response.headers["WWW-Authenticate"] = 'Basic realm="digest operator", charset="UTF-8"'
        return response

    @app.errorhandler(StoreBusy)
    def busy(error: StoreBusy) -> Response:
        log.warning("busy: %s", error)
        response = page(
            "message.html",
            503,
            title="Busy",
            text="The service is busy for a moment. Nothing was changed: please try again in a"
            " minute.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(DigestError)
    def failed(error: DigestError) -> Response:
        # The detail (a database path, a template error) is for the operator's log only.
        log.error("%s: %s", request.path.split("/")[1] or "/", error)
        return page(
            "message.html",
            500,
            title="Something went wrong",
            text="The service could not answer this request. Please try again later.",
        )

    def subscriber_or_404(store: Store, email: str) -> Subscriber:
        person = find(settings, store, email)
        if person is None:
            abort(404, description=f"No subscription for {email}.")
        return person

    @app.get("/")
    def index() -> Response:
        return page("index.html", preview=bool(settings.web.preview and admin))

    @app.get("/healthz")
    def health() -> Response:
        with opened() as store:
            store.latest_edition()
        return Response("ok\n", mimetype="text/plain")

    def preview_enabled() -> None:
        """The preview is the operator's: off without DIGEST_ADMIN_TOKEN, 401 without it."""
        if not settings.web.preview or not admin:
            abort(404, description="The preview is switched off on this server.")
        if not _operator(request.headers.get("Authorization"), admin):
            abort(401, description="The preview needs the operator's credential.")

    @app.get("/preview")
    def preview_list() -> Response:
        preview_enabled()
        query = request.args.get("q", "").strip()
        if len(query) > MAX_QUERY_CHARS:
            abort(400, description=f"q is longer than {MAX_QUERY_CHARS} characters.")
        wanted = _page_number(request.args.get("page"))
        with opened() as store:
            shown, total = page_of_subscribers(
                settings, store, query, (wanted - 1) * PREVIEW_PAGE, PREVIEW_PAGE
            )
            pages = max(1, -(-total // PREVIEW_PAGE))
            current = min(wanted, pages)
            if current != wanted:  # past the end: show the last page
                shown, total = page_of_subscribers(
                    settings, store, query, (current - 1) * PREVIEW_PAGE, PREVIEW_PAGE
                )
            suppressed = store.suppressions()
        return page(
            "preview_list.html",
            people=shown,
            total=total,
            suppressed=suppressed,
            query=request.args.get("q", ""),
            current=current,
            pages=pages,
        )

    def next_digest(email: str) -> tuple[Subscriber, Email]:
        preview_enabled()
        with opened() as store:
            person = subscriber_or_404(store, email)
            renderer = templates.renderer()
            key = (
                person,
                edition_date(clock(), settings.timezone),
                store.state_stamp(person.email),
                templates.stamp(),
            )
            message = previews.get(key, lambda: preview(store, settings, person, clock, renderer))
            return person, message

    def last_digest(email: str) -> tuple[str, Email] | None:
        """The newest edition this reader got, as it went out but with inert links."""
        preview_enabled()
        with opened() as store:
            person = subscriber_or_404(store, email)
            editions = past_editions(store, settings, person.email, 1)
            if not editions:
                return None
            edition = editions[0][0]
            links = links_for(
                settings,
                secrets.token_urlsafe(32),
                edition.edition_id,
                person.email,
                inert=True,
                picks=edition.picks,
            )
            return edition.edition_id, templates.renderer().render(edition, links)

    @app.get("/preview/<email>")
    def preview_page(email: str) -> Response:
        person, message = next_digest(email)
        last = last_digest(email)
        response = page("preview.html", person=person, message=message, last=last)
        # The one page with a script: it fits each frame to its email's height.
        response.headers["Content-Security-Policy"] = _PAGE_POLICY + "; script-src 'self'"
        return response

    @app.get("/preview/<email>/email.html")
    def preview_email(email: str) -> Response:
        return email_page(next_digest(email)[1].html)

    @app.get("/preview/<email>/last.html")
    def preview_last(email: str) -> Response:
        last = last_digest(email)
        if last is None:
            abort(404, description="Nothing has been sent to this address yet.")
        return email_page(last[1].html)

    @app.get("/static/fit-frames.js")
    def fit_frames() -> Response:
        return Response(_FIT_FRAMES, mimetype="text/javascript")

    @app.get("/archive/<token>")
    def archive_list(token: str) -> Response:
        email = reader(token, "view")
        with opened() as store:
            editions = [
                {
                    "id": edition.edition_id,
                    "date": f"{edition.date:%A %-d %B %Y}",
                    "count": len(edition.picks),
                    "lead": edition.picks[0].paper.title if edition.picks else "",
                    "published": row.state == DeliveryState.PUBLISHED,
                }
                for edition, row in past_editions(store, settings, email, ARCHIVE_LIMIT)
            ]
        feed = f"{base}/feed/{make_token(secret, email, 'feed')}"
        return page("archive_list.html", email=email, editions=editions, token=token, feed=feed)

    @app.get("/feed/<token>")
    def feed(token: str) -> Response:
        email = reader(token, "feed")
        view = make_token(secret, email, "view")
        with opened() as store:
            editions = [
                (edition, f"{base}/archive/{edition.edition_id}/{view}")
                for edition, _ in past_editions(store, settings, email, FEED_ENTRIES)
            ]
        xml = atom_feed(
            editions,
            email=email,
            self_url=f"{base}/feed/{token}",
            home_url=f"{base}/archive/{view}",
        )
        return Response(xml, mimetype="application/atom+xml")

    @app.get("/archive/<edition>/<token>")
    def archive(edition: str, token: str) -> Response:
        email = reader(token, "view")
        try:
            dt.date.fromisoformat(edition)
        except ValueError:
            abort(404, description=f"No edition {edition!r}.")
        with opened() as store:
            message = archived(store, settings, edition, email, templates.renderer())
        if message is None:
            abort(404, description=f"The {edition} edition was not sent to this address.")
        return email_page(message.html)

    @app.route("/unsubscribe/<token>", methods=["GET", "POST"])
    def unsubscribe(token: str) -> Response:
        email = reader(token, "unsubscribe")
        if request.method == "GET":
            # A GET only asks: link scanners and prefetchers must not unsubscribe anyone.
            return page("unsubscribe.html", email=email, done=False, token=token)
        # RFC 8058 one-click (List-Unsubscribe=One-Click) and the confirmation button both land
        # here; either way the token alone authorises it: no cookie, no redirect.
        with opened(write=True) as store:
            store.unsubscribe(email, clock(), reason="unsubscribed (link)")
        return page("unsubscribe.html", email=email, done=True, token=token)

    @app.post("/resubscribe/<token>")
    def resubscribe(token: str) -> Response:
        # The person holding the unsubscribe link undoes their own unsubscribe; a bounce stays.
        email = reader(token, "unsubscribe")
        with opened(write=True) as store:
            lifted = store.unsuppress(email, only_unsubscribed=True)
            still = store.suppressed(email)
        if still is not None and not lifted:
            return page(
                "message.html",
                409,
                title="This address cannot be mailed",
                text=f"Mail to {email} was refused by its server ({still}); ask the sender to"
                " check the address.",
            )
        return page("resubscribed.html", email=email)

    def vote_or_abort(token: str) -> Vote:
        try:
            return read_vote(secret, token)
        except BadToken as exc:
            refuse(exc, token, (FEEDBACK_PURPOSE,))

    def feedback_page(token: str, state: str) -> Response:
        """GET asks (a link scanner changes nothing); POST records; /undo forgets."""
        vote = vote_or_abort(token)
        with opened(write=state != "ask") as store:
            subscriber_or_404(store, vote.email)
            papers = store.papers_by_id([vote.paper_id])
            if vote.paper_id not in papers:
                abort(404, description="That paper is no longer in the store.")
            if state == "done":
                record(store, vote.email, [vote.paper_id], vote.verdict, clock())
            elif state == "undone":
                record(store, vote.email, [vote.paper_id], None, clock())
        nav = {"preferences": f"/preferences/{make_token(secret, vote.email, 'preferences')}"}
        title = papers[vote.paper_id].paper.title
        return page("feedback.html", vote=vote, state=state, title=title, token=token, nav=nav)

    @app.route("/feedback/<token>", methods=["GET", "POST"])
    def feedback(token: str) -> Response:
        return feedback_page(token, "ask" if request.method == "GET" else "done")

    @app.post("/feedback/<token>/undo")
    def feedback_undo(token: str) -> Response:
        return feedback_page(token, "undone")

    @app.route("/preferences/<token>", methods=["GET", "POST"])
    def preferences(token: str) -> Response:
        # The unsubscribe link's token opens the preferences too: whoever may stop the mail
        # may also change it (and a client that only knows List-Unsubscribe can link here).
        email = reader(token, "preferences", also="unsubscribe")
        with opened(write=request.method == "POST") as store:
            person = subscriber_or_404(store, email)
            nav = {
                "archive": f"/archive/{make_token(secret, email, 'view')}",
                "feed": f"{base}/feed/{make_token(secret, email, 'feed')}",
                "unsubscribe": f"/unsubscribe/{make_token(secret, email, 'unsubscribe')}",
            }

            def show(form: ProfileInput, status: int = 200, **state: Any) -> Response:
                """The page: the editable profile, then what else shapes the digest."""
                return page(
                    "preferences.html",
                    status,
                    form=form,
                    votes=store.feedback([email])[email],
                    off=store.suppressed(email) is not None,
                    nav=nav,
                    zones=_time_zones(),
                    **{"errors": (), "saved": False, **state},
                )

            if request.method == "GET":
                return show(profile_input(person))
            forget = [int(v) for v in request.form.getlist("forget") if v.isdigit()]
            given = ProfileInput(
                email=person.email,
                name=person.name,
                interests=request.form.get("interests", "").splitlines(),
                exclude=request.form.get("exclude", "").splitlines(),
                authors=request.form.get("authors", "\n".join(person.authors)).splitlines(),
                liked=request.form.get("liked", "\n".join(person.liked)).splitlines(),
                max_items=request.form.get("max_items", "").strip() or person.max_items,
                min_score=person.min_score,
                send_at=request.form.get("send_at", ""),
                timezone=request.form.get("timezone", ""),
                weekdays_only="weekdays_only" in request.form,
                frequency=request.form.get("frequency", person.frequency.value),
                weekday=request.form.get("weekday", person.weekday),
                delivery=request.form.get("delivery", person.delivery.value),
            )
            try:
                row = validated_row(given)
            except ProfileErrors as exc:
                return show(given, 400, errors=exc.messages)
            except ValueError as exc:
                return show(given, 400, errors=(str(exc),))
            store.upsert_subscribers([row], clock())
            if forget:
                record(store, email, forget, None, clock())
            return show(given, saved=True)

    return app


@functools.cache
def _time_zones() -> tuple[str, ...]:
    """The IANA names the preferences page offers (the system's zone database)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


class WebServer:
    """waitress serving the app, with deliberate limits: at most [web] connection_limit open
    connections, and any connection idle for [web] channel_timeout seconds (a slow or half-open
    client) closed, so a few slow clients cannot stop it accepting. `run()` serves in this
    thread until `stop()` (from any thread) or Ctrl-C; the loop closes its own sockets, and
    `stop()` wakes it only under the lock that closing takes, so the two never race."""

    def __init__(self, settings: Settings, host: str, port: int, app: Flask | None = None) -> None:
        from waitress import create_server

        web = settings.web
        try:
            self._server = create_server(
                app or create_app(settings),
                host=host,
                port=port,
                threads=web.threads,
                connection_limit=web.connection_limit,
                channel_timeout=web.channel_timeout,
                cleanup_interval=max(1, int(web.channel_timeout / 3)),
                asyncore_use_poll=True,  # select() stops at 1,024 descriptors
                max_request_header_size=64 * 1024,
                max_request_body_size=1024 * 1024,
                ident="digest",
            )
        except OSError as exc:
            raise SettingsError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
            ) from None
        self.url = f"http://{host}:{self._server.effective_port}"
        self._stop = threading.Event()
        self._closing = threading.Lock()  # the trigger is pulled only while still open
        self._closed = False
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        server = self._server
        try:
            while not self._stop.is_set():
                server.asyncore.loop(
                    timeout=server.adj.asyncore_loop_timeout,
                    map=server._map,
                    use_poll=True,
                    count=1,
                )
        except KeyboardInterrupt:
            pass
        finally:
            with self._closing:
                self._closed = True
                server.close()
                server.asyncore.close_all(server._map)

    def start(self) -> WebServer:
        """Serve in a background thread (the socket already listens)."""
        self._thread = threading.Thread(target=self.run, name="digest-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._closing:  # the loop may have seen the flag and closed already
            if not self._closed:
                self._server.pull_trigger()  # wake the loop so it sees the flag
        if self._thread is not None:
            self._thread.join()


def serve(settings: Settings, host: str, port: int, *, announce: Callable[[str], None]) -> None:
    """Serve the app with waitress until interrupted."""
    server = WebServer(settings, host, port)
    announce(f"digest serve: {server.url}/ (Ctrl-C stops)")
    if settings.web.preview and settings.admin_token is None:
        announce("the preview pages are off: set DIGEST_ADMIN_TOKEN to open them")
    if not is_loopback(host):
        announce(
            f"warning: {host} is reachable from other machines; serve on 127.0.0.1 behind a TLS"
            " reverse proxy (see the README)"
        )
    server.run()


__all__ = ["WebServer", "create_app", "serve"]
