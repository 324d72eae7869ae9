"""`digest serve`: preview, archive, one-click unsubscribe and preferences, as a Flask app.

A thin shell like the CLI: every page calls the library (store, subscribers, deliver) and
renders a Jinja template with autoescaping. Links carry signed tokens (digest.tokens), so no
page needs a login or a cookie. Pages that list subscribers (the preview) can be switched off
with `[web] preview = false` for a server the public reaches.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, abort, render_template, request

from digest.deliver.send import archived, preview, renderer_for
from digest.errors import DigestError, SettingsError
from digest.models import Email, Subscriber
from digest.render import BUILTIN_TEMPLATES, Renderer
from digest.settings import Settings
from digest.store import Store
from digest.subscribers import (
    ProfileInput,
    find,
    page_of_subscribers,
    profile_input,
    validated_row,
)
from digest.tokens import BadToken, make_token, read_token

Clock = Callable[[], dt.datetime]

# Pages never run scripts; they frame only their own previews, and send no Referer (the URL
# carries a token).
_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:;"
    " form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)


PREVIEW_PAGE = 100  # subscribers per preview listing page


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Templates:
    """The email renderer, rebuilt when a template file changes (the preview reloads). One per
    server thread: a Renderer keeps per-edition caches that are not meant to be shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._folders = [BUILTIN_TEMPLATES] + ([settings.templates] if settings.templates else [])
        self._local = threading.local()

    def _current_stamp(self) -> tuple[tuple[str, int], ...]:
        return tuple(
            (str(path), path.stat().st_mtime_ns)
            for folder in self._folders
            for path in sorted(folder.rglob("*.j2"))
        )

    def renderer(self) -> Renderer:
        stamp = self._current_stamp()
        local = self._local
        if getattr(local, "stamp", None) != stamp:
            local.renderer = renderer_for(self.settings)
            local.stamp = stamp
        renderer: Renderer = local.renderer
        return renderer


def create_app(settings: Settings, clock: Clock = _utc_now) -> Flask:
    """The web app for these settings. Needs DIGEST_SECRET_KEY (it checks link tokens)."""
    if settings.secret_key is None or len(settings.secret_key.get_secret_value()) < 16:
        raise SettingsError(
            "digest serve checks signed links: set DIGEST_SECRET_KEY (16+ characters) in the"
            " environment, the same key `digest send` uses"
        )
    secret = settings.secret_key.get_secret_value()
    app = Flask(__name__, template_folder=str(BUILTIN_TEMPLATES / "web"))
    # A preferences form is a few hundred bytes; anything far larger is refused with 413.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    templates = _Templates(settings)

    @contextmanager
    def opened() -> Iterator[Store]:
        with Store.open(settings.database) as store:
            yield store

    def reader(token: str, purpose: str, *, also: str | None = None) -> str:
        """The address a link is for; 400 for a malformed token, 403 for a forged one or one
        made for another purpose (`also` names a second purpose accepted here)."""
        try:
            return read_token(secret, token, purpose)
        except BadToken as exc:
            if also is not None and exc.tampered:
                return reader(token, also)
            abort(403 if exc.tampered else 400, description=str(exc))

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

    @app.errorhandler(DigestError)
    def failed(error: DigestError) -> Response:
        return page("message.html", 500, title="Something went wrong", text=str(error))

    def subscriber_or_404(store: Store, email: str) -> Subscriber:
        person = find(settings, store, email)
        if person is None:
            abort(404, description=f"No subscription for {email}.")
        return person

    @app.get("/")
    def index() -> Response:
        return page("index.html", preview=settings.web.preview)

    @app.get("/healthz")
    def health() -> Response:
        with opened() as store:
            store.latest_edition()
        return Response("ok\n", mimetype="text/plain")

    def preview_enabled() -> None:
        if not settings.web.preview:
            abort(404, description="The preview is switched off on this server.")

    @app.get("/preview")
    def preview_list() -> Response:
        preview_enabled()
        query = request.args.get("q", "").strip()
        number = request.args.get("page", "1")
        wanted = max(int(number) if number.isdigit() else 1, 1)
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
            return person, preview(store, settings, person, clock, templates.renderer())

    @app.get("/preview/<email>")
    def preview_page(email: str) -> Response:
        person, message = next_digest(email)
        return page("preview.html", person=person, message=message)

    @app.get("/preview/<email>/email.html")
    def preview_email(email: str) -> Response:
        return email_page(next_digest(email)[1].html)

    @app.get("/archive/<token>")
    def archive_list(token: str) -> Response:
        email = reader(token, "view")
        with opened() as store:
            editions = store.sent_editions(email)
        return page("archive_list.html", email=email, editions=editions, token=token)

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
        with opened() as store:
            store.unsubscribe(email, clock(), reason="unsubscribed (link)")
        return page("unsubscribe.html", email=email, done=True, token=token)

    @app.post("/resubscribe/<token>")
    def resubscribe(token: str) -> Response:
        # The person holding the unsubscribe link undoes their own unsubscribe; a bounce stays.
        email = reader(token, "unsubscribe")
        with opened() as store:
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

    @app.route("/preferences/<token>", methods=["GET", "POST"])
    def preferences(token: str) -> Response:
        # The unsubscribe link's token opens the preferences too: whoever may stop the mail
        # may also change it (and a client that only knows List-Unsubscribe can link here).
        email = reader(token, "preferences", also="unsubscribe")
        with opened() as store:
            person = subscriber_or_404(store, email)
            unsubscribed = store.suppressed(email) is not None
            form = profile_input(person)
            nav = {
                "archive": f"/archive/{make_token(secret, email, 'view')}",
                "unsubscribe": f"/unsubscribe/{make_token(secret, email, 'unsubscribe')}",
            }
            if request.method == "GET":
                return page(
                    "preferences.html",
                    form=form,
                    error=None,
                    saved=False,
                    off=unsubscribed,
                    nav=nav,
                )
            given = ProfileInput(
                email=person.email,
                name=person.name,
                interests=request.form.get("interests", "").splitlines(),
                exclude=request.form.get("exclude", "").splitlines(),
                authors=person.authors,
                liked=person.liked,
                max_items=request.form.get("max_items", "").strip() or person.max_items,
                min_score=person.min_score,
                send_at=request.form.get("send_at", ""),
                timezone=request.form.get("timezone", ""),
                weekdays_only="weekdays_only" in request.form,
            )
            try:
                row = validated_row(given)
            except ValueError as exc:
                return page(
                    "preferences.html",
                    400,
                    form=given,
                    error=str(exc),
                    saved=False,
                    off=unsubscribed,
                    nav=nav,
                )
            store.upsert_subscribers([row], clock())
        return page(
            "preferences.html", form=given, error=None, saved=True, off=unsubscribed, nav=nav
        )

    return app


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(settings: Settings, host: str, port: int, *, announce: Callable[[str], None]) -> None:
    """Serve the app with waitress until interrupted."""
    from waitress import create_server

    app = create_app(settings)
    try:
        server = create_server(app, host=host, port=port, threads=settings.web.threads)
    except OSError as exc:
        raise SettingsError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        ) from None
    announce(f"digest serve: http://{host}:{server.effective_port}/ (Ctrl-C stops)")
    if settings.web.preview and not _loopback(host):
        announce(
            f"warning: {host} is reachable from other machines and the preview pages list every"
            " subscriber; set [web] preview = false on a public server"
        )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


__all__ = ["create_app", "serve"]
